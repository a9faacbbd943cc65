//! The one HTTP error type and its mapping to responses.
//!
//! Every failure a handler can return is an [`ApiError`]; [`IntoResponse`] for it is the only
//! place that turns errors into HTTP, with the design's shape
//! `{"error": {"code", "message", "details"}}` and its fixed taxonomy of codes. An internal error
//! is logged (inside the request's span, so with its request id) and its detail never leaves.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use pos_sync::wire::{ErrorBody, ErrorDetail};
use serde_json::{json, Value};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ApiError {
    /// 400: the request is malformed or a value is invalid.
    #[error("{message}")]
    Validation { message: String, details: Value },
    /// 413: the body is larger than the server accepts (code `VALIDATION`).
    #[error("request body exceeds {limit} bytes")]
    TooLarge { limit: usize },
    /// 401: no valid credential.
    #[error("{0}")]
    Authn(String),
    /// 403: authenticated, but not allowed.
    #[error("{0}")]
    Authz(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the current state (a unique key, a used code).
    #[error("{message}")]
    Conflict { message: String, details: Value },
    /// 429: too many attempts; retry after this many seconds.
    #[error("{message}")]
    RateLimit {
        message: String,
        retry_after_secs: u64,
    },
    /// 408: the body did not arrive within the body read timeout (code `VALIDATION`).
    #[error("the request body was not received in time")]
    BodyTimeout,
    /// 503: the server is too busy for this request now, or it took longer than the request
    /// timeout; retry after this many seconds.
    #[error("{message}")]
    Unavailable {
        message: String,
        retry_after_secs: u64,
    },
    /// 500: logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn validation(message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ApiError::Conflict {
            message: message.into(),
            details: Value::Null,
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Authn(_) => StatusCode::UNAUTHORIZED,
            ApiError::Authz(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } | ApiError::TooLarge { .. } | ApiError::BodyTimeout => {
                "VALIDATION"
            }
            ApiError::Authn(_) => "AUTHN",
            ApiError::Authz(_) => "AUTHZ",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::RateLimit { .. } => "RATE_LIMIT",
            ApiError::Unavailable { .. } => "UNAVAILABLE",
            ApiError::Internal(_) => "INTERNAL",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (message, details) = match &self {
            ApiError::Internal(detail) => {
                // The span carries the request id (and tenant/device once known).
                tracing::error!(error = %detail, "internal error");
                ("internal error".to_string(), Value::Null)
            }
            ApiError::Validation { message, details } | ApiError::Conflict { message, details } => {
                (message.clone(), details.clone())
            }
            ApiError::TooLarge { limit } => (self.to_string(), json!({ "limit": limit })),
            ApiError::RateLimit {
                message,
                retry_after_secs,
            }
            | ApiError::Unavailable {
                message,
                retry_after_secs,
            } => (
                message.clone(),
                json!({ "retry_after_secs": retry_after_secs }),
            ),
            other => (other.to_string(), Value::Null),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message,
                details,
            },
        };
        let mut resp = (status, axum::Json(body)).into_response();
        if let ApiError::RateLimit {
            retry_after_secs, ..
        }
        | ApiError::Unavailable {
            retry_after_secs, ..
        } = &self
        {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let ApiError::BodyTimeout = &self {
            // The rest of the body may never come: the connection is not reused.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let ApiError::Authn(_) = &self {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::validation(format!("bad query string: {}", r.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::validation(format!("bad path parameter: {}", r.body_text()))
    }
}

/// Whether `e` says the database cannot be reached now, rather than that a statement is wrong:
/// its connection was lost or refused (`Io`, `Tls`), no connection came within the pool's
/// acquire timeout (down, restarting, or every connection busy), the pool is closing, or
/// PostgreSQL itself said so: class 08 (connection exception) and 57P (operator intervention:
/// `57P01` admin shutdown, `57P02` crash shutdown, `57P03` "the database system is starting
/// up"). The fault campaign (`tests/faults_e2e.rs`) found every request of a PostgreSQL
/// crash-and-restart answered 500 `INTERNAL` and logged as an internal error.
pub fn database_unavailable(e: &sqlx_core::Error) -> bool {
    match e {
        sqlx_core::Error::Io(_)
        | sqlx_core::Error::Tls(_)
        | sqlx_core::Error::PoolTimedOut
        | sqlx_core::Error::PoolClosed => true,
        sqlx_core::Error::Database(db) => db
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// Database errors: constraint violations become domain errors; a database that cannot be
/// reached is 503 `UNAVAILABLE` (the client tries again; the outage is logged as a warning, not
/// as a defect); the rest are internal.
///
/// **No schema object is ever named in an answer**: a constraint the mapping below does not know
/// is logged with its name and answered in general words (the names told an outsider the
/// schema, issue 15).
impl From<sqlx_core::Error> for ApiError {
    fn from(e: sqlx_core::Error) -> Self {
        use sqlx_core::error::ErrorKind;
        if database_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable");
            return ApiError::Unavailable {
                message: "the database is unavailable; try again shortly".into(),
                retry_after_secs: 2,
            };
        }
        match &e {
            sqlx_core::Error::RowNotFound => ApiError::NotFound("not found".into()),
            sqlx_core::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or("");
                let known = |message: &str| {
                    tracing::debug!(constraint, "constraint violation");
                    message.to_string()
                };
                let unknown = |message: &str| {
                    tracing::warn!(constraint, error = %db, "unmapped constraint violation");
                    message.to_string()
                };
                match db.kind() {
                    ErrorKind::UniqueViolation => ApiError::conflict(match constraint {
                        "stores_code_unique" => known("a store with this code already exists"),
                        "users_tenant_email_unique" | "users_tenant_email_index_unique" => {
                            known("a user with this email already exists in this tenant")
                        }
                        "memberships_unique" => known("the user already has a role in this scope"),
                        _ => unknown("a record with these values already exists"),
                    }),
                    ErrorKind::ForeignKeyViolation => ApiError::NotFound(unknown(
                        "a referenced record does not exist in this tenant",
                    )),
                    ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                        ApiError::validation(unknown("a value is out of its allowed range"))
                    }
                    // Text the database cannot hold: the edge refuses it first (pos_core::text);
                    // this is the net under it, never a 500.
                    _ if matches!(
                        db.code().as_deref(),
                        Some("22021" | "22P05" | "22001" | "54000")
                    ) =>
                    {
                        ApiError::validation(unknown(
                            "a text value cannot be stored (a NUL character, or too long)",
                        ))
                    }
                    _ => ApiError::Internal(e.to_string()),
                }
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<crate::smtp::MailError> for ApiError {
    fn from(e: crate::smtp::MailError) -> Self {
        match e {
            crate::smtp::MailError::Db(e) => e.into(),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// The body limit of the request's route, noted by `edge::body_limit` for the 413 of a body
/// that grows past it without announcing its length.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// JSON body extractor whose rejections are [`ApiError`]s. Before parsing, it refuses a body
/// with a NUL escape in any string (`pos_core::text`): the edge check every JSON handler gets.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for Json<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let json_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_media_type);
        if !json_type {
            return Err(ApiError::validation(
                "expected a body with content-type application/json",
            ));
        }
        let limit = req
            .extensions()
            .get::<BodyLimit>()
            .map_or(pos_sync::wire::MAX_BODY_BYTES, |l| l.0);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|r| ApiError::from_body(r, limit))?;
        match pos_sync::wire::decode_json(&bytes) {
            Ok(v) => Ok(Json(v)),
            Err(e @ pos_sync::wire::BodyError::Nul { byte_offset }) => Err(ApiError::Validation {
                message: e.to_string(),
                details: json!({ "byte_offset": byte_offset }),
            }),
            Err(e @ pos_sync::wire::BodyError::Malformed(_)) => {
                Err(ApiError::validation(e.to_string()))
            }
        }
    }
}

/// `application/json` or `application/…+json`, with any parameters (`; charset=utf-8`).
fn is_json_media_type(value: &str) -> bool {
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl ApiError {
    /// A body that could not be read: too large, or not sent in time (the body read timeout).
    fn from_body(r: axum::extract::rejection::BytesRejection, limit: usize) -> ApiError {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge { limit };
        }
        let timed_out =
            std::iter::successors(Some(&r as &(dyn std::error::Error + 'static)), |e| {
                e.source()
            })
            .any(|e| e.is::<tower_http::timeout::TimeoutError>());
        if timed_out {
            return ApiError::BodyTimeout;
        }
        ApiError::validation(format!(
            "the request body could not be read: {}",
            r.body_text()
        ))
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query extractor whose rejections are [`ApiError`]s. (A `%00` never gets here: the router's
/// `refuse_nul_in_uri` layer answers it first.)
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path extractor whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Refuses a request whose URI holds a percent-encoded NUL (`%00`), in its path or its query,
/// before it is decoded or routed: the edge check for text that does not come as JSON.
pub async fn refuse_nul_in_uri(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = req.uri();
    let raw = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("");
    if raw.contains("%00") {
        return ApiError::validation("the address must not contain a NUL character (%00)")
            .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fault campaign: `pg_ctl stop -m immediate` under load made every request in
    /// the outage a 500 `INTERNAL` ("error communicating with database", "pool timed out").
    #[test]
    fn a_database_outage_answers_503_unavailable_not_500_internal() {
        let lost = std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "expected to read 5 bytes, got 0 bytes at EOF",
        );
        for e in [
            sqlx_core::Error::Io(lost),
            sqlx_core::Error::Io(std::io::ErrorKind::ConnectionRefused.into()),
            sqlx_core::Error::PoolTimedOut,
            sqlx_core::Error::PoolClosed,
        ] {
            let what = e.to_string();
            let api = ApiError::from(e);
            assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE, "{what}");
            assert_eq!(api.code(), "UNAVAILABLE", "{what}");
            let resp = api.into_response();
            assert_eq!(resp.headers()[header::RETRY_AFTER], "2", "{what}");
        }
    }

    #[test]
    fn other_database_failures_stay_internal() {
        for e in [
            sqlx_core::Error::Protocol("unexpected message".into()),
            sqlx_core::Error::ColumnNotFound("x".into()),
        ] {
            assert_eq!(
                ApiError::from(e).status(),
                StatusCode::INTERNAL_SERVER_ERROR
            );
        }
        assert_eq!(
            ApiError::from(sqlx_core::Error::RowNotFound).status(),
            StatusCode::NOT_FOUND
        );
    }
}
