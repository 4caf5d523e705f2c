// A TCP proxy in front of the server that a test can cut: its connections drop, and new
// ones are refused until it is restored. One client's network going away, alone. With
// `refuseUpgrades`, it answers every WebSocket upgrade 403 and passes the rest of HTTP,
// as some corporate proxies do.
import net from 'node:net';

/** Whether the first bytes of a connection are a WebSocket upgrade's request. */
const isUpgrade = (bytes) => /^upgrade:\s*websocket/im.test(bytes.toString('latin1'));

/** A proxy to `target` (`host:port`) on 127.0.0.1 and `port` (default: any free one). */
export async function startProxy(target, { refuseUpgrades = false, port: own = 0 } = {}) {
  const [host, port] = target.split(':');
  const sockets = new Set();
  let refusing = false;
  const server = net.createServer(async (client) => {
    if (refusing) return client.destroy();
    if (refuseUpgrades) {
      const first = await new Promise((resolve) => client.once('data', resolve));
      if (isUpgrade(first)) {
        return client.end('HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n');
      }
      client.unshift(first);
    }
    const upstream = net.connect(Number(port), host);
    for (const [a, b] of [[client, upstream], [upstream, client]]) {
      sockets.add(a);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
      a.pipe(b);
    }
  });
  await new Promise((resolve) => server.listen(own, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    cut() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      refusing = false;
    },
    close() {
      refusing = true;
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
