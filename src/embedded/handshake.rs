//! The opening handshake (RFC 6455 §4) as steps, shared by the blocking
//! and the async adapter, which run them in their one I/O loop like any
//! other operation (over [`Buffers`] instead of a [`Session`](super::Session)).
//!
//! The handshake lives in the connection's buffers: the peer's header block
//! accumulates in the input buffer (which therefore bounds it), our request,
//! 101 response or refusal is queued in the output buffer, and whatever
//! follows the header block stays in the input buffer as the first frames
//! ([`Buffers::into_driver`]). Each `poll` answers [`Next::Write`] while our
//! part is being written, [`Next::Read`] while the peer's header block is
//! incomplete, and [`Next::Ready`] when the handshake is over.
//!
//! Only a few words of state: the `WebSocket` is made once the handshake
//! is over, straight into the caller's hands, not moved through it.

use super::{Error, Io, MAX_HEADERS};
use crate::connection::Connection;
use crate::driver::{Driver, Next};
use crate::handshake::EMPTY_HEADER;
use crate::handshake::HandshakeError;
use crate::handshake::client::{ClientHandshake, ClientRequest};
#[cfg(feature = "inflate")]
use crate::handshake::deflate::{Agreed, DeflateConfig};
use crate::handshake::server::{Accept, Request, write_rejection};

/// The input and output buffers during the handshake.
#[derive(Debug)]
pub(crate) struct Buffers<'b> {
    input: &'b mut [u8],
    /// Bytes received: `input[..filled]`.
    filled: usize,
    /// The length of the peer's header block, once it is complete.
    header_len: usize,
    output: &'b mut [u8],
    /// Our part is `output[..queued]`, written up to `written`.
    queued: usize,
    written: usize,
    /// The transport ended (a read returned 0 bytes).
    ended: bool,
    unflushed: bool,
}

impl<'b> Buffers<'b> {
    pub(crate) fn new(input: &'b mut [u8], output: &'b mut [u8]) -> Self {
        Buffers {
            input,
            filled: 0,
            header_len: 0,
            output,
            queued: 0,
            written: 0,
            ended: false,
            unflushed: false,
        }
    }

    /// The driver for the connection the handshake opened, with the bytes
    /// that followed the header block as its first input.
    pub(crate) fn into_driver<R: rand_core::Rng>(
        self,
        conn: Connection<R>,
    ) -> Driver<R, &'b mut [u8], &'b mut [u8]> {
        Driver::with_buffered_input(conn, self.input, self.header_len..self.filled, self.output)
    }

    /// The peer's header block is incomplete: a read, unless the transport ended.
    fn read_more<T, E>(&self) -> Next<Result<T, Error<E>>> {
        if self.ended {
            return Next::Ready(Err(Error::TransportClosed));
        }
        Next::Read
    }

    /// `Ready(Ok)` once our part is written.
    fn written<E>(&self) -> Next<Result<(), Error<E>>> {
        if self.written < self.queued {
            return Next::Write;
        }
        Next::Ready(Ok(()))
    }
}

impl Io for Buffers<'_> {
    fn input_space(&mut self) -> &mut [u8] {
        &mut self.input[self.filled..]
    }

    fn input_filled(&mut self, n: usize) {
        self.ended |= n == 0;
        self.filled = self.filled.saturating_add(n).min(self.input.len());
    }

    fn pending_output(&self) -> &[u8] {
        &self.output[self.written..self.queued]
    }

    fn output_written(&mut self, n: usize) {
        self.written = self.written.saturating_add(n).min(self.queued);
    }

    fn unflushed(&mut self) -> &mut bool {
        &mut self.unflushed
    }

    // The handshake never asks for a shutdown; after a failed write the
    // buffers are dropped.
    fn shut_down(&mut self) {}

    fn io_error<E>(&mut self, error: E) -> Error<E> {
        Error::Io(error)
    }
}

/// A client's handshake: the upgrade request goes out, then the response
/// is read until it is complete and validated.
pub(crate) struct Client<'r> {
    handshake: ClientHandshake<'r>,
    /// The request is queued.
    sent: bool,
}

impl<'r> Client<'r> {
    /// A handshake for `request` with a fresh key from `rng`; the response's
    /// header block may be as large as the input buffer (`input_len`).
    pub(crate) fn new<R: rand_core::CryptoRng>(
        request: &ClientRequest<'r>,
        rng: &mut R,
        input_len: usize,
    ) -> Self {
        Client {
            handshake: ClientHandshake::new(*request, rng).max_header_bytes(input_len),
            sent: false,
        }
    }

    /// `Ready` with the subprotocol the server selected (one of the
    /// request's) once the response is validated.
    pub(crate) fn poll<E>(
        &mut self,
        io: &mut Buffers<'_>,
    ) -> Next<Result<Option<&'r str>, Error<E>>> {
        if !self.sent {
            match self.handshake.write_request(io.output) {
                Ok(n) => io.queued = n,
                Err(e) => return Next::Ready(Err(e.into())),
            }
            self.sent = true;
        }
        if io.written < io.queued {
            return Next::Write;
        }
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        match self.handshake.receive(&io.input[..io.filled], &mut headers) {
            Ok(Some(response)) => {
                io.header_len = response.len;
                let offered = self.handshake.request().subprotocols;
                let chosen = response
                    .subprotocol
                    .and_then(|p| offered.iter().copied().find(|offer| *offer == p));
                Next::Ready(Ok(chosen))
            }
            Ok(None) => io.read_more(),
            Err(e) => Next::Ready(Err(e.into())),
        }
    }
}

/// A server's handshake: the request is read until it is complete,
/// `decide` looks at it, and the 101 response or a refusal goes out.
pub(crate) struct Server<F, E> {
    /// Taken once the request is complete.
    decide: Option<F>,
    /// Why the handshake failed, once its refusal is queued.
    refused: Option<Error<E>>,
    /// permessage-deflate to accept, if offered (`None`: decline).
    #[cfg(feature = "inflate")]
    deflate: Option<DeflateConfig>,
    /// What permessage-deflate agreed, once the 101 is queued.
    #[cfg(feature = "inflate")]
    agreed: Option<Agreed>,
}

impl<F, E> Server<F, E>
where
    F: FnOnce(&Request<'_>) -> Result<Accept<'static>, u16>,
{
    pub(crate) fn new(decide: F) -> Self {
        Server {
            decide: Some(decide),
            refused: None,
            #[cfg(feature = "inflate")]
            deflate: None,
            #[cfg(feature = "inflate")]
            agreed: None,
        }
    }

    /// A server that accepts permessage-deflate as `deflate` says.
    #[cfg(feature = "inflate")]
    pub(crate) fn inflating(decide: F, deflate: DeflateConfig) -> Self {
        Server {
            deflate: Some(deflate),
            ..Server::new(decide)
        }
    }

    /// What permessage-deflate agreed, if the 101 accepted it.
    #[cfg(feature = "inflate")]
    pub(crate) fn agreed(&self) -> Option<Agreed> {
        self.agreed
    }

    /// `Ready(Ok)` once the answer, 101 or refusal, is written; then
    /// [`finish`](Server::finish) says how the handshake ended. Invalid
    /// requests are refused with the status their error calls for.
    pub(crate) fn poll(&mut self, io: &mut Buffers<'_>) -> Next<Result<(), Error<E>>> {
        let Some(decide) = self.decide.take() else {
            return io.written();
        };
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let limit = io.input.len();
        let (status, error) = match Request::parse(&io.input[..io.filled], &mut headers, limit) {
            Ok(None) => {
                self.decide = Some(decide);
                return io.read_more();
            }
            Ok(Some(request)) => match decide(&request) {
                Ok(accept) => match self.answer(&request, &accept, io.output) {
                    Ok(n) => {
                        (io.header_len, io.queued) = (request.len, n);
                        return io.written();
                    }
                    Err(e) => (e.status(), Error::Handshake(e)),
                },
                Err(status) => (status, Error::Refused { status }),
            },
            Err(e) => (e.status(), Error::Handshake(e)),
        };
        // Best effort: a refusal that does not fit the buffer is not sent.
        if let Ok(n) = write_rejection(status, &[], io.output) {
            io.queued = n;
        }
        self.refused = Some(error);
        io.written()
    }

    /// The 101 response into `out`, with permessage-deflate when it is to
    /// be accepted and the client offered it; its length.
    fn answer(
        &mut self,
        request: &Request<'_>,
        accept: &Accept<'_>,
        out: &mut [u8],
    ) -> Result<usize, HandshakeError> {
        #[cfg(not(feature = "inflate"))]
        return request.accept(accept, out);
        #[cfg(feature = "inflate")]
        match self.deflate {
            // The application chose extensions itself: its answer stands.
            Some(deflate) if accept.extensions.is_none() => {
                let (agreed, n) = answer_deflate(request, accept, &deflate, out)?;
                self.agreed = agreed;
                Ok(n)
            }
            _ => request.accept(accept, out),
        }
    }

    /// How the handshake ended, given how writing the answer (and flushing
    /// the transport) went: a refusal ends with its error whether or not
    /// the transport took it.
    pub(crate) fn finish(&mut self, answered: Result<(), Error<E>>) -> Result<(), Error<E>> {
        match self.refused.take() {
            Some(error) => Err(error),
            None => answered,
        }
    }
}

/// [`Server::answer`] with permessage-deflate: the first acceptable offer's
/// response goes in `Sec-WebSocket-Extensions`. Out of line, so that its
/// buffer for the response value takes stack only when it is used.
#[cfg(feature = "inflate")]
#[inline(never)]
fn answer_deflate(
    request: &Request<'_>,
    accept: &Accept<'_>,
    deflate: &DeflateConfig,
    out: &mut [u8],
) -> Result<(Option<Agreed>, usize), HandshakeError> {
    // The longest response (every parameter) is under 128 bytes.
    let mut value = [0u8; 128];
    let offers = request.extensions().map(str::as_bytes);
    let Some((agreed, len)) = deflate.negotiate(offers, &mut value)? else {
        return Ok((None, request.accept(accept, out)?));
    };
    let value = core::str::from_utf8(&value[..len]).map_err(|_| HandshakeError::BufferTooSmall)?;
    let accept = Accept {
        extensions: Some(value),
        ..*accept
    };
    Ok((Some(agreed), request.accept(&accept, out)?))
}
