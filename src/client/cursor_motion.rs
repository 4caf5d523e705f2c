//! Where each remote cursor is drawn, frame by frame, outside the reactive graph.
//!
//! Moves arrive in bursts (a `cursors` frame carries many, 10–60 times a second); the
//! board draws once per animation frame. Each cursor glides from where it was drawn to its
//! newest position over the time its moves have been coming apart, so 10–30 Hz updates
//! look continuous and a cursor never jumps back. A cursor that has not moved for
//! [`QUIET_MS`] is marked quiet (the layer fades it out); its next move shows it again.
//! Plain data and arithmetic: the cursor layer does the drawing.

use crate::protocol::Point;
use std::collections::HashMap;
use uuid::Uuid;

/// The clock moves and frames are timed by, in ms: the browser's (0 elsewhere, where
/// nothing moves).
pub fn now_ms() -> f64 {
    #[cfg(target_arch = "wasm32")]
    return js_sys::Date::now();
    #[cfg(not(target_arch = "wasm32"))]
    return 0.0;
}

/// A cursor unmoved this long fades out.
pub const QUIET_MS: f64 = 5_000.0;
/// Longest glide: moves further apart than this (a user who paused) glide this long.
const MAX_GLIDE_MS: f64 = 150.0;

/// One cursor's motion.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Track {
    from: Point,
    to: Point,
    /// When the glide from `from` to `to` started, and how long it takes (ms).
    start: f64,
    glide: f64,
    /// When the last move arrived.
    moved_at: f64,
    /// What was drawn last: position and whether it was quiet.
    drawn: Option<(Point, bool)>,
}

impl Track {
    fn at(&self, now: f64) -> Point {
        if self.glide <= 0.0 || now >= self.start + self.glide {
            return self.to;
        }
        let t = ((now - self.start) / self.glide).clamp(0.0, 1.0);
        Point { x: self.from.x + (self.to.x - self.from.x) * t, y: self.from.y + (self.to.y - self.from.y) * t }
    }

    fn settled(&self, now: f64) -> bool {
        now >= self.start + self.glide
    }
}

/// What to draw of a cursor this frame: its new position, its new quiet, either or both.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    pub at: Option<Point>,
    pub quiet: Option<bool>,
}

/// Every remote cursor's motion.
#[derive(Debug, Default)]
pub struct Motions {
    tracks: HashMap<Uuid, Track>,
}

impl Motions {
    /// `id`'s cursor is at `to` as of `now` (ms): it glides there from where it is drawn.
    pub fn moved(&mut self, id: Uuid, to: Point, now: f64) {
        match self.tracks.get_mut(&id) {
            Some(track) => {
                let from = track.at(now);
                let glide = (now - track.moved_at).clamp(0.0, MAX_GLIDE_MS);
                *track = Track { from, to, start: now, glide, moved_at: now, drawn: track.drawn };
            }
            None => {
                self.tracks.insert(id, Track { from: to, to, start: now, glide: 0.0, moved_at: now, drawn: None });
            }
        }
    }

    /// `id` left: its cursor is gone.
    pub fn forget(&mut self, id: Uuid) {
        self.tracks.remove(&id);
    }

    /// Forgets every cursor (a new `welcome` brings them again).
    pub fn clear(&mut self) {
        self.tracks.clear();
    }

    /// Calls `draw(id, change)` for each cursor whose drawing changes at `now`, with what
    /// changed; true while any cursor still glides or has yet to go quiet (another frame
    /// is needed).
    pub fn frame(&mut self, now: f64, mut draw: impl FnMut(Uuid, Change)) -> bool {
        let mut more = false;
        for (id, track) in &mut self.tracks {
            let quiet = now - track.moved_at >= QUIET_MS;
            let at = track.at(now);
            let change = match track.drawn {
                None => Change { at: Some(at), quiet: Some(quiet) },
                Some((was_at, was_quiet)) => {
                    Change { at: (was_at != at).then_some(at), quiet: (was_quiet != quiet).then_some(quiet) }
                }
            };
            if change.at.is_some() || change.quiet.is_some() {
                draw(*id, change);
                track.drawn = Some((at, quiet));
            }
            more |= !track.settled(now) || !quiet;
        }
        more
    }

    /// Has `id`'s cursor drawn again at the next frame (its element is new, or the board
    /// changed size).
    pub fn redraw(&mut self, id: Option<Uuid>) {
        for (track_id, track) in &mut self.tracks {
            if id.is_none_or(|id| id == *track_id) {
                track.drawn = None;
            }
        }
    }

    /// Where `id`'s cursor is drawn now, if it has a position.
    #[cfg(test)]
    fn position(&self, id: Uuid, now: f64) -> Option<Point> {
        self.tracks.get(&id).map(|track| track.at(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(x: f64, y: f64) -> Point {
        Point { x, y }
    }

    #[test]
    fn a_first_position_is_drawn_where_it_is_and_later_ones_glide_over_the_interval() {
        let (mut motions, id) = (Motions::default(), Uuid::new_v4());
        motions.moved(id, p(0.0, 0.0), 1000.0);
        let mut drawn = Vec::new();
        assert!(motions.frame(1000.0, |_, change| drawn.push(change)));
        assert_eq!(drawn, [Change { at: Some(p(0.0, 0.0)), quiet: Some(false) }]);
        // The next move comes 100 ms later: it takes 100 ms to get there.
        motions.moved(id, p(1.0, 0.5), 1100.0);
        assert_eq!(motions.position(id, 1150.0), Some(p(0.5, 0.25)));
        assert_eq!(motions.position(id, 1200.0), Some(p(1.0, 0.5)));
        // A move mid-glide starts from where the cursor is drawn, never jumping back.
        motions.moved(id, p(0.0, 0.5), 1150.0);
        assert_eq!(motions.position(id, 1150.0), Some(p(0.5, 0.25)));
    }

    #[test]
    fn only_changes_are_drawn_and_a_still_cursor_goes_quiet_then_needs_no_frames() {
        let (mut motions, id) = (Motions::default(), Uuid::new_v4());
        motions.moved(id, p(0.2, 0.2), 0.0);
        let mut count = 0;
        motions.frame(0.0, |_, _| count += 1);
        assert!(motions.frame(16.0, |_, _| count += 1), "not quiet yet");
        assert_eq!(count, 1, "nothing changed, nothing drawn");
        let mut change = None;
        assert!(!motions.frame(QUIET_MS, |_, c| change = Some(c)), "settled and quiet: no more frames");
        assert_eq!(change, Some(Change { at: None, quiet: Some(true) }), "only the fade is drawn");
        motions.moved(id, p(0.3, 0.3), QUIET_MS + 10.0);
        motions.frame(QUIET_MS + 10.0, |_, c| change = Some(c));
        assert_eq!(change, Some(Change { at: None, quiet: Some(false) }), "a move shows it again");
        motions.forget(id);
        assert_eq!(motions.position(id, 0.0), None);
    }
}
