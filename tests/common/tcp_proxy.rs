//! A TCP relay a test can cut: a node linked to Redis through it loses Redis (and only that
//! node does) when the test says so, like a network partition, and gets it back on `heal`.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpProxy {
    pub addr: SocketAddr,
    cut: Arc<watch::Sender<bool>>,
}

impl TcpProxy {
    /// Relays connections on a fresh 127.0.0.1 port to `target`.
    pub async fn start(target: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let cut = Arc::new(watch::channel(false).0);
        let relay_cut = cut.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *relay_cut.borrow() {
                    continue; // dropped: the connection is refused in effect
                }
                let mut stop = relay_cut.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else { return };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = stop.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        TcpProxy { addr, cut }
    }

    /// Drops every relayed connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Relays again.
    pub fn heal(&self) {
        self.cut.send_replace(false);
    }
}
