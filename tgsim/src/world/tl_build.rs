//! Building the big TL objects (`User`, `Chat`, `Channel`, `Message`,
//! `Dialog`, …) from the model, as a given viewer sees them. Every field is
//! spelled out once here so handlers stay short.

use std::collections::BTreeSet;

use grammers_tl_types as tl;

use super::model::{Channel, Chat, Conv, Lid, Peer, ReadMarks, State, User};

pub(crate) fn notify_settings() -> tl::enums::PeerNotifySettings {
    tl::types::PeerNotifySettings {
        show_previews: None,
        silent: None,
        mute_until: None,
        ios_sound: None,
        android_sound: None,
        other_sound: None,
        stories_muted: None,
        stories_hide_sender: None,
        stories_ios_sound: None,
        stories_android_sound: None,
        stories_other_sound: None,
    }
    .into()
}

pub(crate) fn peer_settings() -> tl::enums::PeerSettings {
    tl::types::PeerSettings {
        report_spam: false,
        add_contact: false,
        block_contact: false,
        share_contact: false,
        need_contacts_exception: false,
        report_geo: false,
        autoarchived: false,
        invite_members: false,
        request_chat_broadcast: false,
        business_bot_paused: false,
        business_bot_can_reply: false,
        geo_distance: None,
        request_chat_title: None,
        request_chat_date: None,
        business_bot_id: None,
        business_bot_manage_url: None,
        charge_paid_message_stars: None,
        registration_month: None,
        phone_country: None,
        name_change_date: None,
        photo_change_date: None,
    }
    .into()
}

pub(crate) fn user(st: &State, viewer: i64, u: &User) -> tl::enums::User {
    let is_self = viewer == u.id;
    tl::types::User {
        is_self,
        contact: false,
        mutual_contact: false,
        deleted: false,
        bot: false,
        bot_chat_history: false,
        bot_nochats: false,
        verified: false,
        restricted: false,
        min: false,
        bot_inline_geo: false,
        support: false,
        scam: false,
        apply_min_photo: false,
        fake: false,
        bot_attach_menu: false,
        premium: false,
        attach_menu_enabled: false,
        bot_can_edit: false,
        close_friend: false,
        stories_hidden: false,
        stories_unavailable: false,
        contact_require_premium: false,
        bot_business: false,
        bot_has_main_app: false,
        bot_forum_view: false,
        bot_forum_can_manage_topics: false,
        bot_can_manage_bots: false,
        bot_guestchat: false,
        bot_guard: false,
        id: u.id,
        access_hash: Some(st.access_hash(viewer, Peer::User(u.id))),
        first_name: Some(u.first_name.to_string()),
        last_name: u.last_name.as_ref().map(|s| s.to_string()),
        username: u.username.clone(),
        phone: if is_self { u.phone.clone() } else { None },
        photo: None,
        status: None,
        bot_info_version: None,
        restriction_reason: None,
        bot_inline_placeholder: None,
        lang_code: None,
        emoji_status: None,
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        bot_active_users: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_community_id: None,
    }
    .into()
}

pub(crate) fn user_full(st: &State, viewer: i64, u: &User) -> tl::enums::UserFull {
    let common = st
        .chats
        .values()
        .filter(|c| c.members.contains(&viewer) && c.members.contains(&u.id))
        .count()
        + st.channels
            .values()
            .filter(|c| !c.broadcast && c.members.contains(&viewer) && c.members.contains(&u.id))
            .count();
    tl::types::UserFull {
        blocked: false,
        phone_calls_available: false,
        phone_calls_private: false,
        can_pin_message: true,
        has_scheduled: false,
        video_calls_available: false,
        voice_messages_forbidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        blocked_my_stories_from: false,
        wallpaper_overridden: false,
        contact_require_premium: false,
        read_dates_private: false,
        sponsored_enabled: false,
        can_view_revenue: false,
        bot_can_manage_emoji_status: false,
        display_gifts_button: false,
        noforwards_my_enabled: false,
        noforwards_peer_enabled: false,
        unofficial_security_risk: false,
        id: u.id,
        about: u.about.as_ref().map(|s| s.to_string()),
        settings: peer_settings(),
        personal_photo: None,
        profile_photo: None,
        fallback_photo: None,
        notify_settings: notify_settings(),
        bot_info: None,
        pinned_msg_id: None,
        common_chats_count: i32::try_from(common).unwrap_or(i32::MAX),
        folder_id: None,
        ttl_period: None,
        theme: None,
        private_forward_name: None,
        bot_group_admin_rights: None,
        bot_broadcast_admin_rights: None,
        wallpaper: None,
        stories: None,
        business_work_hours: None,
        business_location: None,
        business_greeting_message: None,
        business_away_message: None,
        business_intro: None,
        birthday: None,
        personal_channel_id: None,
        personal_channel_message: None,
        stargifts_count: None,
        starref_program: None,
        bot_verification: None,
        send_paid_messages_stars: None,
        disallowed_gifts: None,
        stars_rating: None,
        stars_my_pending_rating: None,
        stars_my_pending_rating_date: None,
        main_tab: None,
        saved_music: None,
        note: None,
        bot_manager_id: None,
    }
    .into()
}

pub(crate) fn chat(viewer: i64, c: &Chat) -> tl::enums::Chat {
    tl::types::Chat {
        creator: c.creator == viewer,
        left: !c.members.contains(&viewer),
        deactivated: false,
        call_active: false,
        call_not_empty: false,
        noforwards: false,
        id: c.id,
        title: c.title.to_string(),
        photo: tl::enums::ChatPhoto::Empty,
        participants_count: i32::try_from(c.members.len()).unwrap_or(i32::MAX),
        date: c.date,
        version: 1,
        migrated_to: None,
        admin_rights: None,
        default_banned_rights: None,
    }
    .into()
}

pub(crate) fn channel(st: &State, viewer: i64, c: &Channel) -> tl::enums::Chat {
    tl::types::Channel {
        creator: c.creator == viewer,
        left: !c.members.contains(&viewer),
        broadcast: c.broadcast,
        verified: false,
        megagroup: !c.broadcast,
        restricted: false,
        signatures: false,
        min: false,
        scam: false,
        has_link: false,
        has_geo: false,
        slowmode_enabled: false,
        call_active: false,
        call_not_empty: false,
        fake: false,
        gigagroup: false,
        noforwards: false,
        join_to_send: false,
        join_request: false,
        forum: false,
        stories_hidden: false,
        stories_hidden_min: false,
        stories_unavailable: false,
        signature_profiles: false,
        autotranslation: false,
        broadcast_messages_allowed: false,
        monoforum: false,
        forum_tabs: false,
        id: c.id,
        access_hash: Some(st.access_hash(viewer, Peer::Channel(c.id))),
        title: c.title.to_string(),
        username: c.username.clone(),
        photo: tl::enums::ChatPhoto::Empty,
        date: c.date,
        restriction_reason: None,
        admin_rights: None,
        banned_rights: None,
        default_banned_rights: None,
        participants_count: Some(i32::try_from(c.members.len()).unwrap_or(i32::MAX)),
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        emoji_status: None,
        level: None,
        subscription_until_date: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_monoforum_id: None,
        linked_community_id: None,
    }
    .into()
}

/// The message `lid` as `viewer` sees it under local id `local`.
pub(crate) fn message(st: &State, viewer: i64, lid: Lid, local: i32) -> Option<tl::enums::Message> {
    let m = st.msg(lid)?;
    let broadcast = match m.conv {
        Conv::Channel(id) => st.channels.get(&id).is_some_and(|c| c.broadcast),
        _ => false,
    };
    let out = m.from == viewer;
    let from_id = match m.conv {
        Conv::Private(..) if out => Some(Peer::User(viewer).to_tl()),
        Conv::Private(..) => None,
        Conv::Channel(_) if broadcast => None,
        _ => Some(Peer::User(m.from).to_tl()),
    };
    let owner = match m.conv {
        Conv::Channel(id) => id,
        _ => viewer,
    };
    let reply_to = reply_header(st, m.reply_to, owner);
    let views = broadcast.then(|| {
        st.channels
            .get(&owner)
            .map_or(0, |c| i32::try_from(c.members.len()).unwrap_or(i32::MAX))
    });
    Some(
        tl::types::Message {
            out,
            mentioned: false,
            media_unread: false,
            silent: false,
            post: broadcast,
            from_scheduled: false,
            legacy: false,
            edit_hide: false,
            pinned: false,
            noforwards: false,
            invert_media: false,
            offline: false,
            video_processing_pending: false,
            paid_suggested_post_stars: false,
            paid_suggested_post_ton: false,
            id: local,
            from_id,
            from_boosts_applied: None,
            from_rank: None,
            peer_id: m.conv.peer_for(viewer).to_tl(),
            saved_peer_id: None,
            fwd_from: None,
            via_bot_id: None,
            via_business_bot_id: None,
            guestchat_via_from: None,
            reply_to,
            date: m.date,
            message: m.text.to_string(),
            media: None,
            reply_markup: None,
            entities: m.entities.as_ref().map(|e| e.to_vec()),
            // `views` and `forwards` share one flag bit: both or neither.
            views,
            forwards: views.map(|_| 0),
            replies: None,
            edit_date: m.edit_date,
            post_author: None,
            grouped_id: None,
            reactions: None,
            restriction_reason: None,
            ttl_period: None,
            quick_reply_shortcut_id: None,
            effect: None,
            factcheck: None,
            report_delivery_until_date: None,
            paid_message_stars: None,
            suggested_post: None,
            schedule_repeat_period: None,
            summary_from_language: None,
            rich_message: None,
        }
        .into(),
    )
}

/// A reply header pointing at `reply_to` as numbered in `owner`'s box or channel.
pub(crate) fn reply_header(
    st: &State,
    reply_to: Option<Lid>,
    owner: i64,
) -> Option<tl::enums::MessageReplyHeader> {
    let reply_to_msg_id = st.msg(reply_to?)?.local_id(owner)?;
    Some(
        tl::types::MessageReplyHeader {
            reply_to_scheduled: false,
            forum_topic: false,
            quote: false,
            reply_to_ephemeral: false,
            reply_to_msg_id: Some(reply_to_msg_id),
            reply_to_peer_id: None,
            reply_from: None,
            reply_media: None,
            reply_to_top_id: None,
            quote_text: None,
            quote_entities: None,
            quote_offset: None,
            todo_item_id: None,
            poll_option: None,
        }
        .into(),
    )
}

pub(crate) fn dialog(
    peer: Peer,
    top_message: i32,
    marks: ReadMarks,
    unread_count: i32,
    pts: Option<i32>,
) -> tl::enums::Dialog {
    tl::types::Dialog {
        pinned: false,
        unread_mark: false,
        view_forum_as_messages: false,
        peer: peer.to_tl(),
        top_message,
        read_inbox_max_id: marks.inbox,
        read_outbox_max_id: marks.outbox,
        unread_count,
        unread_mentions_count: 0,
        unread_reactions_count: 0,
        unread_poll_votes_count: 0,
        notify_settings: notify_settings(),
        pts,
        draft: None,
        folder_id: None,
        ttl_period: None,
    }
    .into()
}

/// Peers mentioned by a response, so it can carry the `users` and `chats`
/// vectors grammers needs to cache access hashes.
#[derive(Default)]
pub(crate) struct Refs {
    users: BTreeSet<i64>,
    chats: BTreeSet<i64>,
    channels: BTreeSet<i64>,
}

impl Refs {
    pub(crate) fn peer(&mut self, peer: Peer) {
        match peer {
            Peer::User(id) => self.users.insert(id),
            Peer::Chat(id) => self.chats.insert(id),
            Peer::Channel(id) => self.channels.insert(id),
        };
    }

    /// The message's sender and chat, as `viewer` sees them.
    pub(crate) fn msg(&mut self, st: &State, viewer: i64, lid: Lid) {
        if let Some(m) = st.msg(lid) {
            self.users.insert(m.from);
            self.peer(m.conv.peer_for(viewer));
        }
    }

    pub(crate) fn users(&self, st: &State, viewer: i64) -> Vec<tl::enums::User> {
        self.users
            .iter()
            .filter_map(|id| st.users.get(id))
            .map(|u| user(st, viewer, u))
            .collect()
    }

    pub(crate) fn chats(&self, st: &State, viewer: i64) -> Vec<tl::enums::Chat> {
        let chats = self
            .chats
            .iter()
            .filter_map(|id| st.chats.get(id))
            .map(|c| chat(viewer, c));
        let channels = self
            .channels
            .iter()
            .filter_map(|id| st.channels.get(id))
            .map(|c| channel(st, viewer, c));
        chats.chain(channels).collect()
    }
}

pub(crate) fn serialize<T: tl::Serializable>(value: &T) -> Vec<u8> {
    value.to_bytes()
}
