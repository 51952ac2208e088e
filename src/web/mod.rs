//! The HTTP surface: pages (askama), health checks, static files, and the
//! pieces every route shares — the error type, the JSON extractor, the page
//! layout. Routes are assembled in [`crate::app::router`].

pub mod admin;
pub mod assets;
pub mod chats;
pub mod demo;
pub mod docs;
pub mod error;
pub mod form;
pub mod health;
pub mod json;
pub mod login;
pub mod pages;
pub mod webhooks;

/// What `templates/base.html` needs from every page.
#[derive(Clone, Debug)]
pub struct Layout {
    pub title: String,
    pub css_url: String,
    pub js_url: String,
    pub version: &'static str,
    /// Show the link to `/admin` (the viewer holds the admin role).
    pub admin_link: bool,
}

impl Layout {
    /// The layout of a page with this title.
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            css_url: assets::url("app.css"),
            js_url: assets::url("app.js"),
            version: env!("CARGO_PKG_VERSION"),
            admin_link: false,
        }
    }

    /// The same layout, with the link to `/admin` shown if `show`.
    pub fn with_admin_link(mut self, show: bool) -> Self {
        self.admin_link = show;
        self
    }
}
