//! "<name> is typing…": the app event this page sends while its user types a chat, and
//! who it shows as typing from the ones it receives.
//!
//! A typing page sends at most one `typing` event every [`SEND_EVERY`]; a user is shown as
//! typing until [`SHOWN_FOR`] passes without another, or until their chat arrives or they
//! leave. Each new event restarts the user's timer; a timer that a later event replaced
//! finds its mark changed and leaves the user shown.

use leptos::leptos_dom::helpers::set_timeout;
use leptos::prelude::*;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// The app event's name.
pub const TYPING_EVENT: &str = "typing";
/// How often a typing page tells the room, at most.
pub const SEND_EVERY: Duration = Duration::from_secs(2);
/// How long a user is shown as typing after their last event.
pub const SHOWN_FOR: Duration = Duration::from_secs(4);

/// Who is typing, as this page sees it.
#[derive(Clone, Copy)]
pub struct Typing {
    /// The users shown as typing, in the order they started.
    pub who: RwSignal<Vec<Uuid>>,
    /// Each shown user's latest event, so only the newest timer hides them.
    marks: StoredValue<HashMap<Uuid, u64>>,
    next_mark: StoredValue<u64>,
}

impl Typing {
    pub fn new() -> Self {
        Typing {
            who: RwSignal::new(Vec::new()),
            marks: StoredValue::new(HashMap::new()),
            next_mark: StoredValue::new(0),
        }
    }

    /// `id` sent a typing event: show them for [`SHOWN_FOR`] from now.
    pub fn heard(&self, id: Uuid) {
        let mark = self.next_mark.get_value();
        self.next_mark.set_value(mark + 1);
        self.marks.update_value(|marks| {
            marks.insert(id, mark);
        });
        if self.who.with_untracked(|who| !who.contains(&id)) {
            self.who.update(|who| who.push(id));
        }
        let this = *self;
        let _ = set_timeout(
            move || {
                if this.marks.with_value(|marks| marks.get(&id) == Some(&mark)) {
                    this.stop(id);
                }
            },
            SHOWN_FOR,
        );
    }

    /// `id` is no longer typing: their chat came, or they left.
    pub fn stop(&self, id: Uuid) {
        if self.marks.try_update_value(|marks| marks.remove(&id)).flatten().is_some() {
            self.who.update(|who| who.retain(|w| *w != id));
        }
    }
}

impl Default for Typing {
    fn default() -> Self {
        Self::new()
    }
}

/// The line under the chat for these names: empty when nobody types.
pub fn typing_line(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [a, b] => format!("{a} and {b} are typing…"),
        _ => "Several people are typing…".to_owned(),
    }
}

/// Whether a page that last told the room at `last_ms` (if ever) should tell it again at
/// `now_ms`.
pub fn due(last_ms: Option<f64>, now_ms: f64) -> bool {
    last_ms.is_none_or(|last| now_ms - last >= SEND_EVERY.as_millis() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_up_to_two_people() {
        assert_eq!(typing_line(&[]), "");
        assert_eq!(typing_line(&["Al".into()]), "Al is typing…");
        assert_eq!(typing_line(&["Al".into(), "Bo".into()]), "Al and Bo are typing…");
        assert_eq!(typing_line(&["Al".into(), "Bo".into(), "Cy".into()]), "Several people are typing…");
    }

    #[test]
    fn a_typing_page_tells_the_room_at_most_every_two_seconds() {
        assert!(due(None, 0.0));
        assert!(!due(Some(1000.0), 2999.0));
        assert!(due(Some(1000.0), 3000.0));
    }
}
