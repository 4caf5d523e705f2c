//! `GET /api/v1/openapi.json`: the API described as OpenAPI, generated from the handlers'
//! annotations and the wire types, so clients can be generated and the description cannot
//! drift from the code.

use super::{rooms, users};
use crate::protocol::api::{ApiError, HistoryPage, PostEvent, PostMessage, Posted, Presence};
use crate::protocol::{ChatMessage, ChatTarget, Point, RoomInfo, RoomList, User};
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Flock HTTP API",
        description = "For the app's backend: publish chats and events into rooms, read presence and \
                       history, remove and revoke users. See docs/api.md."
    ),
    paths(
        rooms::post_message, rooms::post_event, rooms::list, rooms::presence, rooms::history, rooms::remove_user,
        users::revoke
    ),
    components(schemas(
        PostMessage, Posted, PostEvent, Presence, HistoryPage, ApiError, ChatMessage, ChatTarget, User, Point,
        RoomList, RoomInfo
    )),
    modifiers(&BearerKey),
    security(("api_key" = []))
)]
pub struct ApiDoc;

/// Every endpoint takes one of the `--api-key`s as a bearer token.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        openapi.components.get_or_insert_with(Default::default).add_security_scheme("api_key", scheme);
    }
}

/// `GET /api/v1/openapi.json`.
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
