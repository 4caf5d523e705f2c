//! A room on a cluster node: chats the bus delivers (this node's own included, which
//! [`super::sequencer`] had Redis number), the acks that wait for them, and the other
//! nodes' cursor moves.

use super::{encode, Member, PendingAck, Room, SEQ_UNKNOWN};
use crate::protocol::{ChatMessage, Move, Point, ServerMsg};
use crate::server::outbox::Outbox;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use uuid::Uuid;

impl Room {
    /// Moves other nodes' users (those `node` holds, shared ones held here too) and tells
    /// this node's members.
    pub(in crate::server) fn remote_moves(&self, node: Uuid, moves: &[Move]) {
        {
            let mut members = self.lock();
            for mv in moves {
                let Some(member) = members.get_mut(&mv.id).filter(|m| m.held_by(node)) else { continue };
                member.user.cursor = Some(Point { x: mv.x, y: mv.y });
                self.board.put(mv);
            }
        }
        self.board.wake();
    }

    /// Acks `reference` on `outbox` once chat `seq` has been delivered here (now, if it
    /// has). The members guard proves the room lock is held, which orders this against
    /// [`Room::deliver`].
    pub(super) fn ack_after(
        &self,
        _locked: &HashMap<Uuid, Member>,
        seq: u64,
        outbox: Option<Arc<Outbox>>,
        reference: Option<&str>,
    ) {
        let (Some(reference), Some(outbox)) = (reference, outbox) else { return };
        let delivered = self.seq.load(Ordering::Relaxed);
        if seq <= delivered || delivered == SEQ_UNKNOWN {
            outbox.push(encode(&ServerMsg::Ack { reference: reference.to_owned(), seq }));
        } else {
            let pending = PendingAck { seq, to: outbox, reference: reference.to_owned() };
            self.pending_acks.lock().unwrap_or_else(|p| p.into_inner()).push(pending);
        }
    }

    /// Sends every ack still waiting: the room is being dropped, so its last members (the
    /// senders among them) have left it and order no longer matters; the chats are
    /// numbered, and this node stores them when they arrive.
    pub(in crate::server) fn flush_acks(&self) {
        for ack in self.pending_acks.lock().unwrap_or_else(|p| p.into_inner()).drain(..) {
            ack.to.push(encode(&ServerMsg::Ack { reference: ack.reference, seq: ack.seq }));
        }
    }

    /// Fans out a chat the bus numbered (on any node), unless it was already delivered,
    /// and queues it for the store. Called in seq order.
    pub(in crate::server) fn deliver(
        &self,
        members: &HashMap<Uuid, Member>,
        chat: ChatMessage,
        reference: Option<&str>,
    ) {
        // Redis holds it and every member gets it now; a failure to store it only means a
        // later replay from this node's store would miss it (the writer logs it). An
        // older one fills a hole in the store (OR IGNORE).
        self.store.append_later(&self.name, &chat, reference);
        let delivered = self.seq.load(Ordering::Relaxed);
        if delivered == SEQ_UNKNOWN || chat.seq > delivered {
            self.fan_out_chat(members, chat);
        }
    }
}
