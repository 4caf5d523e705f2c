//! Orderly shutdown: on Ctrl-C or SIGTERM every connection is told goodbye with 1001
//! (going away), so clients know to reconnect, and the process waits for them to finish.

use std::time::Duration;
use tokio::sync::watch;

/// Longest the process waits for connections to send their close frames.
pub const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// The shutdown flag every connection watches.
pub struct Shutdown {
    flag: watch::Sender<bool>,
}

impl Shutdown {
    pub fn new() -> Self {
        Shutdown { flag: watch::channel(false).0 }
    }

    /// A connection's view of the flag; the connection counts as live until it drops this.
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.flag.subscribe()
    }

    /// Tells every connection to close.
    pub fn begin(&self) {
        self.flag.send_replace(true);
    }

    /// Completes when every connection has ended, or after [`DRAIN_GRACE`].
    pub async fn drained(&self) {
        let _ = tokio::time::timeout(DRAIN_GRACE, self.flag.closed()).await;
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: closing every connection with 1001");
}
