//! Pages that are not about one resource: the start page and "not found".

use askama::Template;
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};

use super::Layout;
use super::error::{Error, PageError};

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    layout: Layout,
}

/// `GET /`.
pub async fn home() -> Result<Html<String>, PageError> {
    let page = Home {
        layout: Layout::new("Welcome"),
    };
    Ok(Html(page.render()?))
}

/// Any unknown path: a JSON 404 under `/api/`, an HTML page elsewhere.
pub async fn not_found(uri: Uri) -> Response {
    let error = Error::not_found(format!("There is nothing at {}.", uri.path()));
    if uri.path().starts_with("/api/") {
        error.into_response()
    } else {
        PageError(error).into_response()
    }
}

/// A known path with the wrong method.
pub async fn method_not_allowed(uri: Uri) -> Response {
    let error = Error::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept this method.", uri.path()),
    );
    if uri.path().starts_with("/api/") {
        error.into_response()
    } else {
        PageError(error).into_response()
    }
}
