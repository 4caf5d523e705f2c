/**
 * How long to wait before reconnect attempt `attempt` (0 for the first): doubling from
 * `minMs` up to `maxMs`, each wait drawn at random between half and all of it (full
 * jitter would allow zero; half keeps a floor), so a server restart is not met by every
 * client at the same instant.
 */
export function backoffMs(attempt: number, minMs: number, maxMs: number, random = Math.random): number {
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
