//! The built-in demo world: three staff accounts in Telegram's test phone
//! range (`+99966…`), one with a 2FA password, one homed on DC 2; a couple of
//! dozen chats each with named people, two basic groups, a supergroup and a
//! broadcast channel; a few hundred messages over the last three weeks, with
//! replies and edits. The texts are scripted, so every build is the same.

use super::spec::{ChatKind, ChatSpec, MessageSpec, UserSpec, WorldSpec};

/// The 2FA password of the demo account `+9996610002`.
pub const DEMO_PASSWORD: &str = "demo-password";

/// Marks a line in a script: `R` replies to the previous line, `E` was edited.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mark {
    N,
    R,
    E,
}
use Mark::{E, N, R};

/// Two-party scripts: `true` = the account speaks, `false` = the other side.
const SCRIPTS: &[&[(bool, Mark, &str)]] = &[
    &[
        (false, N, "Hi! Quick question about my order #5521"),
        (true, N, "Hi, sure — what's up?"),
        (false, N, "It says delivered but nothing arrived"),
        (true, N, "Let me check with the courier"),
        (true, N, "They left it at the reception desk on Tuesday"),
        (false, R, "Oh! Found it, thank you so much"),
        (true, N, "Glad it's sorted 🙂"),
    ],
    &[
        (true, N, "Are we still on for the review tomorrow?"),
        (false, N, "Yes, 10:00 in the small meeting room"),
        (true, N, "I'll bring the printed mockups"),
        (false, E, "Perfect. Can you also bring the budget sheet?"),
        (true, N, "Will do"),
    ],
    &[
        (false, N, "Did you get my email about the invoice?"),
        (true, N, "Not yet, which address did you use?"),
        (false, N, "billing@ — the one on the website"),
        (true, N, "Ah, that goes to finance. Forwarding it now"),
        (false, N, "Thanks. It's due on the 15th"),
        (true, R, "Noted, they'll pay it this week"),
    ],
    &[
        (false, N, "Happy Friday! Any plans for the weekend?"),
        (true, N, "Hiking if the weather holds. You?"),
        (false, N, "Finally painting the kitchen"),
        (true, N, "Good luck with that 😄"),
    ],
    &[
        (true, N, "The login page is down for some users"),
        (false, N, "Which region?"),
        (true, N, "Mostly Europe, started 20 minutes ago"),
        (false, N, "Looking into it"),
        (
            false,
            N,
            "Found it — an expired certificate on one edge node",
        ),
        (false, E, "Fixed and rotated all the others too"),
        (true, R, "Confirmed, everything works again. Thanks!"),
    ],
    &[
        (false, N, "Can I get a copy of last month's report?"),
        (true, N, "Sure, PDF ok?"),
        (false, N, "PDF is great"),
        (true, N, "Sent!"),
        (false, N, "Got it 👍"),
    ],
    &[
        (true, N, "Welcome aboard! How's the first week going?"),
        (false, N, "Busy but good. Everyone is very helpful"),
        (true, N, "Shout if you need anything, I'm two desks away"),
        (false, N, "Will do, thanks!"),
        (false, N, "Actually — where do I request a second monitor?"),
        (true, R, "IT portal → Hardware → Peripherals"),
    ],
    &[
        (false, N, "Is the discount code still valid?"),
        (true, N, "SPRING20 ends on Sunday"),
        (false, N, "Great, ordering today then"),
    ],
    &[
        (true, N, "Could you review PR 418 when you have a minute?"),
        (false, N, "On it"),
        (false, N, "Left two small comments, otherwise LGTM"),
        (true, N, "Addressed both, thanks"),
        (false, N, "Approved ✅"),
    ],
    &[
        (false, N, "We'd like to renew the support contract"),
        (true, N, "Great to hear! Same tier as last year?"),
        (false, N, "Yes, but with two more seats"),
        (true, N, "I'll prepare the quote today"),
        (true, E, "Quote sent — valid for 30 days"),
        (false, N, "Received, I'll get it signed"),
    ],
    &[
        (true, N, "Reminder: security training is due Friday"),
        (false, N, "Ugh, thanks for the nudge"),
        (false, N, "Done!"),
    ],
    &[
        (false, N, "Are you coming to the meetup on Thursday?"),
        (true, N, "Planning to. Who's speaking?"),
        (false, N, "Someone from the database team, about backups"),
        (true, N, "Count me in"),
    ],
    &[
        (false, N, "The app crashes when I upload a photo"),
        (true, N, "Sorry about that! Which phone and app version?"),
        (false, N, "Pixel 7, version 4.2.1"),
        (
            true,
            N,
            "Thanks — it's a known issue, fixed in 4.2.2 out tomorrow",
        ),
        (false, N, "Ok, I'll wait for the update"),
        (false, N, "Updated, works now 🎉"),
        (true, R, "Great, thanks for letting us know"),
    ],
    &[
        (true, N, "Do you have the phone number of the caterer?"),
        (false, N, "+1 555 0134, ask for Marco"),
        (true, N, "Thanks!"),
    ],
    &[
        (false, N, "Can we reschedule our 1:1?"),
        (true, N, "Sure, Thursday afternoon?"),
        (false, N, "Thursday 3pm works"),
        (true, N, "Moved it"),
    ],
    &[
        (false, N, "Quick heads-up: I'm out sick today"),
        (true, N, "Get well soon! I'll cover your tickets"),
        (false, N, "You're the best"),
    ],
    &[
        (true, N, "Have you tried the new coffee machine?"),
        (false, N, "Yes! The flat white is surprisingly good"),
        (true, N, "Finally an upgrade"),
    ],
    &[
        (false, N, "Hello, I forgot my account password"),
        (true, N, "No problem. I've sent a reset link to your email"),
        (false, N, "It says the link expired"),
        (true, N, "Links last 15 minutes — sending a fresh one"),
        (false, R, "That worked, thanks"),
    ],
];

/// Group lines: (speaker key, text).
const OPS_TEAM: &[(&str, &str)] = &[
    ("dmitri", "Deploy window tonight at 22:00, any objections?"),
    ("alice", "Fine by me"),
    ("emma", "I'll be on call"),
    ("bob", "Can we include the search fix?"),
    ("dmitri", "If it's merged by 18:00, yes"),
    ("bob", "Merged 🙌"),
    ("carol", "Monitoring dashboards are ready"),
    ("dmitri", "Deploy done, all green"),
    ("alice", "Thanks all!"),
    ("emma", "Quiet night, no alerts"),
    (
        "dmitri",
        "Post-mortem for last week's outage is in the wiki",
    ),
    ("carol", "Read it — good write-up"),
    ("bob", "Should we add an alert for certificate expiry?"),
    ("dmitri", "Already on it, ticket OPS-212"),
    ("alice", "Standup moved to 9:45 tomorrow"),
];

const LUNCH_CREW: &[(&str, &str)] = &[
    ("grace", "Ramen today?"),
    ("hiro", "Yes please"),
    ("alice", "I'm in"),
    ("bob", "Running late, save me a seat"),
    ("grace", "Table for four at 12:30"),
    ("hiro", "Tomorrow tacos?"),
    ("alice", "Tacos are always a yes"),
    ("grace", "Friday: team lunch is on the company 🎉"),
    ("bob", "Best news this week"),
    ("hiro", "Who's booking?"),
    ("grace", "Done, 13:00 at Lumen"),
];

const COMMUNITY: &[(&str, &str)] = &[
    (
        "olga",
        "Welcome to the tgdesk community! Introduce yourselves 👋",
    ),
    ("farid", "Hi all, Farid from the integrations team"),
    ("isabel", "Isabel here, I run support in Lisbon"),
    ("alice", "Alice, support lead. Happy to be here"),
    ("jonas", "Is there a roadmap somewhere?"),
    ("olga", "Pinned in the channel, updated monthly"),
    ("keira", "How do people handle FLOOD_WAIT errors?"),
    (
        "farid",
        "Back off and retry after the given seconds, never hammer",
    ),
    ("keira", "Makes sense, thanks"),
    ("luis", "Webhooks are working great for us"),
    ("maya", "Same, we pipe them into our ticketing system"),
    ("bob", "Anyone using the long-poll API instead?"),
    ("noah", "We do, simpler behind our firewall"),
    ("carol", "Tip: keep the cursor, the log replays from it"),
    ("priya", "Is there a limit on API tokens per account?"),
    ("olga", "No hard limit, but revoke the ones you don't use"),
    ("quentin", "The new chat view is much faster"),
    ("rosa", "Agreed, scrolling long histories is smooth now"),
    ("sam", "Feature request: export a chat as CSV"),
    ("olga", "Noted! Adding it to the list"),
    ("isabel", "Our team onboarded 12 staff accounts this week"),
    ("farid", "Nice 🎉"),
    ("alice", "Any tips for QR login on shared screens?"),
    (
        "jonas",
        "Refresh the code every 30 seconds, it expires anyway",
    ),
    ("dmitri", "Reminder: maintenance window Sunday 02:00 UTC"),
    ("luis", "Thanks for the heads-up"),
    ("maya", "Is 2FA supported for staff accounts?"),
    ("carol", "Yes, the password prompt appears after the code"),
    ("noah", "Works nicely, tested yesterday"),
    (
        "priya",
        "What happens when a session is revoked from a phone?",
    ),
    (
        "olga",
        "The account shows as revoked right away and staff log in again",
    ),
    ("keira", "Good to know"),
    ("sam", "Love the dark mode btw"),
    ("rosa", "+1"),
    ("olga", "Thanks everyone, see you at the meetup!"),
];

const NEWS: &[&str] = &[
    "📣 Welcome to Company News — announcements only.",
    "The office is closed on Monday for the public holiday.",
    "New hires this month: please welcome Ines, Jonas and Priya!",
    "Q2 all-hands: Thursday 16:00 in the atrium and online.",
    "Reminder: submit expense reports by the 25th.",
    "The new support portal is live 🎉",
    "Fire drill on Wednesday at 11:00.",
    "Parking lot B is closed for resurfacing this week.",
    "Congratulations to the support team on a 98% satisfaction score!",
    "Security reminder: never share login codes, not even with IT.",
    "Summer party save-the-date: June 21st.",
    "Wi-Fi maintenance tonight 23:00–23:30.",
];

struct Builder {
    spec: WorldSpec,
}

impl Builder {
    fn user(&mut self, key: &str, first: &str, last: &str, username: Option<&str>) {
        self.spec.users.push(UserSpec {
            key: key.into(),
            first_name: first.into(),
            last_name: Some(last.into()),
            username: username.map(Into::into),
            ..UserSpec::default()
        });
    }

    fn account(&mut self, key: &str, first: &str, last: &str, phone: &str, home_dc: i32) {
        self.user(key, first, last, Some(&format!("{key}_demo")));
        if let Some(u) = self.spec.users.last_mut() {
            u.phone = Some(phone.into());
            u.home_dc = Some(home_dc);
        }
    }

    fn msg(
        &mut self,
        from: &str,
        to: Option<&str>,
        chat: Option<&str>,
        text: &str,
        ago: u32,
    ) -> usize {
        self.spec.messages.push(MessageSpec {
            from: from.into(),
            to: to.map(Into::into),
            chat: chat.map(Into::into),
            text: text.into(),
            ago_secs: ago,
            reply_to: None,
            edited_ago_secs: None,
        });
        self.spec.messages.len() - 1
    }

    /// Plays a two-party script ending `ago` seconds before the anchor.
    fn script(&mut self, account: &str, other: &str, script: &[(bool, Mark, &str)], ago: u32) {
        let n = script.len() as u32;
        let mut previous = None;
        for (k, (mine, mark, text)) in script.iter().enumerate() {
            let at = ago + (n - 1 - k as u32) * (90 + 37 * (k as u32 % 5));
            let (from, to) = if *mine {
                (account, other)
            } else {
                (other, account)
            };
            let i = self.msg(from, Some(to), None, text, at);
            let m = &mut self.spec.messages[i];
            match mark {
                R => m.reply_to = previous,
                E => m.edited_ago_secs = Some(at.saturating_sub(45)),
                N => {}
            }
            previous = Some(i);
        }
    }

    fn group_lines(&mut self, chat: &str, lines: &[(&str, &str)], ago: u32, step: u32) {
        let n = lines.len() as u32;
        for (k, (from, text)) in lines.iter().enumerate() {
            let at = ago + (n - 1 - k as u32) * step;
            let i = self.msg(from, None, Some(chat), text, at);
            if k % 6 == 5 {
                self.spec.messages[i].reply_to = Some(i - 1);
            }
        }
    }

    fn chat(
        &mut self,
        key: &str,
        kind: ChatKind,
        title: &str,
        username: Option<&str>,
        creator: &str,
        members: &[&str],
    ) {
        self.spec.chats.push(ChatSpec {
            key: key.into(),
            kind,
            title: title.into(),
            username: username.map(Into::into),
            creator: creator.into(),
            members: members.iter().map(|m| (*m).into()).collect(),
        });
    }
}

const CONTACTS: &[(&str, &str, &str)] = &[
    ("dmitri", "Dmitri", "Ivanov"),
    ("emma", "Emma", "Schulz"),
    ("farid", "Farid", "Haddad"),
    ("grace", "Grace", "Kim"),
    ("hiro", "Hiro", "Tanaka"),
    ("isabel", "Isabel", "Rossi"),
    ("jonas", "Jonas", "Berg"),
    ("keira", "Keira", "O'Neill"),
    ("luis", "Luis", "Ortega"),
    ("maya", "Maya", "Patel"),
    ("noah", "Noah", "Williams"),
    ("olga", "Olga", "Petrova"),
    ("priya", "Priya", "Nair"),
    ("quentin", "Quentin", "Roux"),
    ("rosa", "Rosa", "Lima"),
    ("sam", "Sam", "Taylor"),
];

const HOUR: u32 = 3_600;
const DAY: u32 = 86_400;

pub(crate) fn spec() -> WorldSpec {
    let mut b = Builder {
        spec: WorldSpec {
            seed: 0xDE40,
            ..WorldSpec::default()
        },
    };
    b.account("alice", "Alice", "Archer", "+9996610001", 1);
    b.account("bob", "Bob", "Builder", "+9996610002", 1);
    if let Some(bob) = b.spec.users.last_mut() {
        bob.password = Some(DEMO_PASSWORD.into());
        bob.password_hint = Some("demo-…".into());
    }
    b.account("carol", "Carol", "Chen", "+9996620003", 2);
    for (key, first, last) in CONTACTS {
        let username = format!("{key}_{}", last.to_ascii_lowercase().replace('\'', ""));
        b.user(key, first, last, Some(&username));
    }

    // Alice talks to everyone; the newest conversations first.
    for (i, (key, ..)) in CONTACTS.iter().enumerate() {
        let script = SCRIPTS[i % SCRIPTS.len()];
        b.script("alice", key, script, (i as u32) * 29 * HOUR + 20 * 60);
    }
    // Older threads with the same people, so histories are worth paging.
    for (i, (key, ..)) in CONTACTS.iter().take(10).enumerate() {
        let script = SCRIPTS[(i + 9) % SCRIPTS.len()];
        b.script("alice", key, script, (i as u32) * 29 * HOUR + 2 * DAY);
    }
    b.script("alice", "bob", SCRIPTS[16], 40 * 60);
    b.script("alice", "carol", SCRIPTS[8], 5 * HOUR);
    // Bob and Carol have smaller circles.
    for (i, (key, ..)) in CONTACTS.iter().take(8).enumerate() {
        b.script(
            "bob",
            key,
            SCRIPTS[(i + 5) % SCRIPTS.len()],
            (i as u32) * 41 * HOUR + 2 * HOUR,
        );
    }
    b.script("bob", "carol", SCRIPTS[14], 3 * DAY);
    for (i, (key, ..)) in CONTACTS.iter().skip(8).take(6).enumerate() {
        b.script(
            "carol",
            key,
            SCRIPTS[(i + 11) % SCRIPTS.len()],
            (i as u32) * 53 * HOUR + HOUR,
        );
    }

    b.chat(
        "ops",
        ChatKind::Group,
        "Ops Team",
        None,
        "dmitri",
        &["alice", "bob", "carol", "emma"],
    );
    b.group_lines("ops", OPS_TEAM, 2 * HOUR, 3 * HOUR);
    b.chat(
        "lunch",
        ChatKind::Group,
        "Lunch Crew",
        None,
        "grace",
        &["alice", "bob", "hiro"],
    );
    b.group_lines("lunch", LUNCH_CREW, 26 * HOUR, 5 * HOUR);
    let community_members: Vec<&str> = ["alice", "bob", "carol"]
        .into_iter()
        .chain(CONTACTS.iter().map(|c| c.0))
        .collect();
    b.chat(
        "community",
        ChatKind::Supergroup,
        "tgdesk Community",
        Some("tgdesk_community"),
        "olga",
        &community_members,
    );
    b.group_lines("community", COMMUNITY, 30 * 60, 9 * HOUR);
    b.chat(
        "news",
        ChatKind::Channel,
        "Company News",
        Some("company_news_demo"),
        "olga",
        &["alice", "bob", "carol", "dmitri", "emma"],
    );
    let n = NEWS.len() as u32;
    for (k, text) in NEWS.iter().enumerate() {
        let i = b.msg(
            "olga",
            None,
            Some("news"),
            text,
            4 * HOUR + (n - 1 - k as u32) * 38 * HOUR,
        );
        if k == 3 {
            b.spec.messages[i].edited_ago_secs = Some(3 * HOUR + (n - 1 - k as u32) * 38 * HOUR);
        }
    }
    b.spec
}
