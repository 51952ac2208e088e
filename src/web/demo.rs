//! The demo inbox: with a simulated Telegram there is no phone to receive
//! login codes, so this page shows the codes the simulator "sent", and its
//! accounts. It exists only when tgdesk talks to a simulator.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::Layout;
use super::error::{Error, PageError};
use crate::app::AppState;
use crate::telegram::backend::{SimAccount, SimCode};

#[derive(Template)]
#[template(path = "demo_inbox.html")]
struct Inbox {
    layout: Layout,
    codes: Vec<CodeRow>,
    accounts: Vec<SimAccount>,
    demo_password: &'static str,
}

struct CodeRow {
    code: SimCode,
    age: String,
}

fn age(now: i64, then: i64) -> String {
    let secs = (now - then).max(0);
    match secs {
        0..=59 => format!("{secs} s ago"),
        60..=3599 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

/// `GET /demo/inbox`.
pub async fn inbox(State(state): State<AppState>) -> Result<Html<String>, PageError> {
    let inbox = state
        .backend
        .sim_inbox()
        .await
        .map_err(|e| {
            Error::unavailable(
                "telegram_unavailable",
                format!("The simulated Telegram did not answer: {e}"),
            )
        })?
        .ok_or_else(|| {
            Error::not_found(
                "The demo inbox exists only when tgdesk runs against a simulated Telegram.",
            )
        })?;
    let now = crate::store::now();
    let page = Inbox {
        layout: Layout::new("Demo inbox"),
        codes: inbox
            .codes
            .into_iter()
            .take(50)
            .map(|code| CodeRow {
                age: age(now, code.sent_at),
                code,
            })
            .collect(),
        accounts: inbox.accounts,
        demo_password: tgsim::world::DEMO_PASSWORD,
    };
    Ok(Html(page.render()?))
}
