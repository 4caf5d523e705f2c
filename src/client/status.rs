//! The connection's state as the page shows it.

/// Where the connection stands, as the badge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Opening for the first time.
    Connecting,
    Open,
    /// The socket dropped; a new one is being opened.
    Reconnecting,
    /// The server refused the connection for now (a quota, or it is full) and said how
    /// long to wait; it is retried after that.
    Waiting,
    /// The server refused the connection for good (a bad name, an invitation it does not
    /// accept): retrying would not help.
    Refused,
    /// Closed for good (the page is going away).
    Closed,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Open => "open",
            Status::Reconnecting => "reconnecting",
            Status::Waiting => "waiting",
            Status::Refused => "refused",
            Status::Closed => "closed",
        }
    }
}
