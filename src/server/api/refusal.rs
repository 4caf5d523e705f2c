//! What the API answers when it will not do what it was asked: a status and a JSON body
//! with a code for programs and a message for people.

use crate::protocol::api::ApiError;
use crate::server::room::ChatError;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use uuid::Uuid;

/// Why an API request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApiRefusal {
    #[error("the HTTP API is off: start Flock with --api-key (or FLOCK_API_KEYS)")]
    Off,
    #[error("no such endpoint; see docs/api.md")]
    NoSuchEndpoint,
    #[error("an API key is required, as `Authorization: Bearer <key>`")]
    Unauthorized,
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("no user {0} in this room")]
    NoSuchUser(Uuid),
    #[error("{0}")]
    Unavailable(String),
}

impl ApiRefusal {
    fn status(&self) -> StatusCode {
        match self {
            ApiRefusal::Off | ApiRefusal::NoSuchEndpoint => StatusCode::NOT_FOUND,
            ApiRefusal::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
            ApiRefusal::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiRefusal::NoSuchUser(_) => StatusCode::NOT_FOUND,
            ApiRefusal::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The body's `error`: the WebSocket contract's codes where they mean the same.
    fn code(&self) -> &'static str {
        match self {
            ApiRefusal::Off | ApiRefusal::NoSuchEndpoint => "not_found",
            ApiRefusal::Unauthorized => "unauthorized",
            ApiRefusal::Invalid(_) => "invalid",
            ApiRefusal::TooLarge(_) => "too_large",
            ApiRefusal::NoSuchUser(_) => "no_such_user",
            ApiRefusal::Unavailable(_) => "unavailable",
        }
    }
}

impl IntoResponse for ApiRefusal {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = Json(ApiError { error: self.code().to_owned(), message: self.to_string() });
        match self {
            ApiRefusal::Unauthorized => {
                (status, [(WWW_AUTHENTICATE, r#"Bearer realm="flock api""#)], body).into_response()
            }
            _ => (status, body).into_response(),
        }
    }
}

impl From<ChatError> for ApiRefusal {
    fn from(err: ChatError) -> Self {
        match err {
            ChatError::NoSuchUser(id) => ApiRefusal::NoSuchUser(id),
            ChatError::NotHere | ChatError::Store(_) | ChatError::Bus(_) => {
                tracing::error!("the API could not publish: {err}");
                ApiRefusal::Unavailable(err.to_string())
            }
        }
    }
}

impl From<JsonRejection> for ApiRefusal {
    fn from(err: JsonRejection) -> Self {
        match err {
            JsonRejection::BytesRejection(_) if err.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiRefusal::TooLarge(format!("the body is over {} bytes", super::MAX_BODY_BYTES))
            }
            _ => ApiRefusal::Invalid(err.body_text()),
        }
    }
}

impl From<PathRejection> for ApiRefusal {
    fn from(err: PathRejection) -> Self {
        ApiRefusal::Invalid(err.body_text())
    }
}

impl From<QueryRejection> for ApiRefusal {
    fn from(err: QueryRejection) -> Self {
        ApiRefusal::Invalid(err.body_text())
    }
}
