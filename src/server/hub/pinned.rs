//! A room held open for the app's backend: the HTTP API publishes into rooms whether or
//! not anyone is in them, and a room it works on must not be dropped (and opened again
//! under the same name, numbering from scratch) while it does.

use super::{drop_if_empty, Hub};
use crate::server::room::Room;
use std::ops::Deref;
use std::sync::Arc;

/// A live room that stays in the registry until this is dropped; then it goes if no one
/// is in it and nothing of it is in flight.
pub struct PinnedRoom {
    hub: Arc<Hub>,
    room: Arc<Room>,
}

impl Hub {
    /// The room called `name`, created if no one is in it, held open by the guard.
    pub fn pin(self: &Arc<Self>, name: &str) -> PinnedRoom {
        let mut registry = self.lock();
        let room = self.room_in(&mut registry, name);
        // Under the registry lock, which every drop takes: no drop can miss the pin.
        room.pin();
        PinnedRoom { hub: self.clone(), room }
    }
}

impl Deref for PinnedRoom {
    type Target = Arc<Room>;

    fn deref(&self) -> &Arc<Room> {
        &self.room
    }
}

impl Drop for PinnedRoom {
    fn drop(&mut self) {
        let mut registry = self.hub.lock();
        self.room.unpin();
        drop_if_empty(&mut registry, &self.room);
    }
}
