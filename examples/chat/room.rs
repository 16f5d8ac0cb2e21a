//! The room: who is online, and one outbox per member. Everything a member
//! says goes to every member (the sender too, so all pages show one order);
//! a member whose outbox holds too much is dropped, not waited for.

use crate::events::{self, Limits};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, oneshot};
use wsock::CloseCode;

/// A member's ticket: which member, for `say`, `share`, `kick` and `leave`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct MemberId(u64);

/// A message on its way to one member: shared, not copied, between them.
#[derive(Debug, Clone)]
pub enum Item {
    Text(Arc<str>),
    Binary(Arc<[u8]>),
}

impl Item {
    fn len(&self) -> usize {
        match self {
            Item::Text(text) => text.len(),
            Item::Binary(bytes) => bytes.len(),
        }
    }
}

/// Why the server ends a member's connection: the close frame it sends.
#[derive(Debug, Clone, Copy)]
pub struct Kick {
    pub code: CloseCode,
    pub reason: &'static str,
}

/// The receiving end of a member's outbox, for the task that writes to it.
#[derive(Debug)]
pub struct Inbox {
    pub items: mpsc::UnboundedReceiver<Item>,
    /// Fires once when the member is to be closed.
    pub kick: oneshot::Receiver<Kick>,
    queued: Arc<AtomicUsize>,
}

impl Inbox {
    /// Counts `item` as written: it no longer holds the outbox's budget.
    pub fn written(&self, item: &Item) {
        self.queued.fetch_sub(item.len(), Ordering::Relaxed);
    }
}

/// Why a page could not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    NameTaken,
    Full,
}

impl JoinError {
    pub fn kick(self) -> Kick {
        match self {
            JoinError::NameTaken => Kick {
                code: CloseCode::POLICY_VIOLATION,
                reason: "that name is taken",
            },
            JoinError::Full => Kick {
                // 1013 "Try Again Later" (IANA registry).
                code: CloseCode(1013),
                reason: "the room is full",
            },
        }
    }
}

pub struct Room {
    limits: Limits,
    max_members: usize,
    /// Bytes that may wait for one member before it is dropped.
    outbox_bytes: usize,
    members: Mutex<Members>,
}

#[derive(Default)]
struct Members {
    next_id: u64,
    /// In order of joining.
    by_id: BTreeMap<MemberId, Member>,
}

struct Member {
    name: String,
    items: mpsc::UnboundedSender<Item>,
    queued: Arc<AtomicUsize>,
    /// Taken when the member is kicked; a kicked member hears nothing more.
    kick: Option<oneshot::Sender<Kick>>,
    /// Why it was kicked, for the others when it leaves.
    kicked_for: Option<&'static str>,
}

/// The close sent to a member whose outbox is over its budget.
const TOO_SLOW: Kick = Kick {
    code: CloseCode::POLICY_VIOLATION,
    reason: "too slow: too much waiting to be sent to you",
};

impl Room {
    pub fn new(limits: Limits, max_members: usize, outbox_bytes: usize) -> Room {
        Room {
            limits,
            max_members,
            outbox_bytes,
            members: Mutex::new(Members::default()),
        }
    }

    /// Adds `name`, tells the others, and returns its ticket, its inbox and
    /// its welcome (who else is online).
    pub fn join(&self, name: &str) -> Result<(MemberId, Inbox, String), JoinError> {
        let mut members = self.lock();
        if members.by_id.values().any(|m| m.name == name) {
            return Err(JoinError::NameTaken);
        }
        if members.by_id.len() >= self.max_members {
            return Err(JoinError::Full);
        }
        let online: Vec<&str> = members.by_id.values().map(|m| m.name.as_str()).collect();
        let welcome = events::welcome(name, &online, self.limits);
        self.broadcast(&mut members, &[Item::Text(events::joined(name).into())]);
        let id = MemberId(members.next_id);
        members.next_id += 1;
        let (items, items_rx) = mpsc::unbounded_channel();
        let (kick, kick_rx) = oneshot::channel();
        let queued = Arc::new(AtomicUsize::new(0));
        members.by_id.insert(
            id,
            Member {
                name: name.to_owned(),
                items,
                queued: Arc::clone(&queued),
                kick: Some(kick),
                kicked_for: None,
            },
        );
        let inbox = Inbox {
            items: items_rx,
            kick: kick_rx,
            queued,
        };
        Ok((id, inbox, welcome))
    }

    /// A chat line from `id` to everyone.
    pub fn say(&self, id: MemberId, text: &str) {
        let mut members = self.lock();
        let Some(from) = members.speaker(id) else {
            return;
        };
        let item = Item::Text(events::text(from, text).into());
        self.broadcast(&mut members, &[item]);
    }

    /// A file from `id` to everyone: its announcement, then its bytes.
    pub fn share(&self, id: MemberId, bytes: Vec<u8>) {
        let mut members = self.lock();
        let Some(from) = members.speaker(id) else {
            return;
        };
        let header = Item::Text(events::file(from, bytes.len()).into());
        self.broadcast(&mut members, &[header, Item::Binary(bytes.into())]);
    }

    /// Closes `id`'s connection with `kick`; it hears nothing more.
    pub fn kick(&self, id: MemberId, kick: Kick) {
        if let Some(member) = self.lock().by_id.get_mut(&id) {
            member.kick_with(kick);
        }
    }

    /// Removes `id` and tells the others why when it did not just close:
    /// the reason it was kicked for, or else `why`.
    pub fn leave(&self, id: MemberId, why: Option<&str>) {
        let mut members = self.lock();
        if let Some(member) = members.by_id.remove(&id) {
            let why = member.kicked_for.or(why);
            let item = Item::Text(events::left(&member.name, why).into());
            self.broadcast(&mut members, &[item]);
        }
    }

    /// Queues `items` for every member that is not kicked; drops a member
    /// whose outbox would go over its budget.
    fn broadcast(&self, members: &mut Members, items: &[Item]) {
        let size: usize = items.iter().map(Item::len).sum();
        for member in members.by_id.values_mut() {
            if member.kick.is_none() {
                continue;
            }
            let queued = member.queued.fetch_add(size, Ordering::Relaxed) + size;
            if queued > self.outbox_bytes {
                member.queued.fetch_sub(size, Ordering::Relaxed);
                member.kick_with(TOO_SLOW);
                continue;
            }
            for item in items {
                // A member whose writer has ended is about to leave.
                let _ = member.items.send(item.clone());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Members {
    /// The name of `id` if it may still speak (present and not kicked).
    fn speaker(&self, id: MemberId) -> Option<&str> {
        let member = self.by_id.get(&id)?;
        member.kick.as_ref()?;
        Some(&member.name)
    }
}

impl Member {
    fn kick_with(&mut self, kick: Kick) {
        if let Some(sender) = self.kick.take() {
            self.kicked_for = Some(kick.reason);
            let _ = sender.send(kick);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_message: 100,
        max_file: 90,
        rate_per_second: 5,
    };

    fn texts(inbox: &mut Inbox) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(item) = inbox.items.try_recv() {
            inbox.written(&item);
            match item {
                Item::Text(text) => seen.push(text.to_string()),
                Item::Binary(bytes) => seen.push(format!("{} bytes", bytes.len())),
            }
        }
        seen
    }

    #[test]
    fn everyone_hears_everything_in_one_order() {
        let room = Room::new(LIMITS, 10, 1000);
        let (a, mut a_inbox, welcome) = room.join("a").unwrap();
        assert!(welcome.contains(r#""online":[]"#));
        let (b, mut b_inbox, welcome) = room.join("b").unwrap();
        assert!(welcome.contains(r#""online":["a"]"#));
        assert_eq!(room.join("a").unwrap_err(), JoinError::NameTaken);
        room.say(b, "hi");
        room.share(a, vec![7; 3]);
        room.leave(b, None);
        let file = r#"{"type":"file","from":"a","size":3}"#;
        let hi = r#"{"type":"text","from":"b","text":"hi"}"#;
        assert_eq!(
            texts(&mut a_inbox),
            [
                r#"{"type":"join","name":"b"}"#,
                hi,
                file,
                "3 bytes",
                r#"{"type":"leave","name":"b"}"#
            ]
        );
        assert_eq!(texts(&mut b_inbox), [hi, file, "3 bytes"]);
    }

    #[test]
    fn a_member_over_its_budget_is_kicked_and_hears_nothing_more() {
        let room = Room::new(LIMITS, 10, 100);
        let (slow, mut slow_inbox, _) = room.join("slow").unwrap();
        let (fast, mut fast_inbox, _) = room.join("fast").unwrap();
        let _ = texts(&mut slow_inbox);
        room.share(fast, vec![0; 60]);
        let _ = texts(&mut fast_inbox);
        room.share(fast, vec![0; 60]);
        assert_eq!(slow_inbox.kick.try_recv().unwrap().reason, TOO_SLOW.reason);
        assert_eq!(
            texts(&mut fast_inbox).len(),
            2,
            "the fast member is not held back"
        );
        room.say(slow, "ignored");
        assert!(
            texts(&mut fast_inbox).is_empty(),
            "a kicked member cannot speak"
        );
        assert_eq!(
            texts(&mut slow_inbox).len(),
            2,
            "only what came before the kick"
        );
    }

    #[test]
    fn a_full_room_refuses() {
        let room = Room::new(LIMITS, 1, 100);
        let _first = room.join("a").unwrap();
        assert_eq!(room.join("b").unwrap_err(), JoinError::Full);
    }
}
