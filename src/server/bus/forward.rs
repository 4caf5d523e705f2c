//! POSTs of the fallback transport that reach a node which does not hold their stream:
//! the node sends their frames to the one that does, through its channel, and waits for
//! the answer, so that nothing behind a load balancer needs sticky sessions.
//!
//! Every node subscribes to its own channel ([`super::keys::node_channel`]). A request
//! carries an id and the asking node; the answer comes back on the asker's channel with
//! that id. A request is published from one connection and read by one subscriber, so a
//! client's POSTs (one at a time, each waiting for its answer) arrive in their order.

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Requests from other nodes waiting for this node's streams at most; past it a request
/// is dropped and its asker times out (503), as it would with this node unreachable.
const DELIVERIES: usize = 1024;

/// One client frame, as the bus carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "text", rename_all = "snake_case")]
pub enum Carried {
    /// A client message.
    Text(String),
    /// A body over the frame limit: the stream ends with 1009.
    TooBig,
    /// The client's goodbye.
    Goodbye,
}

/// What became of forwarded frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The stream took every frame.
    Taken,
    /// No such stream: it ended, or never was.
    NoStream,
    /// The stream has too many frames waiting; it took none.
    Full,
}

/// A message on a node's channel.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NodeMessage {
    /// Frames for the stream of `token`, which the receiving node holds.
    /// `deadline_ms` (unix ms): after it the asker has given up, and the frames are
    /// dropped.
    Deliver { id: u64, from: Uuid, token: String, frames: Vec<Carried>, deadline_ms: u64 },
    /// What became of the asker's request `id`.
    Answer { id: u64, outcome: Outcome },
}

/// Frames another node sent for one of this node's streams, and whom to answer.
#[derive(Debug)]
pub struct Delivery {
    pub id: u64,
    pub from: Uuid,
    pub token: String,
    pub frames: Vec<Carried>,
    pub deadline_ms: u64,
}

/// This node's side of forwarding: its requests waiting for answers, and the deliveries
/// it got, until the fallback transport takes them.
pub struct Forwarding {
    next: AtomicU64,
    waiting: Mutex<HashMap<u64, oneshot::Sender<Outcome>>>,
    deliveries: mpsc::Sender<Delivery>,
    taken: Mutex<Option<mpsc::Receiver<Delivery>>>,
}

impl Default for Forwarding {
    fn default() -> Self {
        let (deliveries, taken) = mpsc::channel(DELIVERIES);
        Forwarding { next: AtomicU64::new(1), waiting: Mutex::default(), deliveries, taken: Mutex::new(Some(taken)) }
    }
}

/// A request waiting for its answer; dropping it forgets the request.
pub struct Waiting<'a> {
    pub id: u64,
    forwarding: &'a Forwarding,
    pub answer: oneshot::Receiver<Outcome>,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.forwarding.lock_waiting().remove(&self.id);
    }
}

impl Forwarding {
    /// A new request's id and where its answer will arrive.
    pub fn ask(&self) -> Waiting<'_> {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, answer) = oneshot::channel();
        self.lock_waiting().insert(id, tx);
        Waiting { id, forwarding: self, answer }
    }

    /// Handles a message read off this node's channel.
    pub fn on_message(&self, payload: &[u8]) {
        match serde_json::from_slice::<NodeMessage>(payload) {
            Ok(NodeMessage::Answer { id, outcome }) => {
                if let Some(waiting) = self.lock_waiting().remove(&id) {
                    let _ = waiting.send(outcome);
                }
            }
            Ok(NodeMessage::Deliver { id, from, token, frames, deadline_ms }) => {
                if self.deliveries.try_send(Delivery { id, from, token, frames, deadline_ms }).is_err() {
                    tracing::warn!(%from, "dropped frames forwarded to this node: too many waiting");
                }
            }
            Err(err) => tracing::warn!("unreadable message on this node's channel: {err}"),
        }
    }

    /// The deliveries from other nodes (once: the fallback transport takes them).
    pub fn take_deliveries(&self) -> Option<mpsc::Receiver<Delivery>> {
        self.taken.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, HashMap<u64, oneshot::Sender<Outcome>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reaches_its_request_and_a_delivery_waits_for_the_transport() {
        let forwarding = Forwarding::default();
        let mut waiting = forwarding.ask();
        let answer = NodeMessage::Answer { id: waiting.id, outcome: Outcome::Full };
        forwarding.on_message(&serde_json::to_vec(&answer).unwrap());
        assert_eq!(waiting.answer.try_recv(), Ok(Outcome::Full));
        drop(waiting);
        assert!(forwarding.lock_waiting().is_empty());

        let from = Uuid::new_v4();
        let frames = vec![Carried::Text("{\"type\":\"ping\"}".into()), Carried::Goodbye];
        let deliver = NodeMessage::Deliver { id: 7, from, token: "t".into(), frames: frames.clone(), deadline_ms: 9 };
        forwarding.on_message(&serde_json::to_vec(&deliver).unwrap());
        forwarding.on_message(b"not json");
        let mut deliveries = forwarding.take_deliveries().unwrap();
        let got = deliveries.try_recv().unwrap();
        assert_eq!((got.id, got.from, got.token.as_str(), got.frames, got.deadline_ms), (7, from, "t", frames, 9));
        assert!(forwarding.take_deliveries().is_none());
    }
}
