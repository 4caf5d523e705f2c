// A real Flock server for the tests: the binary cargo built, on an ephemeral port (or a
// given one, to restart in place), with a data directory of its own.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const binary = process.env.FLOCK_BIN ?? join(root, 'target', 'debug', 'flock');

/** Starts Flock; resolves once it says where it listens. */
export async function startServer({ dataDir, addr = '127.0.0.1:0', env = {} } = {}) {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'flock-sdk-'));
  const child = spawn(binary, [], {
    cwd: root,
    env: {
      ...process.env,
      FLOCK_ADDR: addr,
      FLOCK_DATA_DIR: dir,
      FLOCK_LOG: 'info',
      FLOCK_CONNECTS_PER_SEC: '1000000',
      FLOCK_ROOMS_PER_MINUTE: '1000000',
      FLOCK_CHATS_PER_SEC: '1000000',
      LEPTOS_OUTPUT_NAME: 'flock',
      NO_COLOR: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const listening = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`flock exited with ${code} before listening (${binary})`)));
    lines.on('line', (line) => {
      const found = line.split('listening on http://')[1];
      if (found) resolve(found.trim());
    });
  });
  return {
    addr: listening,
    url: `http://${listening}`,
    dataDir: dir,
    /** Kills it at once (SIGKILL) and waits for it to be gone. */
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    },
  };
}
