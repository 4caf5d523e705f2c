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
    /// Set for a Redis that serves TLS too (see [`RedisServer::start_tls`]).
    pub tls: Option<Tls>,
}

/// A TLS Redis's port, its password, and the throwaway authority that signed the
/// certificate it presents (both made for the test by `openssl`).
pub struct Tls {
    pub port: u16,
    pub password: String,
    pub ca: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

/// The password a TLS Redis asks for.
const PASSWORD: &str = "test-password";

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

    /// Starts a Redis that also serves TLS on a second free port, with a fresh certificate
    /// for 127.0.0.1 signed by a fresh authority of its own, and asks every client for a
    /// password.
    pub async fn start_tls() -> RedisServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = |name: &str| dir.path().join(name);
        let (ca, ca_key, cert, key, csr) =
            (path("ca.pem"), path("ca-key.pem"), path("cert.pem"), path("key.pem"), path("cert.csr"));
        let san = path("san.ext");
        std::fs::write(&san, "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").expect("write san.ext");
        // rustls refuses an authority's own certificate as a server's, so the server
        // presents a leaf signed by the authority the node is told to trust.
        openssl(
            &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Flock test CA"],
            &[("-keyout", &ca_key), ("-out", &ca)],
        );
        openssl(
            &["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"],
            &[("-keyout", &key), ("-out", &csr)],
        );
        openssl(
            &["x509", "-req", "-days", "1", "-CAcreateserial"],
            &[("-in", &csr), ("-CA", &ca), ("-CAkey", &ca_key), ("-extfile", &san), ("-out", &cert)],
        );
        let free = || std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().unwrap().port();
        for _ in 0..ATTEMPTS {
            let (port, tls_port) = (free(), free());
            let tls_args = [
                ("--tls-port", tls_port.to_string()),
                ("--tls-cert-file", cert.display().to_string()),
                ("--tls-key-file", key.display().to_string()),
                ("--tls-ca-cert-file", ca.display().to_string()),
                ("--tls-auth-clients", "no".to_owned()),
                ("--requirepass", PASSWORD.to_owned()),
            ];
            let args: Vec<String> = tls_args.into_iter().flat_map(|(flag, value)| [flag.to_owned(), value]).collect();
            if let Some(mut server) = Self::try_start_with(port, &args, Some(PASSWORD)).await {
                server.tls = Some(Tls { port: tls_port, password: PASSWORD.into(), ca, _dir: dir });
                return server;
            }
        }
        panic!("could not start a TLS redis-server on free ports");
    }

    /// The `rediss://` URL of a TLS Redis, with its password.
    pub fn tls_url(&self) -> String {
        let tls = self.tls.as_ref().expect("a TLS Redis");
        format!("rediss://:{}@127.0.0.1:{}", tls.password, tls.port)
    }

    async fn try_start(port: u16) -> Option<RedisServer> {
        Self::try_start_with(port, &[], None).await
    }

    /// Starts one and waits until it answers as itself: a Redis of another test that won
    /// the race for the port does not count.
    async fn try_start_with(port: u16, extra: &[String], password: Option<&str>) -> Option<RedisServer> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server (Debian: apt-get install redis-server; scripts/setup.sh --tests does)");
        let mut server = RedisServer { child: Some(child), port, tls: None };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if server.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(Some(_)))) {
                return None;
            }
            if let Some(pid) = process_id(port, password).await {
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

/// Runs one `openssl` command with its path arguments.
fn openssl(args: &[&str], paths: &[(&str, &std::path::Path)]) {
    let mut command = Command::new("openssl");
    command.args(args);
    for (flag, path) in paths {
        command.arg(flag).arg(path);
    }
    let status = command
        .stderr(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run openssl (Debian: apt-get install openssl; scripts/setup.sh --tests does)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// The process id of the Redis answering on `port`, from `INFO server`.
async fn process_id(port: u16, password: Option<&str>) -> Option<u32> {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut tcp = TcpStream::connect(addr).await.ok()?;
    if let Some(password) = password {
        tcp.write_all(format!("AUTH {password}\r\n").as_bytes()).await.ok()?;
    }
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
