//! A form body extractor whose rejection is our error page, so a malformed
//! form gets a page that says what is wrong, not axum's plain text.

use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::error::{Error, PageError};

/// Like `axum::Form` (URL-encoded bodies), rejecting with a [`PageError`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Form<T>(pub T);

impl<S, T> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = PageError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Form::<T>::from_request(req, state).await {
            Ok(axum::Form(value)) => Ok(Form(value)),
            Err(rejection) => Err(PageError(rejection_error(&rejection))),
        }
    }
}

fn rejection_error(rejection: &FormRejection) -> Error {
    match rejection {
        FormRejection::InvalidFormContentType(_) => Error::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send this form from the page it belongs to.",
        ),
        FormRejection::FailedToDeserializeForm(_)
        | FormRejection::FailedToDeserializeFormBody(_) => Error::bad_request(
            "invalid_form",
            "The form is missing a field or has one it should not. Reload the page and try again.",
        ),
        _ => Error::bad_request(
            "invalid_form",
            "The form could not be read. Reload the page and try again.",
        ),
    }
}
