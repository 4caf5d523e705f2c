//! The connection's state as the page shows it.

/// Where the connection stands, as the badge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Opening for the first time.
    Connecting,
    Open,
    /// The socket dropped; a new one is being opened.
    Reconnecting,
    /// Closed for good (the page is going away).
    Closed,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Connecting => "connecting",
            Status::Open => "open",
            Status::Reconnecting => "reconnecting",
            Status::Closed => "closed",
        }
    }
}
