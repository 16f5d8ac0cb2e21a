//! Upgrading a request that an HTTP server has read (feature `http`): the
//! server handshake (RFC 6455 §4.2) on `http` types, for hyper 1 and the
//! frameworks built on it, such as axum.
//!
//! [`on`] checks the request with the core's rules (the same as
//! [`accept_with`](super::accept_with)'s: GET, HTTP/1.1, `Upgrade`,
//! `Connection`, the key, version 13), lets the application decide with
//! the same `decide` closure (path, Origin, subprotocol), and returns the
//! `101 Switching Protocols` response for the server to send and an
//! [`OnUpgrade`] future, which becomes a [`WebSocket`] once the server has
//! sent it and handed over the connection (`hyper::upgrade::on`). An invalid
//! or refused request gives a [`Refusal`], which becomes its response: 400,
//! 405, 426 with `Sec-WebSocket-Version: 13`, or the status the application
//! chose. [`response`] is the check and the response alone, for a server
//! that upgrades the connection itself.
//!
//! An echo route in axum:
//!
//! ```no_run
//! use axum::{Router, extract::Request, response::Response, routing::get};
//! use wsock::tokio::{Acceptance, Message, Options, upgrade};
//!
//! async fn echo(mut request: Request) -> Response {
//!     let accepted = upgrade::on(&mut request, Options::new(), |_| Ok(Acceptance::default()));
//!     let (response, websocket) = match accepted {
//!         Ok(accepted) => accepted,
//!         Err(refusal) => return refusal.into_response(),
//!     };
//!     tokio::spawn(async move {
//!         let Ok(mut ws) = websocket.await else { return };
//!         while let Ok(message) = ws.read().await {
//!             if let Message::Text(_) | Message::Binary(_) = message {
//!                 if ws.send(message).await.is_err() {
//!                     break;
//!                 }
//!             }
//!         }
//!     });
//!     response
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let app = Router::new().route("/ws", get(echo));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! With hyper itself, serve the connection `with_upgrades()`.
//!
//! The TCP socket belongs to the HTTP server, so [`Options::tcp_keepalive`]
//! is not applied here: set it where the server accepts connections (with
//! hyper, [`set_tcp_keepalive`](super::set_tcp_keepalive) on each accepted
//! `TcpStream`).

use super::{Acceptance, Error, Options, Rejection, WebSocket};
use crate::blocking::{Selected, borrowed};
use crate::config::Role;
use crate::handshake::server::{Request, rejection_fields};
use crate::handshake::{HandshakeError, Header};
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, ready};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{StatusCode, Version};
use hyper_util::rt::TokioIo;
use std::io;
use std::string::String;
use std::vec::Vec;

/// The stream of a WebSocket from [`on`]: hyper's upgraded connection,
/// with tokio's I/O traits.
pub type Upgraded = TokioIo<hyper::upgrade::Upgraded>;

/// Checks an upgrade request, lets `decide` look at it (path, Origin,
/// offered subprotocols, headers) and answers: the `101` response to send
/// and the future of the [`WebSocket`], or a [`Refusal`] to send instead.
/// Takes hyper's upgrade out of the request's extensions; the future
/// completes once the server has sent the response (so return the response
/// first, and await the future in a task of its own).
///
/// Refuses with 500 a request that cannot be upgraded (one that hyper did
/// not put an upgrade in, such as one made by hand).
pub fn on<B, R, F>(
    request: &mut http::Request<B>,
    options: Options,
    decide: F,
) -> Result<(http::Response<R>, OnUpgrade), Refusal>
where
    R: Default,
    F: FnOnce(&Request<'_>) -> Result<Acceptance, Rejection>,
{
    let (response, subprotocol, selected) = answer(request, &options, decide)?;
    if request
        .extensions()
        .get::<hyper::upgrade::OnUpgrade>()
        .is_none()
    {
        let e = io::Error::other("the HTTP server cannot upgrade this request");
        return Err(Refusal::new(500, Error::Io(e)));
    }
    #[cfg(not(feature = "deflate"))]
    let _ = selected;
    let upgrade = OnUpgrade {
        upgrade: hyper::upgrade::on(request),
        options,
        subprotocol,
        #[cfg(feature = "deflate")]
        deflate: selected.agreed(),
    };
    Ok((response, upgrade))
}

/// Checks an upgrade request, lets `decide` look at it and builds the
/// `101 Switching Protocols` response (with `Sec-WebSocket-Accept`, and
/// `Sec-WebSocket-Protocol` when `decide` chose one), or the [`Refusal`].
/// For a server that upgrades the connection itself; with hyper, [`on`]
/// does both (and [`on`] alone can accept permessage-deflate).
pub fn response<B, R, F>(
    request: &http::Request<B>,
    decide: F,
) -> Result<http::Response<R>, Refusal>
where
    R: Default,
    F: FnOnce(&Request<'_>) -> Result<Acceptance, Rejection>,
{
    answer(request, &Options::new(), decide).map(|(response, ..)| response)
}

/// The response, the subprotocol it selects and the extensions.
fn answer<'a, B, R, F>(
    request: &'a http::Request<B>,
    options: &Options,
    decide: F,
) -> Result<(http::Response<R>, Option<String>, Selected), Refusal>
where
    R: Default,
    F: FnOnce(&Request<'_>) -> Result<Acceptance, Rejection>,
{
    let invalid = |e: HandshakeError| Refusal::new(e.status(), Error::Handshake(e));
    let header = |(name, value): (&'a HeaderName, &'a HeaderValue)| Header {
        name: name.as_str(),
        value: value.as_bytes(),
    };
    let headers: Vec<Header<'_>> = request.headers().iter().map(header).collect();
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    let http_1_1 = request.version() == Version::HTTP_11;
    let head =
        Request::from_head(request.method().as_str(), http_1_1, path, &headers).map_err(invalid)?;
    let acceptance = decide(&head).map_err(Refusal::from)?;
    let selected = Selected::for_request(options, &head);
    let mut response = http::Response::new(R::default());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    acceptance
        .with_accept(selected.extensions(), |accept| {
            head.response_fields(accept, |name, value| {
                append(response.headers_mut(), name, value)
            })
        })
        .map_err(invalid)?;
    Ok((response, acceptance.subprotocol, selected))
}

/// Adds a header field the core has checked.
fn append(headers: &mut HeaderMap, name: &str, value: &[u8]) -> Result<(), HandshakeError> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| HandshakeError::InvalidInput("header name is not an HTTP token"))?;
    let value = HeaderValue::from_bytes(value)
        .map_err(|_| HandshakeError::InvalidInput("header value contains control characters"))?;
    headers.append(name, value);
    Ok(())
}

/// The future of the [`WebSocket`] that [`on`] accepted: it completes once
/// the HTTP server has sent the `101` response and handed over the
/// connection.
#[derive(Debug)]
#[must_use = "the WebSocket is there once this future completes"]
pub struct OnUpgrade {
    upgrade: hyper::upgrade::OnUpgrade,
    options: Options,
    subprotocol: Option<String>,
    /// permessage-deflate, if the response selected it.
    #[cfg(feature = "deflate")]
    deflate: Option<crate::handshake::deflate::Agreed>,
}

impl Future for OnUpgrade {
    type Output = Result<WebSocket<Upgraded>, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let upgraded = ready!(Pin::new(&mut this.upgrade).poll(cx)).map_err(io::Error::other)?;
        // hyper's upgraded stream returns the bytes it read past the
        // request first: there is no leftover to hand over here.
        let stream = TokioIo::new(upgraded);
        let mut ws = WebSocket::from_upgraded(stream, Role::Server, this.options, &[])?;
        ws.set_subprotocol(this.subprotocol.take());
        #[cfg(feature = "deflate")]
        if let (Some(agreed), Some(deflate)) = (this.deflate, &this.options.deflate) {
            ws.set_deflate(&agreed, deflate);
        }
        Poll::Ready(Ok(ws))
    }
}

/// A request that is not upgraded, and the response that says why:
/// [`into_response`](Refusal::into_response).
#[derive(Debug)]
pub struct Refusal {
    status: u16,
    headers: Vec<(String, String)>,
    error: Error,
}

impl Refusal {
    fn new(status: u16, error: Error) -> Self {
        Refusal {
            status,
            headers: Vec::new(),
            error,
        }
    }

    /// The HTTP status of the response.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// Why: [`Error::Handshake`] for an invalid request (its
    /// [`status`](HandshakeError::status) is the response's),
    /// [`Error::Refused`] when `decide` refused it.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The response to send: the status, with `Sec-WebSocket-Version: 13`
    /// for 426 (§4.4) and the headers of the application's [`Rejection`];
    /// an empty body. A rejection that is not valid HTTP (status 101 or not
    /// 3 digits, a header with CR or LF) becomes a plain 500.
    pub fn into_response<R: Default>(self) -> http::Response<R> {
        let mut response = http::Response::new(R::default());
        let headers = borrowed(&self.headers);
        let fields = rejection_fields(self.status, &headers, |name, value| {
            append(response.headers_mut(), name, value)
        });
        match fields
            .ok()
            .and_then(|()| StatusCode::from_u16(self.status).ok())
        {
            Some(status) => *response.status_mut() = status,
            None => {
                response.headers_mut().clear();
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            }
        }
        response
    }
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        let status = rejection.status;
        Refusal {
            status,
            headers: rejection.headers,
            error: Error::Refused { status },
        }
    }
}

impl core::fmt::Display for Refusal {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.error.fmt(f)
    }
}

impl std::error::Error for Refusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}
