//! The one HTTP error type and its mapping to responses.
//!
//! Every failure a handler can return is an [`ApiError`]; [`IntoResponse`] for it is the only
//! place that turns errors into HTTP, with the design's shape
//! `{"error": {"code", "message", "details"}}` and its fixed taxonomy of codes. An internal error
//! is logged (inside the request's span, so with its request id) and its detail never leaves.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
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
            ApiError::Authn(_) => StatusCode::UNAUTHORIZED,
            ApiError::Authz(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation { .. } | ApiError::TooLarge { .. } => "VALIDATION",
            ApiError::Authn(_) => "AUTHN",
            ApiError::Authz(_) => "AUTHZ",
            ApiError::NotFound(_) => "NOT_FOUND",
            ApiError::Conflict { .. } => "CONFLICT",
            ApiError::RateLimit { .. } => "RATE_LIMIT",
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
        } = &self
        {
            if let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if let ApiError::Authn(_) = &self {
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        resp
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return ApiError::TooLarge {
                limit: pos_sync::wire::MAX_BODY_BYTES,
            };
        }
        ApiError::Validation {
            message: format!("malformed JSON body: {}", r.body_text()),
            details: Value::Null,
        }
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

/// Database errors: constraint violations become domain errors, the rest are internal.
impl From<sqlx_core::Error> for ApiError {
    fn from(e: sqlx_core::Error) -> Self {
        use sqlx_core::error::ErrorKind;
        match &e {
            sqlx_core::Error::RowNotFound => ApiError::NotFound("not found".into()),
            sqlx_core::Error::Database(db) => {
                let constraint = db.constraint().unwrap_or("").to_string();
                match db.kind() {
                    ErrorKind::UniqueViolation => ApiError::Conflict {
                        message: match constraint.as_str() {
                            "stores_code_unique" => "a store with this code already exists".into(),
                            "users_email_unique" => "a user with this email already exists".into(),
                            "memberships_unique" => {
                                "the user already has a role in this scope".into()
                            }
                            _ => format!("already exists ({constraint})"),
                        },
                        details: json!({ "constraint": constraint }),
                    },
                    ErrorKind::ForeignKeyViolation => ApiError::NotFound(format!(
                        "a referenced record does not exist in this tenant ({constraint})"
                    )),
                    ErrorKind::CheckViolation | ErrorKind::NotNullViolation => {
                        ApiError::Validation {
                            message: format!("invalid value ({constraint})"),
                            details: json!({ "constraint": constraint }),
                        }
                    }
                    _ => ApiError::Internal(e.to_string()),
                }
            }
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

/// JSON body extractor whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Query extractor whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// Path extractor whose rejections are [`ApiError`]s.
#[derive(Debug, Clone, Copy, Default, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);
