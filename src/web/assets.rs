//! Static files (CSS, a little JavaScript), embedded in the binary and
//! served under a versioned path, `/static/<version>/<name>`, where the
//! version is a hash of their contents. A page always links to the current
//! version, so browsers may cache a file for a year and a new release is
//! picked up at once.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest as _, Sha256};

use super::error::Error;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

static ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../static/app.js"),
    },
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for asset in ASSETS {
        hash.update(asset.name.as_bytes());
        hash.update((asset.bytes.len() as u64).to_le_bytes());
        hash.update(asset.bytes);
    }
    hex::encode(&hash.finalize()[..6])
});

/// The current version segment of static URLs.
pub fn version() -> &'static str {
    &VERSION
}

/// The URL of an embedded file, e.g. `url("app.css")`.
pub fn url(name: &str) -> String {
    format!("/static/{}/{name}", version())
}

const FOREVER: &str = "public, max-age=31536000, immutable";

/// `GET /static/{version}/{name}`. An outdated version (a page cached from
/// before an upgrade) still gets the current file, but not cached for long.
pub async fn serve(Path((requested, name)): Path<(String, String)>) -> Result<Response, Error> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| Error::not_found(format!("There is no static file named '{name}'.")))?;
    let cache = if requested == version() {
        FOREVER
    } else {
        "no-cache"
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        asset.bytes,
    )
        .into_response())
}
