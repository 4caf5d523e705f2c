import type { Move } from './protocol.js';

/** A position on the board: fractions of its width and height, in [0, 1]. */
export interface Position {
  x: number;
  y: number;
}

interface Track {
  from: Position;
  to: Position;
  start: number;
  duration: number;
}

/**
 * Smooths remote cursors for rendering: moves come in bursts (one `cursors` frame per
 * server tick, a few per second on a slow network), so drawing each as it arrives makes
 * cursors jump. Feed every `cursors` frame to [`CursorSmoother.update`] and draw
 * [`CursorSmoother.positions`] on each animation frame: each cursor glides from where it
 * was drawn to its new position over the time the last move took to come.
 */
export class CursorSmoother {
  private tracks = new Map<string, Track>();
  private lastAt = new Map<string, number>();

  /** @param maxGlideMs the longest a cursor takes to reach a new position. */
  constructor(private readonly maxGlideMs = 120) {}

  update(moves: Move[], now: number = performance.now()): void {
    for (const move of moves) {
      const track = this.tracks.get(move.id);
      const from = track ? this.at(track, now) : { x: move.x, y: move.y };
      const since = now - (this.lastAt.get(move.id) ?? now);
      const duration = Math.min(this.maxGlideMs, Math.max(16, since));
      this.tracks.set(move.id, { from, to: { x: move.x, y: move.y }, start: now, duration });
      this.lastAt.set(move.id, now);
    }
  }

  /** Forgets a user's cursor (they left). */
  remove(id: string): void {
    this.tracks.delete(id);
    this.lastAt.delete(id);
  }

  /** Where to draw each cursor at `now`. */
  positions(now: number = performance.now()): Map<string, Position> {
    const out = new Map<string, Position>();
    for (const [id, track] of this.tracks) {
      out.set(id, this.at(track, now));
    }
    return out;
  }

  private at(track: Track, now: number): Position {
    const t = Math.min(1, Math.max(0, (now - track.start) / track.duration));
    // Ease out: fast at first, settling on the target.
    const k = 1 - (1 - t) * (1 - t);
    return { x: track.from.x + (track.to.x - track.from.x) * k, y: track.from.y + (track.to.y - track.from.y) * k };
  }
}
