//! Async WebSockets over `embedded_io_async::{Read, Write}`, for executors
//! such as embassy. The same API as [`super::blocking`], with `async` methods.

use super::{Error, Io, Message, Session, finish_read, handshake};
use crate::close::CloseCode;
use crate::config::Config;
use crate::connection::{Connection, NoRng, State};
use crate::driver::{Driver, Next};
use crate::event::{Event, Outgoing};
use crate::handshake::client::ClientRequest;
use crate::handshake::server::{Accept, Request};
use embedded_io_async::{Read, Write};

/// What [`client`] returns: the WebSocket and the subprotocol the server
/// selected (one of the request's).
pub type Connected<'b, 'r, T, R> = (WebSocket<'b, T, R>, Option<&'r str>);

/// A WebSocket over an async embedded transport, after the handshake.
/// `'b` is the lifetime of the input and output buffers it borrows.
///
/// **Cancel safety.** `read`, `read_event_with`, `write`, `flush`, `send`
/// and `close` are cancel-safe: a future dropped at any `.await` loses no
/// received message (a message's bytes stay in the caller's buffer — pass
/// the same buffer to the next `read` — and a control frame is returned by
/// the next `read`), and leaves the connection at a frame boundary, so
/// owed pongs and close frames still go out. `write` (and `send`) of a
/// frame that fits the output buffer either queued it whole or not at all;
/// a bigger one goes out as fragments of the buffer's size: call `write`
/// again with the same frame to finish it (anything else fails with
/// [`SendError::MessageInProgress`](crate::SendError::MessageInProgress);
/// `close` still works).
#[derive(Debug)]
pub struct WebSocket<'b, T, R = NoRng> {
    transport: T,
    session: Session<'b, R>,
}

/// Opens a client connection: writes the upgrade request for `request`,
/// validates the response, and returns the WebSocket with the subprotocol
/// the server selected (one of `request.subprotocols`). `rng` makes the key
/// and every masking key: it must be cryptographically secure.
pub async fn client<'b, 'r, T, R>(
    mut transport: T,
    request: &ClientRequest<'r>,
    config: Config,
    mut rng: R,
    input: &'b mut [u8],
    output: &'b mut [u8],
) -> Result<Connected<'b, 'r, T, R>, Error<T::Error>>
where
    T: Read + Write,
    R: rand_core::CryptoRng,
{
    let mut step = handshake::Client::new(request, &mut rng, input.len());
    let mut io = handshake::Buffers::new(input, output);
    let subprotocol = run(&mut transport, &mut io, |io| step.poll(io)).await?;
    // Made in place, into the caller's hands: through a `let`, the driver
    // would be one more copy on the stack (192 bytes on a Cortex-M3).
    Ok((
        WebSocket::from_driver(transport, io.into_driver(Connection::client(config, rng))),
        subprotocol,
    ))
}

/// Accepts a client: reads the upgrade request (it must fit in `input`),
/// lets `decide` look at it (path, Origin, offered subprotocols) and answers
/// with 101 and a WebSocket, or with the returned HTTP status and
/// [`Error::Refused`]. Invalid requests get the status their error calls for.
/// A permessage-deflate offer is declined ([`accept_inflating`] takes it).
pub async fn accept<'b, T, F>(
    transport: T,
    config: Config,
    input: &'b mut [u8],
    output: &'b mut [u8],
    decide: F,
) -> Result<WebSocket<'b, T, NoRng>, Error<T::Error>>
where
    T: Read + Write,
    F: FnOnce(&Request<'_>) -> Result<Accept<'static>, u16>,
{
    let mut step = handshake::Server::new(decide);
    accept_with_step(transport, config, input, output, &mut step).await
}

/// [`accept`], and a permessage-deflate offer (RFC 7692) that `inflate`
/// can serve is accepted: the client's compressed messages are then
/// inflated into `read`'s buffer through `inflate`'s memory (held to
/// `config.max_message_size` as they inflate, text checked as it comes),
/// and ours go uncompressed. Offers it cannot serve are declined.
#[cfg(feature = "inflate")]
pub async fn accept_inflating<'b, T, F>(
    transport: T,
    config: Config,
    input: &'b mut [u8],
    output: &'b mut [u8],
    inflate: super::Inflate<'b>,
    decide: F,
) -> Result<WebSocket<'b, T, NoRng>, Error<T::Error>>
where
    T: Read + Write,
    F: FnOnce(&Request<'_>) -> Result<Accept<'static>, u16>,
{
    let mut step = handshake::Server::inflating(decide, inflate.config());
    let mut ws = accept_with_step(transport, config, input, output, &mut step).await?;
    if step.agreed().is_some() {
        ws.session.inflate_with(inflate.inflater);
    }
    Ok(ws)
}

/// The server handshake `step` over `transport` (which then knows what
/// permessage-deflate agreed).
async fn accept_with_step<'b, T, F>(
    mut transport: T,
    config: Config,
    input: &'b mut [u8],
    output: &'b mut [u8],
    step: &mut handshake::Server<F, T::Error>,
) -> Result<WebSocket<'b, T, NoRng>, Error<T::Error>>
where
    T: Read + Write,
    F: FnOnce(&Request<'_>) -> Result<Accept<'static>, u16>,
{
    let mut io = handshake::Buffers::new(input, output);
    let answered = match run(&mut transport, &mut io, |io| step.poll(io)).await {
        Ok(()) => flush_written(&mut transport, &mut io).await,
        Err(e) => Err(e),
    };
    step.finish(answered)?;
    // Made in place, into the caller's hands: through a `let`, the driver
    // would be one more copy on the stack (192 bytes on a Cortex-M3).
    Ok(WebSocket::from_driver(
        transport,
        io.into_driver(Connection::server(config)),
    ))
}

/// Runs one operation to its end: the adapter's only I/O loop.
async fn run<T, B, U>(
    transport: &mut T,
    io: &mut B,
    mut op: impl FnMut(&mut B) -> Next<Result<U, Error<T::Error>>>,
) -> Result<U, Error<T::Error>>
where
    T: Read + Write,
    B: Io,
{
    loop {
        match op(io) {
            Next::Ready(result) => return result,
            Next::Read => {
                flush_written(transport, io).await?;
                match transport.read(io.input_space()).await {
                    Ok(n) => io.input_filled(n),
                    Err(e) => return Err(io.io_error(e)),
                }
            }
            Next::Write => match transport.write(io.pending_output()).await {
                Ok(0) => {
                    io.shut_down();
                    return Err(Error::TransportClosed);
                }
                Ok(n) => {
                    io.output_written(n);
                    *io.unflushed() = true;
                }
                Err(e) => return Err(io.io_error(e)),
            },
            // The transport is the caller's: dropping the WebSocket (or
            // `into_inner`) closes it.
            Next::Shutdown => io.shut_down(),
        }
    }
}

/// Flushes the transport.
async fn flush_transport<T: Write, B: Io>(
    transport: &mut T,
    io: &mut B,
) -> Result<(), Error<T::Error>> {
    match transport.flush().await {
        Ok(()) => {
            *io.unflushed() = false;
            Ok(())
        }
        Err(e) => Err(io.io_error(e)),
    }
}

/// Flushes the transport if bytes were written since its last flush.
async fn flush_written<T: Write, B: Io>(
    transport: &mut T,
    io: &mut B,
) -> Result<(), Error<T::Error>> {
    if *io.unflushed() {
        flush_transport(transport, io).await?;
    }
    Ok(())
}

impl<'b, T, R> WebSocket<'b, T, R>
where
    T: Read + Write,
    R: rand_core::Rng,
{
    /// Wraps a transport whose handshake happened elsewhere.
    pub fn from_driver(transport: T, driver: Driver<R, &'b mut [u8], &'b mut [u8]>) -> Self {
        WebSocket {
            transport,
            session: Session::new(driver),
        }
    }

    /// Runs one operation of the session to its end.
    async fn run<U>(
        &mut self,
        op: impl FnMut(&mut Session<'b, R>) -> Next<Result<U, Error<T::Error>>>,
    ) -> Result<U, Error<T::Error>> {
        run(&mut self.transport, &mut self.session, op).await
    }

    /// Reads the next whole message into `buf`, or a control frame. A
    /// message larger than `buf` fails the connection with 1009. Pings are
    /// answered and the peer's close is replied to before this returns;
    /// after the closing handshake it returns [`Error::ConnectionClosed`].
    ///
    /// A control frame may arrive in the middle of a fragmented message:
    /// `read` returns it and keeps the part of the message already in `buf`.
    /// Pass the same buffer to the next `read` to continue the message (the
    /// same holds after an error or, for the async adapter, a cancelled read).
    pub async fn read<'m>(&mut self, buf: &'m mut [u8]) -> Result<Message<'m>, Error<T::Error>> {
        let done = self.run(|session| session.poll_read(buf)).await?;
        finish_read(done, &self.session, buf)
    }

    /// Reads the next event and hands it to `f`: data in chunks borrowed
    /// from the input buffer (messages of any size), control frames whole.
    pub async fn read_event_with<U>(
        &mut self,
        mut f: impl FnMut(Event<'_>) -> U,
    ) -> Result<U, Error<T::Error>> {
        self.run(|session| session.poll_event_with(&mut f)).await
    }

    /// Queues a frame, writing queued output when the buffer is full; a
    /// data frame larger than the whole output buffer is sent as fragments
    /// that fill it.
    pub async fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error<T::Error>> {
        self.run(|session| session.poll_write(frame)).await
    }

    /// Writes everything queued and flushes the transport.
    pub async fn flush(&mut self) -> Result<(), Error<T::Error>> {
        self.run(|session| session.driver.poll_flush().map_ready(Ok))
            .await?;
        flush_transport(&mut self.transport, &mut self.session).await
    }

    /// Sends a frame: [`write`](WebSocket::write) + [`flush`](WebSocket::flush).
    pub async fn send(&mut self, frame: Outgoing<'_>) -> Result<(), Error<T::Error>> {
        self.write(frame).await?;
        self.flush().await
    }

    /// Runs the closing handshake: sends a close (unless one was sent),
    /// reads until the peer's close (dropping messages in between), and, as
    /// a client, until the server ends the transport. Drop the WebSocket
    /// (or [`into_inner`](WebSocket::into_inner)) afterwards to close it.
    pub async fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error<T::Error>> {
        self.run(|session| session.poll_close(code, reason)).await?;
        flush_written(&mut self.transport, &mut self.session).await
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.session.driver.connection().state()
    }

    /// The connection underneath.
    pub fn connection(&self) -> &Connection<R> {
        self.session.driver.connection()
    }

    /// The connection underneath, e.g. to mark the next message with RSV
    /// bits ([`Connection::set_next_message_rsv`]) for a payload that an
    /// extension encoded.
    pub fn connection_mut(&mut self) -> &mut Connection<R> {
        self.session.driver.connection_mut()
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> T {
        self.transport
    }
}
