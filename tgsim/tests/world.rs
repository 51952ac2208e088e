//! World-level tests: serialized `tl::functions::*` go straight into
//! `World::handle`, replies are parsed back with the TL types, and pushes are
//! read from hub registrations. No sockets, no MTProto: this is about what the
//! simulated Telegram answers, not how it is carried.

mod world {
    mod login;
    mod qr;
    mod reading;
    mod robustness;
    mod updates;
}

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use grammers_tl_types::{self as tl, Deserializable, RemoteCall};
use tgsim::hub::{Hub, Outbound};
use tgsim::rpc::{Call, RpcErr};
use tgsim::world::{NewAccount, NewMessage, World, WorldSpec};
use tokio::sync::mpsc;

/// A world, its hub, and fresh auth key ids on demand.
pub struct Fx {
    pub world: World,
    pub hub: Arc<Hub>,
    next_key: AtomicI64,
}

impl Fx {
    pub fn new(spec: WorldSpec) -> Fx {
        let hub = Arc::new(Hub::new());
        Fx {
            world: World::new(spec, 2, Arc::clone(&hub)),
            hub,
            next_key: AtomicI64::new(0x1000),
        }
    }

    pub fn empty() -> Fx {
        Fx::new(WorldSpec::empty())
    }

    /// A key id no one uses yet (the protocol layer's job in real life).
    pub fn key(&self) -> i64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }

    pub fn raw(&self, dc: i32, key: i64, body: &[u8]) -> Result<Vec<u8>, RpcErr> {
        self.world.handle(&Call {
            dc_id: dc,
            auth_key_id: key,
            session_id: 7,
            body,
        })
    }

    /// Invokes `req` as `key` on `dc` and parses the reply.
    pub fn call<R: RemoteCall>(&self, dc: i32, key: i64, req: &R) -> Result<R::Return, RpcErr> {
        let bytes = self.raw(dc, key, &req.to_bytes())?;
        Ok(R::Return::from_bytes(&bytes).expect("the reply parses as the method's return type"))
    }

    pub fn account(&self, phone: &str, name: &str) -> i64 {
        self.world
            .create_account(NewAccount {
                phone: phone.into(),
                first_name: name.into(),
                ..NewAccount::default()
            })
            .expect("account is created")
    }

    /// Phone login on the account's home DC; returns the user id.
    pub fn login(&self, dc: i32, key: i64, phone: &str) -> i64 {
        let sent = self.call(dc, key, &send_code(phone)).expect("sendCode");
        let tl::enums::auth::SentCode::Code(sent) = sent else {
            panic!("expected auth.sentCode");
        };
        let code = self.world.last_code(phone).expect("a code was sent");
        let auth = self
            .call(dc, key, &sign_in(phone, &sent.phone_code_hash, &code))
            .expect("signIn");
        self_user(auth).id
    }

    /// Registers a live connection for `key` and returns its outbound queue.
    pub fn connect(&self, key: i64) -> Conn {
        let (tx, rx) = mpsc::unbounded_channel();
        // The registration borrows the hub; leak it for the test's lifetime.
        let leaked: &'static Arc<Hub> = Box::leak(Box::new(Arc::clone(&self.hub)));
        let hub: &'static Hub = leaked;
        std::mem::forget(hub.register(key, tx));
        Conn { rx }
    }

    pub fn post(&self, from: i64, to: i64, text: &str) -> i32 {
        self.world
            .post_message(NewMessage {
                from_user_id: from,
                to_user_id: Some(to),
                chat_id: None,
                text: text.into(),
                reply_to: None,
            })
            .expect("message is posted")
    }

    pub fn post_in(&self, from: i64, chat: i64, text: &str) -> i32 {
        self.world
            .post_message(NewMessage {
                from_user_id: from,
                to_user_id: None,
                chat_id: Some(chat),
                text: text.into(),
                reply_to: None,
            })
            .expect("message is posted")
    }

    pub fn state(&self, dc: i32, key: i64) -> tl::types::updates::State {
        let tl::enums::updates::State::State(s) = self
            .call(dc, key, &tl::functions::updates::GetState {})
            .expect("getState");
        s
    }

    pub fn dialogs(&self, dc: i32, key: i64, limit: i32) -> tl::enums::messages::Dialogs {
        self.call(
            dc,
            key,
            &get_dialogs(0, 0, tl::enums::InputPeer::Empty, limit),
        )
        .expect("getDialogs")
    }

    /// The InputPeer `key`'s user would use for `user_id`, with the access hash it was shown.
    pub fn input_user_peer(&self, dc: i32, key: i64, user_id: i64) -> tl::enums::InputPeer {
        let users = self
            .call(
                dc,
                key,
                &tl::functions::users::GetUsers {
                    id: vec![tl::enums::InputUser::UserSelf],
                },
            )
            .expect("getUsers");
        let me = users.first().map(user_id_of).expect("self");
        if me == user_id {
            return tl::enums::InputPeer::PeerSelf;
        }
        let hash = self
            .hash_seen(dc, key, user_id)
            .expect("the user was shown to this account");
        tl::types::InputPeerUser {
            user_id,
            access_hash: hash,
        }
        .into()
    }

    /// The access hash this account was shown for a user, via its dialogs.
    pub fn hash_seen(&self, dc: i32, key: i64, user_id: i64) -> Option<i64> {
        let (_, _, _, users) = unpack_dialogs(self.dialogs(dc, key, 100));
        users.into_iter().find_map(|u| match u {
            tl::enums::User::User(u) if u.id == user_id => u.access_hash,
            _ => None,
        })
    }

    pub fn channel_input(&self, dc: i32, key: i64, channel_id: i64) -> tl::types::InputChannel {
        let (_, _, chats, _) = unpack_dialogs(self.dialogs(dc, key, 100));
        let hash = chats
            .into_iter()
            .find_map(|c| match c {
                tl::enums::Chat::Channel(c) if c.id == channel_id => c.access_hash,
                _ => None,
            })
            .expect("the channel is among the dialogs");
        tl::types::InputChannel {
            channel_id,
            access_hash: hash,
        }
    }
}

pub struct Conn {
    rx: mpsc::UnboundedReceiver<Outbound>,
}

impl Conn {
    /// Every update pushed so far.
    pub fn drain(&mut self) -> Vec<tl::enums::Updates> {
        let mut out = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            if let Outbound::Update(bytes) = msg {
                out.push(tl::enums::Updates::from_bytes(&bytes).expect("pushed updates parse"));
            }
        }
        out
    }
}

pub fn send_code(phone: &str) -> tl::functions::auth::SendCode {
    tl::functions::auth::SendCode {
        phone_number: phone.into(),
        api_id: 1,
        api_hash: "hash".into(),
        settings: tl::types::CodeSettings {
            allow_flashcall: false,
            current_number: false,
            allow_app_hash: false,
            allow_missed_call: false,
            allow_firebase: false,
            unknown_number: false,
            logout_tokens: None,
            token: None,
            app_sandbox: None,
        }
        .into(),
    }
}

pub fn sign_in(phone: &str, hash: &str, code: &str) -> tl::functions::auth::SignIn {
    tl::functions::auth::SignIn {
        phone_number: phone.into(),
        phone_code_hash: hash.into(),
        phone_code: Some(code.into()),
        email_verification: None,
    }
}

pub fn get_dialogs(
    offset_date: i32,
    offset_id: i32,
    offset_peer: tl::enums::InputPeer,
    limit: i32,
) -> tl::functions::messages::GetDialogs {
    tl::functions::messages::GetDialogs {
        exclude_pinned: false,
        folder_id: None,
        offset_date,
        offset_id,
        offset_peer,
        limit,
        hash: 0,
    }
}

pub fn get_history(peer: tl::enums::InputPeer) -> tl::functions::messages::GetHistory {
    tl::functions::messages::GetHistory {
        peer,
        offset_id: 0,
        offset_date: 0,
        add_offset: 0,
        limit: 100,
        max_id: 0,
        min_id: 0,
        hash: 0,
    }
}

pub fn send_message(
    peer: tl::enums::InputPeer,
    text: &str,
    random_id: i64,
) -> tl::functions::messages::SendMessage {
    tl::functions::messages::SendMessage {
        no_webpage: false,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer,
        reply_to: None,
        message: text.into(),
        random_id,
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    }
}

pub fn get_difference(pts: i32, date: i32) -> tl::functions::updates::GetDifference {
    tl::functions::updates::GetDifference {
        pts,
        pts_limit: None,
        pts_total_limit: None,
        date,
        qts: 0,
        qts_limit: None,
    }
}

pub fn self_user(auth: tl::enums::auth::Authorization) -> tl::types::User {
    let tl::enums::auth::Authorization::Authorization(a) = auth else {
        panic!("expected auth.authorization");
    };
    let tl::enums::User::User(u) = a.user else {
        panic!("expected a full user");
    };
    u
}

pub fn user_id_of(u: &tl::enums::User) -> i64 {
    match u {
        tl::enums::User::User(u) => u.id,
        tl::enums::User::Empty(u) => u.id,
    }
}

pub fn unpack_dialogs(
    d: tl::enums::messages::Dialogs,
) -> (
    Vec<tl::enums::Dialog>,
    Vec<tl::enums::Message>,
    Vec<tl::enums::Chat>,
    Vec<tl::enums::User>,
) {
    match d {
        tl::enums::messages::Dialogs::Dialogs(d) => (d.dialogs, d.messages, d.chats, d.users),
        tl::enums::messages::Dialogs::Slice(d) => (d.dialogs, d.messages, d.chats, d.users),
        tl::enums::messages::Dialogs::NotModified(_) => panic!("dialogsNotModified with hash 0"),
    }
}

pub fn unpack_messages(m: tl::enums::messages::Messages) -> (Vec<tl::enums::Message>, Option<i32>) {
    match m {
        tl::enums::messages::Messages::Messages(m) => (m.messages, None),
        tl::enums::messages::Messages::Slice(m) => (m.messages, Some(m.count)),
        tl::enums::messages::Messages::ChannelMessages(m) => (m.messages, Some(m.count)),
        tl::enums::messages::Messages::NotModified(_) => panic!("messagesNotModified with hash 0"),
    }
}

pub fn msg_id(m: &tl::enums::Message) -> i32 {
    match m {
        tl::enums::Message::Empty(m) => m.id,
        tl::enums::Message::Message(m) => m.id,
        tl::enums::Message::Service(m) => m.id,
    }
}

pub fn msg(m: &tl::enums::Message) -> &tl::types::Message {
    match m {
        tl::enums::Message::Message(m) => m,
        other => panic!("expected a message, got {other:?}"),
    }
}

pub fn dialog(d: &tl::enums::Dialog) -> &tl::types::Dialog {
    match d {
        tl::enums::Dialog::Dialog(d) => d,
        other => panic!("expected a dialog, got {other:?}"),
    }
}

pub fn assert_err<T: std::fmt::Debug>(r: Result<T, RpcErr>, code: i32, name: &str) {
    match r {
        Err(e) => assert_eq!((e.code, e.message.as_str()), (code, name)),
        Ok(v) => panic!("expected {code} {name}, got {v:?}"),
    }
}
