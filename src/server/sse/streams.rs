//! The open event streams of this node, by token: where a POST finds the connection its
//! frames are for.
//!
//! A token is secret (it is all a POST needs) and names the node that holds the stream,
//! so a node that gets a POST for a stream it does not hold knows where to send it.

use crate::server::bus::forward::{Carried, Outcome};
use crate::server::connection::Incoming;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::mpsc;
use uuid::Uuid;

/// Frames a stream's connection may have waiting before a POST is told 429: what a client
/// sends between two reads of the connection, with room to spare.
pub const INBOX_FRAMES: usize = 64;

/// Hex digits of a token that name its node.
const NODE_DIGITS: usize = 32;

/// The streams this node holds.
#[derive(Default)]
pub struct Streams {
    open: Mutex<HashMap<String, mpsc::Sender<Incoming>>>,
}

/// A stream's place in [`Streams`]; dropping it forgets the token.
pub struct Registration {
    streams: Arc<Streams>,
    token: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.streams.lock().remove(&self.token);
    }
}

impl Streams {
    /// A new stream held by `node`: its token, what POSTs deliver to it, and its place.
    pub fn open(self: &Arc<Self>, node: Uuid) -> (String, mpsc::Receiver<Incoming>, Registration) {
        // 244 random bits after the node's id.
        let token = format!("{}{}{}", node.simple(), Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let (tx, rx) = mpsc::channel(INBOX_FRAMES);
        self.lock().insert(token.clone(), tx);
        let registration = Registration { streams: self.clone(), token: token.clone() };
        (token, rx, registration)
    }

    /// Hands `frames` to the stream of `token`, all of them or none (none at all: whether
    /// the stream is there).
    pub fn deliver(&self, token: &str, frames: Vec<Carried>) -> Outcome {
        let Some(tx) = self.lock().get(token).cloned() else { return Outcome::NoStream };
        if frames.is_empty() {
            return if tx.is_closed() { Outcome::NoStream } else { Outcome::Taken };
        }
        let permits = match tx.try_reserve_many(frames.len()) {
            Ok(permits) => permits,
            Err(mpsc::error::TrySendError::Full(())) => return Outcome::Full,
            Err(mpsc::error::TrySendError::Closed(())) => return Outcome::NoStream,
        };
        for (permit, frame) in permits.zip(frames) {
            permit.send(incoming(frame));
        }
        Outcome::Taken
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, mpsc::Sender<Incoming>>> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a carried frame is to the connection: what a socket's frame would have been.
fn incoming(frame: Carried) -> Incoming {
    match frame {
        Carried::Text(text) => Incoming::Text(text.into()),
        Carried::TooBig => Incoming::TooBig,
        Carried::Goodbye => Incoming::Closed { goodbye: true },
    }
}

/// The node a token names, if it is well formed.
pub fn node_of(token: &str) -> Option<Uuid> {
    Uuid::try_parse(token.get(..NODE_DIGITS)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_node_and_is_forgotten_with_its_registration() {
        let streams = Arc::new(Streams::default());
        let node = Uuid::new_v4();
        let (token, mut rx, registration) = streams.open(node);
        assert_eq!(node_of(&token), Some(node));
        assert_eq!(streams.deliver(&token, vec![Carried::Text("hi".into()), Carried::Goodbye]), Outcome::Taken);
        assert!(matches!(rx.try_recv(), Ok(Incoming::Text(text)) if text.as_str() == "hi"));
        assert!(matches!(rx.try_recv(), Ok(Incoming::Closed { goodbye: true })));
        assert_eq!(streams.deliver(&token, vec![]), Outcome::Taken);
        drop(registration);
        assert_eq!(streams.deliver(&token, vec![]), Outcome::NoStream);
        assert_eq!(streams.deliver(&token, vec![Carried::TooBig]), Outcome::NoStream);
        assert_eq!(node_of("short"), None);
    }

    #[test]
    fn a_full_inbox_takes_nothing_of_a_post() {
        let streams = Arc::new(Streams::default());
        let (token, mut rx, _registration) = streams.open(Uuid::new_v4());
        let many = |n| (0..n).map(|_| Carried::Text("{}".into())).collect::<Vec<_>>();
        assert_eq!(streams.deliver(&token, many(INBOX_FRAMES - 1)), Outcome::Taken);
        assert_eq!(streams.deliver(&token, many(2)), Outcome::Full);
        assert_eq!(streams.deliver(&token, many(1)), Outcome::Taken);
        let mut taken = 0;
        while rx.try_recv().is_ok() {
            taken += 1;
        }
        assert_eq!(taken, INBOX_FRAMES);
    }
}
