//! Owned messages, the unit of the blocking API.

use crate::close::CloseCode;
use crate::event::Outgoing;
use std::string::String;
use std::vec::Vec;

/// A whole message or a control frame, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping (answered automatically unless auto-pong is off).
    Ping(Vec<u8>),
    /// A pong.
    Pong(Vec<u8>),
    /// A close frame; `None` when it carried no status code.
    Close(Option<CloseFrame>),
}

/// A close status code and reason, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason (at most 123 bytes).
    pub reason: String,
}

impl Message {
    /// The frame to send for this message.
    pub fn as_outgoing(&self) -> Outgoing<'_> {
        match self {
            Message::Text(t) => Outgoing::Text(t),
            Message::Binary(b) => Outgoing::Binary(b),
            Message::Ping(p) => Outgoing::Ping(p),
            Message::Pong(p) => Outgoing::Pong(p),
            Message::Close(c) => Outgoing::Close(c.as_ref().map(|c| (c.code, c.reason.as_str()))),
        }
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::Text(text)
    }
}
impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::Text(text.into())
    }
}
impl From<Vec<u8>> for Message {
    fn from(bytes: Vec<u8>) -> Self {
        Message::Binary(bytes)
    }
}
impl From<&[u8]> for Message {
    fn from(bytes: &[u8]) -> Self {
        Message::Binary(bytes.to_vec())
    }
}
