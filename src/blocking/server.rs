//! Accepting a connection: the server handshake over any transport
//! (RFC 6455 §4.2), with the application deciding.

use super::transport::Transport;
use super::{Error, Options, WebSocket, read_more, write_all};
use crate::config::Role;
use crate::handshake::EMPTY_HEADER;
use crate::handshake::server::{Accept, Request, write_rejection};
use std::string::String;
use std::vec;
use std::vec::Vec;

/// The application accepts the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acceptance {
    /// The subprotocol to select: one the client offered.
    pub subprotocol: Option<String>,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

/// The application refuses the request with an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The status, e.g. 403.
    pub status: u16,
    /// Extra response headers.
    pub headers: Vec<(String, String)>,
}

impl From<u16> for Rejection {
    fn from(status: u16) -> Self {
        Rejection {
            status,
            headers: Vec::new(),
        }
    }
}

/// Accepts every valid request, with the default options and no subprotocol.
pub fn accept<S: Transport>(stream: S) -> Result<WebSocket<S>, Error> {
    accept_with(stream, Options::new(), |_| Ok(Acceptance::default()))
}

/// Reads the upgrade request, lets `decide` look at it (path, Origin,
/// offered subprotocols, headers) and answers: 101 and a WebSocket, or the
/// rejection's status and [`Error::Refused`]. Invalid requests are answered
/// with the status their error calls for (400, 405, 426, 431).
///
/// ```no_run
/// use wsock::blocking::{accept_with, Acceptance, Options};
/// let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
/// let (tcp, _) = listener.accept()?;
/// let ws = accept_with(tcp, Options::new(), |request| {
///     if request.path != "/chat" {
///         return Err(404.into());
///     }
///     let chat = request.subprotocols().find(|p| *p == "chat");
///     Ok(Acceptance { subprotocol: chat.map(String::from), ..Acceptance::default() })
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn accept_with<S, F>(mut stream: S, options: Options, decide: F) -> Result<WebSocket<S>, Error>
where
    S: Transport,
    F: FnOnce(&Request<'_>) -> Result<Acceptance, Rejection>,
{
    stream.set_timeout(options.handshake_timeout)?;
    let mut buf = Vec::new();
    let mut decide = Some(decide);
    loop {
        read_more(&mut stream, &mut buf)?;
        let mut headers = vec![EMPTY_HEADER; options.max_headers];
        let request = match Request::parse(&buf, &mut headers, options.max_header_bytes) {
            Ok(None) => continue,
            Ok(Some(request)) => request,
            Err(e) => {
                refuse(&mut stream, e.status(), &[]);
                return Err(Error::Handshake(e));
            }
        };
        let Some(decide) = decide.take() else {
            unreachable!("the loop ends once a request is complete");
        };
        let acceptance = match decide(&request) {
            Ok(acceptance) => acceptance,
            Err(rejection) => {
                let headers: Vec<(&str, &str)> = rejection
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect();
                refuse(&mut stream, rejection.status, &headers);
                return Err(Error::Refused {
                    status: rejection.status,
                });
            }
        };
        let headers: Vec<(&str, &str)> = acceptance
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let accept = Accept {
            subprotocol: acceptance.subprotocol.as_deref(),
            extensions: None,
            headers: &headers,
        };
        let mut out = vec![
            0u8;
            512 + headers
                .iter()
                .map(|(n, v)| n.len() + v.len() + 4)
                .sum::<usize>()
        ];
        let n = match request.accept(&accept, &mut out) {
            Ok(n) => n,
            Err(e) => {
                refuse(&mut stream, e.status(), &[]);
                return Err(Error::Handshake(e));
            }
        };
        write_all(&mut stream, &out[..n])?;
        stream.set_timeout(None)?;
        let leftover = &buf[request.len..];
        let mut ws = WebSocket::from_upgraded(stream, Role::Server, options, leftover)?;
        ws.set_subprotocol(acceptance.subprotocol);
        return Ok(ws);
    }
}

/// Answers with a status and ends the transport; errors are moot by then.
fn refuse<S: Transport>(stream: &mut S, status: u16, headers: &[(&str, &str)]) {
    let mut out = [0u8; 1024];
    if let Ok(n) = write_rejection(status, headers, &mut out) {
        let _ = write_all(stream, &out[..n]);
    }
    let _ = stream.close_transport();
}
