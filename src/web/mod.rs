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

/// Unix seconds as `YYYY-MM-DD HH:MM UTC` (pages show local time when
/// JavaScript runs).
pub(crate) fn utc(secs: i64) -> String {
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::utc;

    #[test]
    fn utc_formats_unix_seconds() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(1_709_210_096), "2024-02-29 12:34 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
    }
}
