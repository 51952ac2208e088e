//! The simulated world: accounts, users, chats, messages, and the answers to
//! every remote call. The protocol layer decodes a request and hands it to
//! [`World::handle`]; the control API, tests and the demo change the world
//! through the other methods. Everything sits behind one mutex; handlers are
//! synchronous and never block, and updates are handed to the [`Hub`] while the
//! lock is held so every connection sees them in `pts` order.

mod auth;
mod demo;
mod dialogs;
mod generate;
mod history;
mod messages;
mod model;
mod qr;
mod send;
mod spec;
mod srp;
mod tl_build;
mod updates;
mod users;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, MutexGuard};

use grammers_tl_types::{self as tl, Deserializable, Identifiable};
use serde::{Deserialize, Serialize};

use crate::hub::Hub;
use crate::rpc::{Call, Reply, RpcErr};

pub use auth::SentCode;
pub use demo::DEMO_PASSWORD;
pub use messages::{DeleteMessages, EditMessage, NewMessage};
pub use spec::{ChatKind, ChatSpec, GenerateSpec, MessageSpec, UserSpec, WorldSpec};

use model::{Peer, State};

/// A new account for the control API.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub phone: String,
    pub first_name: String,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    /// 2FA cloud password.
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub password_hint: Option<String>,
    /// Defaults to DC 1.
    #[serde(default)]
    pub home_dc: Option<i32>,
}

/// An account as listed by the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountInfo {
    pub user_id: i64,
    /// E.164, with the leading `+`.
    pub phone: String,
    pub first_name: String,
    pub last_name: Option<String>,
    pub username: Option<String>,
    pub has_password: bool,
    pub password_hint: Option<String>,
    pub home_dc: i32,
    /// How many auth keys are logged in as this account.
    pub sessions: usize,
}

/// A new group or channel for the control API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewChat {
    pub kind: ChatKind,
    pub title: String,
    #[serde(default)]
    pub username: Option<String>,
    pub creator_user_id: i64,
    #[serde(default)]
    pub member_user_ids: Vec<i64>,
}

/// The simulated Telegram world shared by every DC of a simulator.
pub struct World {
    state: Mutex<State>,
    hub: Arc<Hub>,
}

/// Nested `…FromMessage` peers beyond this count make a request suspect: the
/// TL decoder recurses on them, so a crafted body could exhaust the stack.
const MAX_NESTED_PEERS: usize = 16;

impl World {
    /// Builds the world a spec describes. Invalid spec entries are skipped and
    /// logged; use [`WorldSpec::validate`] first to reject them instead.
    pub fn new(spec: WorldSpec, dc_count: i32, hub: Arc<Hub>) -> World {
        World {
            state: Mutex::new(spec::build(&spec, dc_count)),
            hub,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Handlers validate before they change anything, so the state stays
        // consistent even if one panicked while holding the lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` under the lock, then hands queued updates to the hub (still
    /// under the lock, so pushes leave in the order their pts were assigned).
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut st = self.lock();
        let result = f(&mut st);
        for (key, bytes) in st.outbox.drain(..) {
            self.hub.push(key, bytes);
        }
        result
    }

    /// Answers one call: the serialized TL return value, or an `rpc_error`.
    pub fn handle(&self, call: &Call<'_>) -> Reply {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.with(|st| dispatch(st, call))));
        outcome.unwrap_or_else(|_| {
            tracing::error!(dc = call.dc_id, "world handler panicked");
            Err(RpcErr::new(500, "INTERNAL"))
        })
    }

    /// Adds an account; returns its user id.
    pub fn create_account(&self, a: NewAccount) -> Result<i64, String> {
        let phone = model::normalize_phone(&a.phone).ok_or("invalid phone number")?;
        if a.first_name.trim().is_empty() {
            return Err("first_name is required".into());
        }
        if a.first_name.chars().count() > 64
            || a.last_name.as_ref().is_some_and(|l| l.chars().count() > 64)
        {
            return Err("names are limited to 64 characters, as on Telegram".into());
        }
        if let Some(name) = &a.username
            && !model::valid_username(name)
        {
            return Err(format!("invalid username {name:?}"));
        }
        let (dc_count, seed, next_id) = {
            let st = self.lock();
            (st.dc_count, st.seed, st.next_user_id)
        };
        let home_dc = a.home_dc.unwrap_or(1);
        if !(1..=dc_count).contains(&home_dc) {
            return Err(format!("home_dc must be between 1 and {dc_count}"));
        }
        // The verifier costs a PBKDF2 run: derive it outside the lock.
        let twofa = a
            .password
            .as_deref()
            .map(|pw| spec::two_fa(seed, next_id, pw, a.password_hint.clone()));
        self.with(|st| {
            if st.phones.contains_key(&phone) {
                return Err(format!("phone +{phone} is already registered"));
            }
            if let Some(name) = &a.username
                && st.usernames.contains_key(&name.to_ascii_lowercase())
            {
                return Err(format!("username {name:?} is taken"));
            }
            let spec_user = UserSpec {
                key: String::new(),
                first_name: a.first_name.clone(),
                last_name: a.last_name.clone(),
                username: a.username.clone(),
                phone: Some(phone.clone()),
                home_dc: Some(home_dc),
                ..UserSpec::default()
            };
            let id = spec::add_user(st, &spec_user);
            if let Some(mut twofa) = twofa {
                if id != next_id {
                    // Another account was created meanwhile: re-derive for the real id.
                    twofa = spec::two_fa(
                        seed,
                        id,
                        a.password.as_deref().unwrap_or(""),
                        a.password_hint.clone(),
                    );
                }
                if let Some(acc) = st.users.get_mut(&id).and_then(|u| u.account.as_mut()) {
                    acc.password = Some(twofa);
                }
            }
            Ok(id)
        })
    }

    /// Adds a basic group, supergroup or channel; returns its id (the
    /// `chat_id` used by [`World::post_message`]).
    pub fn create_chat(&self, c: NewChat) -> Result<i64, String> {
        if c.title.trim().is_empty() || c.title.chars().count() > 128 {
            return Err("title must have 1 to 128 characters".into());
        }
        self.with(|st| {
            for u in std::iter::once(&c.creator_user_id).chain(&c.member_user_ids) {
                if !st.users.contains_key(u) {
                    return Err(format!("no user {u}"));
                }
            }
            if let Some(name) = &c.username {
                if c.kind == ChatKind::Group {
                    return Err("basic groups have no username".into());
                }
                if !model::valid_username(name)
                    || st.usernames.contains_key(&name.to_ascii_lowercase())
                {
                    return Err(format!("username {name:?} is invalid or taken"));
                }
            }
            let date = st.now();
            let peer = spec::add_chat(
                st,
                c.kind,
                c.title.clone().into(),
                c.username.clone(),
                c.creator_user_id,
                &c.member_user_ids,
                date,
            );
            Ok(match peer {
                Peer::Chat(id) | Peer::Channel(id) | Peer::User(id) => id,
            })
        })
    }

    /// The last login code sent to `phone`, like reading an SMS inbox.
    pub fn last_code(&self, phone: &str) -> Option<String> {
        let phone = format!("+{}", model::normalize_phone(phone)?);
        let st = self.lock();
        st.auth
            .inbox
            .iter()
            .find(|c| c.phone == phone)
            .map(|c| c.code.clone())
    }

    /// Every code sent, newest first.
    pub fn codes(&self) -> Vec<SentCode> {
        self.lock().auth.inbox.iter().cloned().collect()
    }

    /// Posts a message as `from_user_id`, pushed live to every affected
    /// session. Returns its id in the sender's numbering (the channel's for channels).
    pub fn post_message(&self, m: NewMessage) -> Result<i32, String> {
        self.with(|st| messages::post(st, m))
    }

    /// Edits a message as its author; pushes `updateEditMessage`/`updateEditChannelMessage`.
    pub fn edit_message(&self, e: EditMessage) -> Result<(), String> {
        self.with(|st| messages::edit(st, e))
    }

    /// Deletes messages; pushes `updateDeleteMessages`/`updateDeleteChannelMessages`.
    pub fn delete_messages(&self, d: DeleteMessages) -> Result<(), String> {
        self.with(|st| messages::delete(st, d))
    }

    /// A logged-in device of `user_id` scans the QR code showing `token`.
    pub fn accept_qr(&self, token: &[u8], user_id: i64) -> Result<(), String> {
        self.with(|st| qr::accept(st, token, user_id))
    }

    /// Drops every authorisation of the user "from another device".
    pub fn revoke(&self, user_id: i64) -> Result<(), String> {
        self.with(|st| auth::revoke(st, user_id))
    }

    /// Makes pending login codes expire (for one phone, or every phone).
    pub fn expire_codes(&self, phone: Option<&str>) {
        self.with(|st| auth::expire_codes(st, phone));
    }

    /// Moves the world's clock forward, so tests can expire codes and QR
    /// tokens without sleeping. New messages are dated by the moved clock too.
    pub fn advance_clock(&self, secs: u32) {
        self.with(|st| st.clock_offset += i64::from(secs));
    }

    /// Every account, by user id.
    pub fn accounts(&self) -> Vec<AccountInfo> {
        let st = self.lock();
        let mut out: Vec<AccountInfo> = st
            .users
            .values()
            .filter_map(|u| {
                let acc = u.account.as_ref()?;
                Some(AccountInfo {
                    user_id: u.id,
                    phone: format!("+{}", u.phone.as_deref().unwrap_or_default()),
                    first_name: u.first_name.to_string(),
                    last_name: u.last_name.as_ref().map(|s| s.to_string()),
                    username: u.username.clone(),
                    has_password: acc.password.is_some(),
                    password_hint: acc.password.as_ref().and_then(|p| p.hint.clone()),
                    home_dc: acc.home_dc,
                    sessions: st.auth.key_count(u.id),
                })
            })
            .collect();
        out.sort_by_key(|a| a.user_id);
        out
    }

    /// The account registered with this phone.
    pub fn user_id_by_phone(&self, phone: &str) -> Option<i64> {
        let phone = model::normalize_phone(phone)?;
        self.lock().phones.get(&phone).copied()
    }

    /// The user with this username (any user, not only accounts), e.g. a demo
    /// contact to post messages as.
    pub fn user_id_by_username(&self, username: &str) -> Option<i64> {
        let name = username.trim().trim_start_matches('@').to_ascii_lowercase();
        match self.lock().usernames.get(&name) {
            Some(Peer::User(id)) => Some(*id),
            _ => None,
        }
    }

    /// The group or channel with this username (channels only have usernames).
    pub fn chat_id_by_username(&self, username: &str) -> Option<i64> {
        let name = username.trim().trim_start_matches('@').to_ascii_lowercase();
        match self.lock().usernames.get(&name) {
            Some(Peer::Channel(id) | Peer::Chat(id)) => Some(*id),
            _ => None,
        }
    }

    /// The user an auth key is logged in as, if any.
    pub fn authorized_user(&self, auth_key_id: i64) -> Option<i64> {
        self.lock().auth.user_of(auth_key_id)
    }

    /// How many users exist (accounts and the people they talk to).
    pub fn users_count(&self) -> usize {
        self.lock().users.len()
    }

    /// How many basic groups, supergroups and channels exist.
    pub fn chats_count(&self) -> usize {
        let st = self.lock();
        st.chats.len() + st.channels.len()
    }

    /// How many messages exist (each counted once, however many boxes hold it).
    pub fn messages_count(&self) -> usize {
        self.lock()
            .msgs
            .iter()
            .filter(|m| !m.copies.is_empty())
            .count()
    }
}

/// Decodes a function's fields (the generated decoders start after the constructor id).
fn decode<T: Deserializable>(body: &[u8]) -> Result<T, RpcErr> {
    body.get(4..)
        .and_then(|fields| T::from_bytes(fields).ok())
        .ok_or_else(|| RpcErr::bad_request("INPUT_FETCH_ERROR"))
}

/// Rejects bodies the TL decoder could recurse on without bound.
fn too_deep(body: &[u8]) -> bool {
    const NESTING: [u32; 4] = [
        tl::types::InputPeerUserFromMessage::CONSTRUCTOR_ID,
        tl::types::InputPeerChannelFromMessage::CONSTRUCTOR_ID,
        tl::types::InputUserFromMessage::CONSTRUCTOR_ID,
        tl::types::InputChannelFromMessage::CONSTRUCTOR_ID,
    ];
    body.chunks_exact(4)
        .filter(|w| NESTING.contains(&u32::from_le_bytes([w[0], w[1], w[2], w[3]])))
        .count()
        > MAX_NESTED_PEERS
}

fn dispatch(st: &mut State, call: &Call<'_>) -> Reply {
    use tl::functions as f;
    let body = call.body;
    let Some(id) = body
        .get(..4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    else {
        return Err(RpcErr::bad_request("INPUT_FETCH_ERROR"));
    };
    if too_deep(body) {
        return Err(RpcErr::bad_request("INPUT_FETCH_ERROR"));
    }
    match id {
        f::auth::SendCode::CONSTRUCTOR_ID => auth::send_code(st, call, decode(body)?),
        f::auth::ResendCode::CONSTRUCTOR_ID => auth::resend_code(st, call, decode(body)?),
        f::auth::SignIn::CONSTRUCTOR_ID => auth::sign_in(st, call, decode(body)?),
        f::account::GetPassword::CONSTRUCTOR_ID => auth::get_password(st, call),
        f::auth::CheckPassword::CONSTRUCTOR_ID => auth::check_password(st, call, decode(body)?),
        f::auth::ExportLoginToken::CONSTRUCTOR_ID => {
            qr::export_login_token(st, call, decode(body)?)
        }
        f::auth::ImportLoginToken::CONSTRUCTOR_ID => {
            qr::import_login_token(st, call, decode(body)?)
        }
        f::auth::ExportAuthorization::CONSTRUCTOR_ID => {
            auth::export_authorization(st, call, decode(body)?)
        }
        f::auth::ImportAuthorization::CONSTRUCTOR_ID => {
            auth::import_authorization(st, call, decode(body)?)
        }
        f::auth::LogOut::CONSTRUCTOR_ID => auth::log_out(st, call),
        f::users::GetUsers::CONSTRUCTOR_ID => users::get_users(st, call, decode(body)?),
        f::users::GetFullUser::CONSTRUCTOR_ID => users::get_full_user(st, call, decode(body)?),
        f::contacts::ResolveUsername::CONSTRUCTOR_ID => {
            users::resolve_username(st, call, decode(body)?)
        }
        f::messages::GetChats::CONSTRUCTOR_ID => users::get_chats(st, call, decode(body)?),
        f::channels::GetChannels::CONSTRUCTOR_ID => users::get_channels(st, call, decode(body)?),
        f::help::GetNearestDc::CONSTRUCTOR_ID => users::get_nearest_dc(call),
        f::messages::GetDialogs::CONSTRUCTOR_ID => dialogs::get_dialogs(st, call, decode(body)?),
        f::messages::GetPeerDialogs::CONSTRUCTOR_ID => {
            dialogs::get_peer_dialogs(st, call, decode(body)?)
        }
        f::messages::GetHistory::CONSTRUCTOR_ID => history::get_history(st, call, decode(body)?),
        f::messages::GetMessages::CONSTRUCTOR_ID => history::get_messages(st, call, decode(body)?),
        f::channels::GetMessages::CONSTRUCTOR_ID => {
            history::get_channel_messages(st, call, decode(body)?)
        }
        f::messages::SendMessage::CONSTRUCTOR_ID => {
            // The optional rich_message (flag 23) nests without bound; not simulated.
            let flags = body
                .get(4..8)
                .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            if flags & (1 << 23) != 0 {
                return Err(RpcErr::bad_request("RICH_MESSAGE_NOT_SIMULATED"));
            }
            send::send_message(st, call, decode(body)?)
        }
        f::messages::ReadHistory::CONSTRUCTOR_ID => send::read_history(st, call, decode(body)?),
        f::channels::ReadHistory::CONSTRUCTOR_ID => {
            send::read_channel_history(st, call, decode(body)?)
        }
        f::messages::DeleteMessages::CONSTRUCTOR_ID => {
            send::delete_messages(st, call, decode(body)?)
        }
        f::channels::DeleteMessages::CONSTRUCTOR_ID => {
            send::delete_channel_messages(st, call, decode(body)?)
        }
        f::updates::GetState::CONSTRUCTOR_ID => updates::get_state(st, call),
        f::updates::GetDifference::CONSTRUCTOR_ID => {
            updates::get_difference(st, call, decode(body)?)
        }
        f::updates::GetChannelDifference::CONSTRUCTOR_ID => {
            updates::get_channel_difference(st, call, decode(body)?)
        }
        other => {
            let name = tl::name_for_id(other);
            if name == "(unknown)" {
                Err(RpcErr::bad_request("INPUT_METHOD_INVALID"))
            } else {
                tracing::debug!(method = name, "method not simulated");
                Err(RpcErr::bad_request("METHOD_NOT_SIMULATED"))
            }
        }
    }
}
