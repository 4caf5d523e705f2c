//! The room endpoints: publish a chat or an event, list the rooms, and read a room's
//! presence and history.

use super::ApiRefusal;
use crate::protocol::api::{ApiError, HistoryPage, PostEvent, PostMessage, Posted, Presence, DEFAULT_APP_NAME};
use crate::protocol::{validate_room, ChatTarget, RoomList, DEFAULT_PAGE_LEN, MAX_PAGE_LEN};
use crate::server::clock::now_ms;
use crate::server::hub::Listing;
use crate::server::room::ChatSender;
use crate::server::session::{check_chat, check_event, Refusal};
use crate::server::store::{End, SeqRange};
use crate::server::username::normalize_username;
use crate::server::AppState;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::time::Duration;
use uuid::Uuid;

/// Longest ban the API takes: a year.
pub const MAX_BAN_SECS: u64 = 365 * 24 * 3600;

impl From<Refusal> for ApiRefusal {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::TooLarge(message) => ApiRefusal::TooLarge(message),
            other => ApiRefusal::Invalid(other.to_string()),
        }
    }
}

/// The `{room}` of a room endpoint's path.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RoomPath {
    /// The room: 1-64 of A-Z a-z 0-9 _ -
    room: String,
}

/// The `{room}` and `{id}` of a user-in-a-room endpoint's path.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RoomUserPath {
    /// The room: 1-64 of A-Z a-z 0-9 _ -
    room: String,
    /// The user's id.
    id: Uuid,
}

fn room_name(room: &str) -> Result<&str, ApiRefusal> {
    validate_room(room).map_err(|e| ApiRefusal::Invalid(e.to_string()))
}

/// `POST /api/v1/rooms/{room}/messages`: a chat from the app's backend, stored, numbered and
/// delivered like any other, answered once it is stored. A `ref` used before in the room
/// answers with the same seq and stores nothing.
#[utoipa::path(
    post, path = "/api/v1/rooms/{room}/messages", tag = "rooms", params(RoomPath),
    request_body = PostMessage,
    responses(
        (status = 200, description = "Stored, numbered and delivered", body = Posted),
        (status = 400, description = "Bad input", body = ApiError),
        (status = 401, description = "No valid key", body = ApiError),
        (status = 404, description = "A direct chat to someone not in the room", body = ApiError),
        (status = 413, description = "Text or body too large", body = ApiError),
        (status = 503, description = "Not stored now; retry with the same ref", body = ApiError),
    )
)]
pub async fn post_message(
    State(state): State<AppState>,
    Path(RoomPath { room }): Path<RoomPath>,
    body: Result<Json<PostMessage>, JsonRejection>,
) -> Result<Json<Posted>, ApiRefusal> {
    let room = room_name(&room)?;
    let Json(PostMessage { text, username, to, reference }) = body?;
    check_chat(&text, reference.as_deref(), state.config.max_chat_chars)?;
    let username = normalize_username(username.as_deref().unwrap_or(DEFAULT_APP_NAME))
        .map_err(|e| ApiRefusal::Invalid(e.to_string()))?;
    // Held first, so what following the room brings in (a cluster's members elsewhere, to
    // check a direct chat's target) lands in it.
    let pinned = state.hub.pin(room);
    state.hub.bus().enter(room).await;
    let sender = ChatSender::App { username };
    let seq = Box::pin(pinned.chat(sender, text, to, now_ms(), reference.as_deref())).await?;
    // Everything queued before this is committed once it is: the chat is on disk here
    // (on a cluster, Redis already holds it).
    state
        .store
        .flushed()
        .await
        .map_err(|err| ApiRefusal::Unavailable(format!("the chat could not be stored: {err}")))?;
    Ok(Json(Posted { seq }))
}

/// `POST /api/v1/rooms/{room}/events`: an app event to everyone in the room (on every
/// node), from `null`.
#[utoipa::path(
    post, path = "/api/v1/rooms/{room}/events", tag = "rooms", params(RoomPath),
    request_body = PostEvent,
    responses(
        (status = 202, description = "Sent to everyone in the room"),
        (status = 400, description = "Bad input", body = ApiError),
        (status = 401, description = "No valid key", body = ApiError),
        (status = 413, description = "Data too large", body = ApiError),
    )
)]
pub async fn post_event(
    State(state): State<AppState>,
    Path(RoomPath { room }): Path<RoomPath>,
    body: Result<Json<PostEvent>, JsonRejection>,
) -> Result<StatusCode, ApiRefusal> {
    let room = room_name(&room)?;
    let Json(PostEvent { name, data }) = body?;
    check_event(&name, &data)?;
    state.hub.pin(room).event(None, name, data, ChatTarget::Room)?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET /api/v1/rooms`: every live room of the cluster, private ones included.
#[utoipa::path(
    get, path = "/api/v1/rooms", tag = "rooms",
    responses(
        (status = 200, description = "Every live room, private ones included", body = RoomList),
        (status = 401, description = "No valid key", body = ApiError),
    )
)]
pub async fn list(State(state): State<AppState>) -> Json<RoomList> {
    Json(state.hub.bus().room_list(state.hub.rooms_listed(Listing::All), Listing::All).await)
}

/// `GET /api/v1/rooms/{room}/presence`: everyone in the room, on any node.
#[utoipa::path(
    get, path = "/api/v1/rooms/{room}/presence", tag = "rooms", params(RoomPath),
    responses(
        (status = 200, description = "Everyone in the room, on any node", body = Presence),
        (status = 400, description = "Bad input", body = ApiError),
        (status = 401, description = "No valid key", body = ApiError),
    )
)]
pub async fn presence(
    State(state): State<AppState>,
    Path(RoomPath { room }): Path<RoomPath>,
) -> Result<Json<Presence>, ApiRefusal> {
    let room = room_name(&room)?;
    let _pinned = state.hub.pin(room);
    state.hub.bus().enter(room).await;
    Ok(Json(Presence { users: state.hub.users_in(room) }))
}

/// The query of a history request.
#[derive(Deserialize, Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HistoryQuery {
    /// Page forward: the oldest chats after this seq.
    after: Option<u64>,
    /// Page back: the newest chats before this seq.
    before: Option<u64>,
    /// 1-100, default 50.
    limit: Option<usize>,
}

/// `GET /api/v1/rooms/{room}/history?after=&before=&limit=`: a page of the room's chats,
/// direct ones included, oldest first: with `after`, the oldest ones after it (and before
/// `before`, if given); otherwise the newest ones before `before` (or the newest of all).
#[utoipa::path(
    get, path = "/api/v1/rooms/{room}/history", tag = "rooms", params(RoomPath, HistoryQuery),
    responses(
        (status = 200, description = "A page of chats, oldest first, direct ones included", body = HistoryPage),
        (status = 400, description = "Bad input", body = ApiError),
        (status = 401, description = "No valid key", body = ApiError),
        (status = 503, description = "Not readable now", body = ApiError),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    Path(RoomPath { room }): Path<RoomPath>,
    query: Result<Query<HistoryQuery>, QueryRejection>,
) -> Result<Json<HistoryPage>, ApiRefusal> {
    let room = room_name(&room)?;
    let Query(HistoryQuery { after, before, limit }) = query?;
    let limit = limit.unwrap_or(DEFAULT_PAGE_LEN);
    if !(1..=MAX_PAGE_LEN).contains(&limit) {
        return Err(ApiRefusal::Invalid(format!("limit must be 1-{MAX_PAGE_LEN}")));
    }
    let range = SeqRange { after: after.unwrap_or(0), before: before.unwrap_or(u64::MAX) };
    let end = if after.is_some() { End::Oldest } else { End::Newest };
    // On a cluster node that does not hold the room, following it fills the store first.
    {
        let _pinned = state.hub.pin(room);
        state.hub.bus().enter(room).await;
    }
    let page = state.store.read_page(room, None, range, limit, end).await.map_err(|err| {
        tracing::error!("cannot read a history page: {err}");
        ApiRefusal::Unavailable("the history could not be read; try again".into())
    })?;
    Ok(Json(HistoryPage { chats: page.chats, more: page.more }))
}

/// The query of a removal.
#[derive(Deserialize, Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    /// Refuse the identity in the room for this long: 1 to a year.
    ban_secs: Option<u64>,
}

/// `DELETE /api/v1/rooms/{room}/users/{id}?ban_secs=N`: `id`'s connections in the room close
/// with 4003, `left` goes out at once, and for `ban_secs` that identity is refused there
/// (403 on connecting, `forbidden` on a `join`). Whether or not it was there: 204.
#[utoipa::path(
    delete, path = "/api/v1/rooms/{room}/users/{id}", tag = "rooms",
    params(RoomUserPath, RemoveQuery),
    responses(
        (status = 204, description = "Removed (or not there)"),
        (status = 400, description = "Bad input", body = ApiError),
        (status = 401, description = "No valid key", body = ApiError),
    )
)]
pub async fn remove_user(
    State(state): State<AppState>,
    path: Result<Path<RoomUserPath>, PathRejection>,
    query: Result<Query<RemoveQuery>, QueryRejection>,
) -> Result<StatusCode, ApiRefusal> {
    let Path(RoomUserPath { room, id }) = path?;
    let room = room_name(&room)?;
    let Query(RemoveQuery { ban_secs }) = query?;
    if ban_secs.is_some_and(|secs| secs == 0 || secs > MAX_BAN_SECS) {
        return Err(ApiRefusal::Invalid(format!("ban_secs must be 1-{MAX_BAN_SECS}")));
    }
    let ban = ban_secs.map(Duration::from_secs);
    state.hub.remove_user(room, id, ban);
    state.hub.bus().removed(room, id, ban).await;
    Ok(StatusCode::NO_CONTENT)
}
