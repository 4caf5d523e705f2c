// The cursor smoother: a remote cursor glides to each new position instead of jumping.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CursorSmoother } from '../dist/index.js';

test('a cursor glides from where it was drawn to its new position over the time the move took', () => {
  const smoother = new CursorSmoother(120);
  smoother.update([{ id: 'a', x: 0, y: 0 }], 1000);
  assert.deepEqual(smoother.positions(1000).get('a'), { x: 0, y: 0 }, 'the first position is drawn as it is');
  smoother.update([{ id: 'a', x: 1, y: 0.5 }], 1100);
  const start = smoother.positions(1100).get('a');
  const mid = smoother.positions(1150).get('a');
  const end = smoother.positions(1200).get('a');
  assert.deepEqual(start, { x: 0, y: 0 });
  assert.ok(mid.x > 0 && mid.x < 1 && mid.y > 0 && mid.y < 0.5, JSON.stringify(mid));
  assert.deepEqual(end, { x: 1, y: 0.5 }, 'it settles on the target');
  smoother.remove('a');
  assert.equal(smoother.positions(1300).size, 0);
});
