//! Generated worlds for benchmarks: many accounts, each with its own
//! contacts, private chats, a basic group and a supergroup now and then, and
//! plausible chatter. Everything comes from the seed and constant tables, so
//! building 1,000 accounts costs little more than the allocations.

use super::messages::{Draft, store};
use super::model::{Account, Conv, Peer, SeedRng, State, Str, User};
use super::spec::{ChatKind, GenerateSpec, add_chat};

pub(crate) const FIRST_NAMES: &[&str] = &[
    "Ada", "Bruno", "Chen", "Daria", "Elif", "Femi", "Greta", "Hugo", "Ines", "Jamal", "Kaito",
    "Lena", "Mateo", "Nadia", "Omar", "Paula", "Quinn", "Rafael", "Sana", "Tomas", "Uma", "Viktor",
    "Wanda", "Xiu", "Yusuf", "Zora",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Almeida",
    "Berg",
    "Costa",
    "Dubois",
    "Eriksen",
    "Fischer",
    "Garcia",
    "Horvat",
    "Ivanova",
    "Jansen",
    "Kowalski",
    "Lindqvist",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Rossi",
    "Sato",
    "Tanaka",
    "Urban",
    "Varga",
    "Weber",
    "Yilmaz",
    "Zhang",
];

pub(crate) const PHRASES: &[&str] = &[
    "Morning! Did you see the new numbers?",
    "Yes, looking at them now.",
    "Can we move the call to 3pm?",
    "Works for me 👍",
    "I pushed the fix, please have a look when you can.",
    "Looks good, merging.",
    "The client asked for an update on the timeline.",
    "Let's aim for Friday then.",
    "Lunch today?",
    "Sure, the usual place at 12:30.",
    "Invoice #4312 is still open, can you check?",
    "Paid this morning, should clear tomorrow.",
    "The deploy went fine, no errors so far.",
    "Great, thanks for staying late.",
    "Who has the slides for Monday?",
    "I'll send them tonight.",
    "The printer on the 2nd floor is broken again.",
    "Ticket filed.",
    "Can you share the contract draft?",
    "Sent it to your email.",
    "Happy birthday! 🎉",
    "Thank you!!",
    "Running 10 minutes late, sorry.",
    "No worries.",
    "Do we have a budget for the new laptops?",
    "Finance says next quarter.",
    "The customer is happy with the demo.",
    "Nice work everyone.",
    "Reminder: team retro at 4.",
    "On my way.",
    "What was the wifi password again?",
    "It's on the fridge.",
];

fn pick(rng: &mut SeedRng, table: &'static [&'static str]) -> Str {
    let i = rng.below(table.len() as u64) as usize;
    Str::Borrowed(table.get(i).copied().unwrap_or("…"))
}

fn new_user(st: &mut State, rng: &mut SeedRng) -> i64 {
    let id = st.alloc_user_id();
    let user = User {
        id,
        first_name: pick(rng, FIRST_NAMES),
        last_name: Some(pick(rng, LAST_NAMES)),
        username: None,
        phone: None,
        about: None,
        account: None,
    };
    st.users.insert(id, user);
    id
}

/// Adds the generated accounts to `st`, history ending near `anchor`.
pub(crate) fn run(st: &mut State, g: GenerateSpec, anchor: i32) {
    let mut rng = SeedRng::new(st.seed);
    for i in 0..g.accounts {
        let phone = format!("999661{:05}", i + 1);
        if st.phones.contains_key(&phone) {
            continue;
        }
        let account = new_user(st, &mut rng);
        let username = format!("acct{:05}", i + 1);
        if !st.usernames.contains_key(&username) {
            st.usernames.insert(username.clone(), Peer::User(account));
        }
        if let Some(u) = st.users.get_mut(&account) {
            u.phone = Some(phone.clone());
            u.username = Some(username);
            u.account = Some(Account {
                home_dc: 1,
                password: None,
            });
        }
        st.phones.insert(phone, account);

        for j in 0..g.chats_per_account {
            // Chat j was last active about j·3 hours before the anchor.
            let last = anchor
                - i32::try_from(j * 3 * 3600).unwrap_or(i32::MAX / 2)
                - i32::try_from(rng.below(3600)).unwrap_or(0);
            let (conv, speakers) = match j % 10 {
                8 => {
                    let others = [new_user(st, &mut rng), new_user(st, &mut rng)];
                    let peer = add_chat(
                        st,
                        ChatKind::Group,
                        Str::Owned(format!("Project {}", j + 1)),
                        None,
                        account,
                        &others,
                        last - 30 * 86_400,
                    );
                    let Peer::Chat(id) = peer else { continue };
                    (Conv::Chat(id), vec![account, others[0], others[1]])
                }
                9 => {
                    let others = [
                        new_user(st, &mut rng),
                        new_user(st, &mut rng),
                        new_user(st, &mut rng),
                    ];
                    let peer = add_chat(
                        st,
                        ChatKind::Supergroup,
                        Str::Owned(format!("Community {}", j + 1)),
                        None,
                        others[0],
                        &[account, others[1], others[2]],
                        last - 30 * 86_400,
                    );
                    let Peer::Channel(id) = peer else { continue };
                    (
                        Conv::Channel(id),
                        vec![account, others[0], others[1], others[2]],
                    )
                }
                _ => {
                    let contact = new_user(st, &mut rng);
                    (Conv::Private(account, contact), vec![account, contact])
                }
            };
            let n = g.messages_per_chat;
            let mut date = last;
            let mut dates = Vec::with_capacity(n);
            for _ in 0..n {
                dates.push(date);
                date -= 60 + i32::try_from(rng.below(1800)).unwrap_or(0);
            }
            let mut previous = None;
            for (k, &date) in dates.iter().rev().enumerate() {
                let from = speakers[rng.below(speakers.len() as u64) as usize];
                let reply_to = if k % 7 == 6 { previous } else { None };
                let lid = store(
                    st,
                    Draft {
                        conv,
                        from,
                        text: pick(&mut rng, PHRASES),
                        reply_to,
                        entities: None,
                        date,
                    },
                );
                if k % 11 == 10
                    && let Some(m) = st.msgs.get_mut(lid as usize)
                {
                    m.edit_date = Some(date + 30);
                }
                previous = Some(lid);
            }
        }
    }
}
