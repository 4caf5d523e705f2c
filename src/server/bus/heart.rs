//! The node's heartbeat: a key with its load that expires unless refreshed, beaten on a
//! task of its own so nothing the supervisor awaits can make this node look dead.

use super::event::NodeLoad;
use super::keys;
use super::link::timed;
use redis::aio::MultiplexedConnection;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// This node's heartbeat: the key with its load, expiring after two beats.
pub fn heartbeat_cmd(node: Uuid, beat: Duration) -> redis::Cmd {
    let load = NodeLoad { connections: crate::server::metrics::connections() };
    let json = serde_json::to_string(&load).unwrap_or_default();
    let expiry = (beat * 2).as_millis() as u64;
    redis::cmd("SET").arg(keys::node(node)).arg(json).arg("PX").arg(expiry).arg("GET").clone()
}

/// Beats on its own task, so nothing the supervisor awaits can make this node look dead.
pub struct Heart {
    pub conn: MultiplexedConnection,
    pub node: Uuid,
    pub beat: Duration,
    /// Told when a beat finds the key gone: the others may have counted this node dead.
    pub expired: Arc<Notify>,
}

impl Heart {
    /// Beats until Redis fails twice in a row (one slow answer is not an outage). The
    /// first beat of a connection finds no key as a rule: the resync announces the node.
    pub async fn run(mut self) {
        let mut every = tokio::time::interval(self.beat);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let (mut first, mut failed) = (true, false);
        loop {
            every.tick().await;
            match timed(heartbeat_cmd(self.node, self.beat).query_async::<Option<String>>(&mut self.conn)).await {
                Ok(Some(_)) => failed = false,
                Ok(None) if first => failed = false,
                Ok(None) => {
                    failed = false;
                    self.expired.notify_one();
                }
                Err(err) if failed => return tracing::debug!("heartbeat failed twice: {err}"),
                Err(_) => failed = true,
            }
            first = false;
        }
    }
}

/// A task that stops with its owner; awaiting it waits for the task to end.
pub struct AbortOnDrop(pub tokio::task::JoinHandle<()>);

impl std::future::Future for AbortOnDrop {
    type Output = ();

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        std::pin::Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
