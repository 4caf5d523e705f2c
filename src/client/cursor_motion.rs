//! Where each remote cursor is drawn, frame by frame, outside the reactive graph.
//!
//! Moves arrive in bursts (a `cursors` frame carries many, 10–60 times a second); the
//! board draws once per animation frame. Each cursor glides from where it was drawn to its
//! newest position over the time its moves have been coming apart, so 10–30 Hz updates
//! look continuous and a cursor never jumps back. A cursor that has not moved for
//! [`QUIET_MS`] fades out over [`FADE_MS`]; its next move shows it again.
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

/// A cursor unmoved this long starts to fade out.
pub const QUIET_MS: f64 = 5_000.0;
/// How long the fade takes.
pub const FADE_MS: f64 = 300.0;
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
    /// What the last frame drew: where, and how opaque.
    drawn: Option<Drawn>,
    /// Where the cursor last came to rest (reported once per resting place).
    rested: Option<Point>,
}

impl Track {
    fn at(&self, now: f64) -> Point {
        if self.glide <= 0.0 || now >= self.start + self.glide {
            return self.to;
        }
        let t = ((now - self.start) / self.glide).clamp(0.0, 1.0);
        Point { x: self.from.x + (self.to.x - self.from.x) * t, y: self.from.y + (self.to.y - self.from.y) * t }
    }

    fn alpha(&self, now: f64) -> f64 {
        (1.0 - (now - self.moved_at - QUIET_MS) / FADE_MS).clamp(0.0, 1.0)
    }

    fn settled(&self, now: f64) -> bool {
        now >= self.start + self.glide
    }
}

/// One cursor as a frame draws it: where (fractions of the board) and how opaque (0 is
/// not drawn at all).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Drawn {
    pub at: Point,
    pub alpha: f64,
}

/// What a frame found: whether any cursor looks different from the last frame (the
/// layer redraws), and whether one is still gliding or fading (another frame is needed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub changed: bool,
    pub more: bool,
}

/// Every remote cursor's motion.
#[derive(Debug, Default)]
pub struct Motions {
    tracks: HashMap<Uuid, Track>,
    /// A cursor was dropped since the last frame: that frame must be drawn again without it.
    dropped: bool,
}

impl Motions {
    /// `id`'s cursor is at `to` as of `now` (ms): it glides there from where it is drawn.
    pub fn moved(&mut self, id: Uuid, to: Point, now: f64) {
        match self.tracks.get_mut(&id) {
            Some(track) => {
                let from = track.at(now);
                let glide = (now - track.moved_at).clamp(0.0, MAX_GLIDE_MS);
                *track = Track { from, to, start: now, glide, moved_at: now, ..*track };
            }
            None => {
                let track = Track { from: to, to, start: now, glide: 0.0, moved_at: now, drawn: None, rested: None };
                self.tracks.insert(id, track);
            }
        }
    }

    /// `id` left: its cursor is gone.
    pub fn forget(&mut self, id: Uuid) {
        self.dropped |= self.tracks.remove(&id).is_some();
    }

    /// Forgets every cursor (a new `welcome` brings them again).
    pub fn clear(&mut self) {
        self.dropped |= !self.tracks.is_empty();
        self.tracks.clear();
    }

    /// Moves every cursor on to `now`, calling `rested(id, at)` for each one that came to
    /// rest at a new place since the last frame.
    pub fn frame(&mut self, now: f64, mut rested: impl FnMut(Uuid, Point)) -> Frame {
        let mut frame = Frame { changed: std::mem::take(&mut self.dropped), more: false };
        for (id, track) in &mut self.tracks {
            let drawn = Drawn { at: track.at(now), alpha: track.alpha(now) };
            frame.changed |= track.drawn != Some(drawn);
            track.drawn = Some(drawn);
            let settled = track.settled(now);
            if settled && track.rested != Some(track.to) {
                track.rested = Some(track.to);
                rested(*id, track.to);
            }
            frame.more |= !settled || drawn.alpha > 0.0;
        }
        frame
    }

    /// Each cursor as the last frame drew it.
    pub fn drawn(&self) -> impl Iterator<Item = (Uuid, Drawn)> + '_ {
        self.tracks.iter().filter_map(|(id, track)| Some((*id, track.drawn?)))
    }

    /// Has `id`'s resting place reported again at the next frame (its element is new).
    pub fn report(&mut self, id: Uuid) {
        if let Some(track) = self.tracks.get_mut(&id) {
            track.rested = None;
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
        let mut rested = Vec::new();
        assert_eq!(motions.frame(1000.0, |id, at| rested.push((id, at))), Frame { changed: true, more: true });
        assert_eq!(motions.drawn().collect::<Vec<_>>(), [(id, Drawn { at: p(0.0, 0.0), alpha: 1.0 })]);
        assert_eq!(rested, [(id, p(0.0, 0.0))], "a first position is at rest at once");
        // The next move comes 100 ms later: it takes 100 ms to get there.
        motions.moved(id, p(1.0, 0.5), 1100.0);
        assert_eq!(motions.position(id, 1150.0), Some(p(0.5, 0.25)));
        assert_eq!(motions.position(id, 1200.0), Some(p(1.0, 0.5)));
        // A move mid-glide starts from where the cursor is drawn, never jumping back.
        motions.moved(id, p(0.0, 0.5), 1150.0);
        assert_eq!(motions.position(id, 1150.0), Some(p(0.5, 0.25)));
        motions.frame(1160.0, |id, at| rested.push((id, at)));
        assert_eq!(rested.len(), 1, "still gliding: not at rest");
        motions.frame(1300.0, |id, at| rested.push((id, at)));
        assert_eq!(rested[1..], [(id, p(0.0, 0.5))], "at rest once the glide is over");
    }

    #[test]
    fn a_still_cursor_needs_no_redraw_then_fades_and_then_needs_no_frames() {
        let (mut motions, id) = (Motions::default(), Uuid::new_v4());
        motions.moved(id, p(0.2, 0.2), 0.0);
        motions.frame(0.0, |_, _| {});
        assert_eq!(motions.frame(16.0, |_, _| {}), Frame { changed: false, more: true }, "nothing to redraw");
        assert_eq!(motions.frame(QUIET_MS + FADE_MS / 2.0, |_, _| {}), Frame { changed: true, more: true });
        assert_eq!(motions.drawn().next().map(|(_, d)| d.alpha), Some(0.5), "half way through the fade");
        assert_eq!(motions.frame(QUIET_MS + FADE_MS, |_, _| {}), Frame { changed: true, more: false });
        assert_eq!(motions.drawn().next().map(|(_, d)| d.alpha), Some(0.0), "faded out: no more frames");
        motions.moved(id, p(0.3, 0.3), QUIET_MS + 400.0);
        motions.frame(QUIET_MS + 400.0, |_, _| {});
        assert_eq!(motions.drawn().next().map(|(_, d)| d.alpha), Some(1.0), "a move shows it again");
        motions.forget(id);
        assert_eq!(motions.drawn().count(), 0);
        assert_eq!(
            motions.frame(QUIET_MS + 500.0, |_, _| {}),
            Frame { changed: true, more: false },
            "drawn again without it"
        );
        motions.moved(id, p(0.3, 0.3), QUIET_MS + 600.0);
        motions.clear();
        assert!(motions.frame(QUIET_MS + 700.0, |_, _| {}).changed, "a cleared board is drawn again, empty");
        assert!(!motions.frame(QUIET_MS + 800.0, |_, _| {}).changed);
    }
}
