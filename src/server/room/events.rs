//! App events: the room's messages whose kinds the app defines. They go out at once to
//! their audience, here and (through the bus) on every node that holds a member of the
//! room, and are never stored, numbered, replayed or coalesced.

use super::{check_target, fan_out, Audience, ChatError, Room};
use crate::protocol::{ChatTarget, ServerMsg};
use crate::server::bus::event::BusEvent;
use serde_json::Value;
use uuid::Uuid;

impl Audience {
    /// Who an event from `from` (`None`: the app's backend) to `to` goes to: unlike a
    /// direct chat, an event to one user is not copied back to its sender.
    fn of_event(from: Option<Uuid>, to: ChatTarget) -> Audience {
        match (to, from) {
            (ChatTarget::Room, _) | (ChatTarget::Others, None) => Audience::Room,
            (ChatTarget::Others, Some(sender)) => Audience::Others(sender),
            (ChatTarget::User(target), _) => Audience::Pair(target, target),
        }
    }
}

impl Room {
    /// Sends an app event from `from` (a member on this node, or `None` for the app's
    /// backend) to `to`, and publishes it for the other nodes. A direct event must name
    /// someone in the room (on any node).
    pub fn event(&self, from: Option<Uuid>, name: String, data: Value, to: ChatTarget) -> Result<(), ChatError> {
        let members = self.lock();
        if let Some(id) = from {
            // A member another node has taken over, or that has moved on, cannot send here.
            members.get(&id).filter(|m| m.is_here()).ok_or(ChatError::NotHere)?;
        }
        check_target(to, &members)?;
        let msg = ServerMsg::Event { name, data, from };
        fan_out(&members, Audience::of_event(from, to), &msg);
        if let (ServerMsg::Event { name, data, from }, Some(_)) = (msg, self.bus.node()) {
            self.bus.publish(&self.name, BusEvent::Event { name, data, from, to }, None);
        }
        Ok(())
    }

    /// Delivers an event another node published to this node's members of its audience.
    pub(in crate::server) fn remote_event(&self, name: String, data: Value, from: Option<Uuid>, to: ChatTarget) {
        let members = self.lock();
        fan_out(&members, Audience::of_event(from, to), &ServerMsg::Event { name, data, from });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_reaches_its_audience_and_a_direct_one_only_its_target() {
        let (a, b, c) = (Uuid::from_u128(1), Uuid::from_u128(2), Uuid::from_u128(3));
        let others = Audience::of_event(Some(a), ChatTarget::Others);
        assert!(!others.includes(a) && others.includes(b));
        let direct = Audience::of_event(Some(a), ChatTarget::User(b));
        assert!(!direct.includes(a) && direct.includes(b) && !direct.includes(c));
        let from_the_app = Audience::of_event(None, ChatTarget::Others);
        assert!(from_the_app.includes(a) && from_the_app.includes(c));
        assert!(Audience::of_event(Some(a), ChatTarget::Room).includes(a));
    }
}
