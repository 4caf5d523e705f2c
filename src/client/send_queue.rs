//! Frames sent while the socket is not open, kept in order for the next `open`.
//!
//! Cursor moves are the one exception to keeping everything: a queued move is replaced by
//! a newer one when nothing was queued after it, since only the latest position matters.

use std::collections::VecDeque;

/// Most frames kept while offline; past it the oldest are dropped.
pub const QUEUE_LIMIT: usize = 1000;

struct Queued {
    text: String,
    is_cursor: bool,
}

/// The frames waiting for the socket, oldest first.
#[derive(Default)]
pub struct SendQueue {
    frames: VecDeque<Queued>,
}

impl SendQueue {
    pub fn push(&mut self, text: String, is_cursor: bool) {
        if is_cursor && self.frames.back().is_some_and(|last| last.is_cursor) {
            self.frames.pop_back();
        }
        if self.frames.len() >= QUEUE_LIMIT {
            self.frames.pop_front();
        }
        self.frames.push_back(Queued { text, is_cursor });
    }

    /// Sends frames through `send` in order until it refuses one, which stays first.
    pub fn flush(&mut self, mut send: impl FnMut(&str) -> bool) {
        while let Some(first) = self.frames.front() {
            if !send(&first.text) {
                break;
            }
            self.frames.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_cursor_is_replaced_only_by_the_next_cursor() {
        let mut queue = SendQueue::default();
        queue.push("c1".into(), true);
        queue.push("c2".into(), true);
        queue.push("chat".into(), false);
        queue.push("c3".into(), true);
        let mut sent = Vec::new();
        queue.flush(|t| {
            sent.push(t.to_owned());
            sent.len() < 2
        });
        assert_eq!(sent, ["c2", "chat"]);
        let mut rest = Vec::new();
        queue.flush(|t| {
            rest.push(t.to_owned());
            true
        });
        assert_eq!(rest, ["chat", "c3"], "the refused frame stays first");
    }
}
