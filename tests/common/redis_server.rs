//! A private, real Redis for one test: `redis-server` on 127.0.0.1 and a free port,
//! nothing saved to disk, stopped when dropped. Private so a test may stop and restart it
//! without touching the machine's shared Redis or another test's.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

/// Attempts at starting one, since a free port may be taken before Redis binds it.
const ATTEMPTS: usize = 10;

impl RedisServer {
    /// Starts a Redis on a free port and waits until it answers.
    pub async fn start() -> RedisServer {
        for _ in 0..ATTEMPTS {
            let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
            if let Some(server) = Self::try_start(port).await {
                return server;
            }
        }
        panic!("could not start redis-server on a free port");
    }

    /// Starts a Redis on `port` (retrying while the port is still held, as right after a
    /// stop).
    pub async fn start_on(port: u16) -> RedisServer {
        for _ in 0..ATTEMPTS {
            if let Some(server) = Self::try_start(port).await {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("could not start redis-server on port {port}");
    }

    /// Starts one and waits until it answers as itself: a Redis of another test that won
    /// the race for the port does not count.
    async fn try_start(port: u16) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (Debian: apt-get install redis-server; scripts/setup.sh --tests does)");
        let mut server = RedisServer { child: Some(child), port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if server.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_)))) {
                return None;
            }
            if let Some(pid) = process_id(port).await {
                return (Some(pid) == server.child.as_ref().map(Child::id)).then_some(server);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.stop();
        None
    }

    /// The URL nodes take in `--bus`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills Redis: like a crash, everything it held is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts an empty Redis on the same port again.
    pub async fn restart(&mut self) {
        self.stop();
        *self = Self::start_on(self.port).await;
    }
}

/// The process id of the Redis answering on `port`, from `INFO server`.
async fn process_id(port: u16) -> Option<u32> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut tcp = TcpStream::connect(addr).await.ok()?;
    tcp.write_all(b"INFO server\r\n").await.ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(1), tcp.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        reply.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&reply);
        if let Some(rest) = text.split("process_id:").nth(1) {
            if let Some((pid, _)) = rest.split_once("\r\n") {
                return pid.trim().parse().ok();
            }
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
