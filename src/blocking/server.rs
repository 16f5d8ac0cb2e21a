//! Accepting a connection: the server handshake over any transport
//! (RFC 6455 §4.2), with the application deciding.

use super::deadline::Deadline;
use super::transport::Transport;
use super::{Error, Options, Phase, WebSocket, read_more, start_tcp_keepalive, write_all};
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

impl Acceptance {
    /// Runs `f` with this answer in the core's form.
    pub(crate) fn with_accept<T>(
        &self,
        extensions: Option<&str>,
        f: impl FnOnce(&Accept<'_>) -> T,
    ) -> T {
        let headers = borrowed(&self.headers);
        f(&Accept {
            subprotocol: self.subprotocol.as_deref(),
            extensions,
            headers: &headers,
        })
    }
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
/// First it turns on [`Options::tcp_keepalive`] (on by default) with
/// [`Transport::set_tcp_keepalive`], and goes on if the system refuses it.
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
    start_tcp_keepalive(&mut stream, &options);
    let deadline = Deadline::after(options.handshake_timeout, Phase::Handshake);
    let mut handshake = ServerHandshake::new(options, decide);
    loop {
        deadline.arm(&mut stream)?;
        read_more(&mut stream, &mut handshake.buf).map_err(|e| deadline.name(e))?;
        let Some(answer) = handshake.step() else {
            continue;
        };
        match answer.outcome {
            Ok(accepted) => {
                deadline.arm(&mut stream)?;
                write_all(&mut stream, &answer.response).map_err(|e| deadline.name(e))?;
                stream.set_timeout(None)?;
                let leftover = &handshake.buf[accepted.request_len..];
                let mut ws = WebSocket::from_upgraded(stream, Role::Server, options, leftover)?;
                ws.set_subprotocol(accepted.subprotocol);
                #[cfg(feature = "deflate")]
                if let (Some(agreed), Some(deflate)) = (accepted.deflate, &options.deflate) {
                    ws.set_deflate(&agreed, deflate);
                }
                return Ok(ws);
            }
            Err(e) => {
                // Errors are moot by now: the transport ends either way.
                let _ = write_all(&mut stream, &answer.response);
                let _ = stream.close_transport();
                return Err(e);
            }
        }
    }
}

/// The server handshake without I/O, shared by the std adapters: bytes
/// read so far in [`buf`](ServerHandshake::buf), and once the request is
/// complete, the answer to write.
pub(crate) struct ServerHandshake<F> {
    /// The bytes read so far (the parser bounds their growth with
    /// `max_header_bytes`).
    pub(crate) buf: Vec<u8>,
    options: Options,
    decide: Option<F>,
}

/// What to write, and what it means.
pub(crate) struct Answer {
    /// The response (empty if even a rejection could not be encoded).
    pub(crate) response: Vec<u8>,
    /// The upgrade, or why there is none (then end the transport after
    /// writing the response).
    pub(crate) outcome: Result<Accepted, Error>,
}

/// A completed upgrade.
pub(crate) struct Accepted {
    /// The request's length: bytes of `buf` after it are WebSocket input.
    pub(crate) request_len: usize,
    pub(crate) subprotocol: Option<String>,
    /// permessage-deflate, if an offer was accepted.
    #[cfg(feature = "deflate")]
    pub(crate) deflate: Option<crate::handshake::deflate::Agreed>,
}

impl<F> ServerHandshake<F>
where
    F: FnOnce(&Request<'_>) -> Result<Acceptance, Rejection>,
{
    pub(crate) fn new(options: Options, decide: F) -> Self {
        ServerHandshake {
            buf: Vec::new(),
            options,
            decide: Some(decide),
        }
    }

    /// The answer once the request in `buf` is complete (or invalid).
    pub(crate) fn step(&mut self) -> Option<Answer> {
        let mut headers = vec![EMPTY_HEADER; self.options.max_headers];
        let request = match Request::parse(&self.buf, &mut headers, self.options.max_header_bytes) {
            Ok(None) => return None,
            Ok(Some(request)) => request,
            Err(e) => return Some(refusal(e.status(), &[], Error::Handshake(e))),
        };
        let decide = self.decide.take()?;
        let acceptance = match decide(&request) {
            Ok(acceptance) => acceptance,
            Err(rejection) => {
                let headers = borrowed(&rejection.headers);
                let error = Error::Refused {
                    status: rejection.status,
                };
                return Some(refusal(rejection.status, &headers, error));
            }
        };
        let extra = acceptance.headers.iter();
        let extra: usize = extra.map(|(n, v)| n.len() + v.len() + 4).sum();
        let mut response = vec![0u8; 512 + extra];
        let selected = Selected::for_request(&self.options, &request);
        let extensions = selected.extensions();
        match acceptance.with_accept(extensions, |accept| request.accept(accept, &mut response)) {
            Ok(n) => {
                response.truncate(n);
                Some(Answer {
                    response,
                    outcome: Ok(Accepted {
                        request_len: request.len,
                        subprotocol: acceptance.subprotocol,
                        #[cfg(feature = "deflate")]
                        deflate: selected.agreed(),
                    }),
                })
            }
            Err(e) => Some(refusal(e.status(), &[], Error::Handshake(e))),
        }
    }
}

/// The extensions a server selects for a request: permessage-deflate, the
/// first offer it can serve (RFC 7692 §5), when [`Options::deflate`] is on.
pub(crate) struct Selected {
    value: [u8; 160],
    len: usize,
    #[cfg(feature = "deflate")]
    agreed: Option<crate::handshake::deflate::Agreed>,
}

impl Selected {
    pub(crate) fn for_request(options: &Options, request: &Request<'_>) -> Self {
        #[cfg_attr(not(feature = "deflate"), allow(unused_mut))]
        let mut selected = Selected {
            value: [0; 160],
            len: 0,
            #[cfg(feature = "deflate")]
            agreed: None,
        };
        #[cfg(feature = "deflate")]
        if let Some(deflate) = options.deflate {
            let offers = request.extensions().map(str::as_bytes);
            // The longest response fits; `Err` could only mean it did not.
            let negotiated = deflate
                .server_config()
                .negotiate(offers, &mut selected.value);
            if let Ok(Some((agreed, len))) = negotiated {
                selected.agreed = Some(agreed);
                selected.len = len;
            }
        }
        #[cfg(not(feature = "deflate"))]
        let _ = (options, request);
        selected
    }

    /// The `Sec-WebSocket-Extensions` value, if any.
    pub(crate) fn extensions(&self) -> Option<&str> {
        let value = core::str::from_utf8(&self.value[..self.len]).ok();
        value.filter(|v| !v.is_empty())
    }

    /// What permessage-deflate agreed, if it was selected.
    #[cfg(feature = "deflate")]
    pub(crate) fn agreed(&self) -> Option<crate::handshake::deflate::Agreed> {
        self.agreed
    }
}

/// Extra header fields as the core takes them.
pub(crate) fn borrowed(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// An answer with `status` that ends the transport with `error`.
fn refusal(status: u16, headers: &[(&str, &str)], error: Error) -> Answer {
    let mut out = vec![0u8; 1024];
    let n = write_rejection(status, headers, &mut out).unwrap_or(0);
    out.truncate(n);
    Answer {
        response: out,
        outcome: Err(error),
    }
}
