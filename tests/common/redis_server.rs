//! A private, real Redis for one test: `redis-server` on a free port, nothing saved to
//! disk, stopped when dropped. Private so a test may stop and restart it without touching
//! the machine's shared Redis or another test's.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    /// Starts a Redis on a free port and waits until it answers PING.
    pub async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
        Self::start_on(port).await
    }

    /// Starts a Redis on `port`.
    pub async fn start_on(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (Debian: apt-get install redis-server; scripts/setup.sh does)");
        let server = RedisServer { child: Some(child), port };
        server.wait_ready().await;
        server
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

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let addr: SocketAddr = ([127, 0, 0, 1], self.port).into();
        loop {
            if let Ok(mut tcp) = TcpStream::connect(addr).await {
                let mut reply = [0u8; 7];
                if tcp.write_all(b"PING\r\n").await.is_ok() && tcp.read_exact(&mut reply).await.is_ok() && &reply == b"+PONG\r\n" {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server on port {} did not start", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
