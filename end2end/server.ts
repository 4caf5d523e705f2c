import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

// A Flock server of a test's own, beside the suite's: it can be killed and started again
// on the same port and store while pages stay open, or run with settings of its own
// (`env`, e.g. tight quotas). Resolves once the server says it listens.
const root = path.resolve(__dirname, '..');
export function startServer(port: number, dataDir: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn(process.env.FLOCK_BIN ?? 'target/debug/flock', [], {
    cwd: root,
    env: {
      ...process.env,
      FLOCK_ADDR: `127.0.0.1:${port}`,
      FLOCK_DATA_DIR: dataDir,
      LEPTOS_SITE_ROOT: 'target/site',
      LEPTOS_OUTPUT_NAME: 'flock',
      FLOCK_LOG: 'info',
      NO_COLOR: '1',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    let log = '';
    child.stdout!.on('data', (chunk) => {
      log += chunk;
      if (log.includes('listening on')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`flock exited with ${code}: ${log}`)));
  });
}
