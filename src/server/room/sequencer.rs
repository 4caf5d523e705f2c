//! The one chat pipeline: a chat is checked and drafted the same way everywhere
//! ([`Room::chat`]), then numbered, stored and delivered by a [`Sequencer`]. On a single
//! node that is [`InProcess`]: the room numbers it and the store's writer delivers it once
//! it is committed. On a cluster node it is the bus's [`Link`]: a Redis script numbers and
//! publishes it, and every node delivers it from its subscription. Which one runs is the
//! [`Bus`]'s business; nothing else asks.

use super::{ChatError, Room};
use crate::protocol::ChatMessage;
use crate::server::bus::link::Link;
use crate::server::bus::Bus;
use crate::server::outbox::Outbox;
use crate::server::store::writer::{Done, Write};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A chat that passed every check and waits for its seq.
pub struct Draft {
    /// The chat, `seq` still 0.
    pub msg: ChatMessage,
    pub reference: Option<String>,
    /// The sender's queue, for its ack (or the store's refusal).
    pub outbox: Option<Arc<Outbox>>,
    /// The latest seq the room has delivered: a sequencer never numbers below it.
    pub floor: u64,
}

/// Numbers a drafted chat of a room, stores it, and sees to its delivery and its
/// sender's ack (after the chat, in the sender's queue). Returns its seq.
pub trait Sequencer {
    fn number(&self, room: &Arc<Room>, draft: Draft) -> impl Future<Output = Result<u64, ChatError>> + Send;
}

/// This process numbers its rooms' chats, backed by the store.
pub struct InProcess;

impl Sequencer for InProcess {
    async fn number(&self, room: &Arc<Room>, draft: Draft) -> Result<u64, ChatError> {
        room.number_here(draft)
    }
}

impl Sequencer for Link {
    async fn number(&self, room: &Arc<Room>, draft: Draft) -> Result<u64, ChatError> {
        let Draft { msg, reference, outbox, floor } = draft;
        let numbered = self.chat(room.name(), &msg, reference.as_deref(), floor).await?;
        room.ack_after(&room.lock(), numbered.seq, outbox, reference.as_deref());
        Ok(numbered.seq)
    }
}

impl Sequencer for Bus {
    async fn number(&self, room: &Arc<Room>, draft: Draft) -> Result<u64, ChatError> {
        match self {
            Bus::Local => InProcess.number(room, draft).await,
            Bus::Redis(link) => link.number(room, draft).await,
        }
    }
}

impl Room {
    /// [`InProcess`] numbering: under the room lock, the next seq, queued for the store;
    /// the writer delivers it ([`Room::committed`]) once its batch is on disk.
    fn number_here(self: &Arc<Self>, draft: Draft) -> Result<u64, ChatError> {
        let Draft { mut msg, reference, outbox, .. } = draft;
        let members = self.lock();
        let generation = self.sync_generation();
        let seq = self.next_seq()?;
        msg.seq = seq;
        let done: Done = {
            let (room, chat, reference, sender) = (self.clone(), msg.clone(), reference.clone(), outbox.clone());
            Box::new(move |result| room.committed(chat, reference, sender, result))
        };
        let write =
            Write::Chat { room: self.name.clone(), msg, reference: reference.clone(), generation: Some(generation) };
        self.store.submit(write, Some(done))?;
        self.numbered.store(seq, Ordering::Relaxed);
        self.ack_after(&members, seq, outbox, reference.as_deref());
        Ok(seq)
    }
}
