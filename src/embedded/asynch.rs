//! Async WebSockets over `embedded_io_async::{Read, Write}`, for executors
//! such as embassy. The same API as [`super::blocking`], with `async` methods.

use super::blocking::ended;
use super::{Error, MAX_HEADERS, Message, Step, step, whole_message};
use crate::close::CloseCode;
use crate::config::Config;
use crate::connection::{Connection, NoRng, State};
use crate::driver::Driver;
use crate::error::{ProtocolError, SendError};
use crate::event::{Event, Outgoing};
use crate::handshake::EMPTY_HEADER;
use crate::handshake::client::{ClientHandshake, ClientRequest};
use crate::handshake::server::{Accept, Request, write_rejection};
use crate::message::{MessageAssembler, MessageBuffer, SliceBuffer};
use embedded_io_async::{Read, Write};

/// What [`client`] returns: the WebSocket and the subprotocol the server
/// selected (one of the request's).
pub type Connected<'b, 'r, T, R> = (WebSocket<'b, T, R>, Option<&'r str>);

/// A WebSocket over an async embedded transport, after the handshake.
/// `'b` is the lifetime of the input and output buffers it borrows.
#[derive(Debug)]
pub struct WebSocket<'b, T, R = NoRng> {
    transport: T,
    driver: Driver<R, &'b mut [u8], &'b mut [u8]>,
    /// Bytes of an unfinished message already in the caller's message
    /// buffer (a control frame, an error or a cancelled read came first).
    partial: usize,
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
    let handshake = ClientHandshake::new(*request, &mut rng).max_header_bytes(input.len());
    let n = handshake.write_request(output)?;
    write_all(&mut transport, &output[..n]).await?;
    let mut filled = 0;
    let (len, subprotocol) = loop {
        filled += read_some(&mut transport, &mut input[filled..]).await?;
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        if let Some(response) = handshake.receive(&input[..filled], &mut headers)? {
            let chosen = response.subprotocol.and_then(|p| {
                request
                    .subprotocols
                    .iter()
                    .copied()
                    .find(|offer| *offer == p)
            });
            break (response.len, chosen);
        }
    };
    let conn = Connection::client(config, rng);
    let driver = Driver::with_buffered_input(conn, input, len..filled, output);
    Ok((WebSocket::from_driver(transport, driver), subprotocol))
}

/// Accepts a client: reads the upgrade request (it must fit in `input`),
/// lets `decide` look at it (path, Origin, offered subprotocols) and answers
/// with 101 and a WebSocket, or with the returned HTTP status and
/// [`Error::Refused`]. Invalid requests get the status their error calls for.
pub async fn accept<'b, T, F>(
    mut transport: T,
    config: Config,
    input: &'b mut [u8],
    output: &'b mut [u8],
    decide: F,
) -> Result<WebSocket<'b, T, NoRng>, Error<T::Error>>
where
    T: Read + Write,
    F: FnOnce(&Request<'_>) -> Result<Accept<'static>, u16>,
{
    let limit = input.len();
    let mut filled = 0;
    let (n, len) = loop {
        filled += read_some(&mut transport, &mut input[filled..]).await?;
        let mut headers = [EMPTY_HEADER; MAX_HEADERS];
        let request = match Request::parse(&input[..filled], &mut headers, limit) {
            Ok(None) => continue,
            Ok(Some(request)) => request,
            Err(e) => {
                return Err(refuse(&mut transport, output, e.status(), Error::Handshake(e)).await);
            }
        };
        let accept = match decide(&request) {
            Ok(accept) => accept,
            Err(status) => {
                return Err(
                    refuse(&mut transport, output, status, Error::Refused { status }).await,
                );
            }
        };
        match request.accept(&accept, output) {
            Ok(n) => break (n, request.len),
            Err(e) => {
                return Err(refuse(&mut transport, output, e.status(), Error::Handshake(e)).await);
            }
        }
    };
    write_all(&mut transport, &output[..n]).await?;
    let driver =
        Driver::with_buffered_input(Connection::server(config), input, len..filled, output);
    Ok(WebSocket::from_driver(transport, driver))
}

/// Answers a refused handshake with `status` (best effort) and returns `error`.
async fn refuse<T: Write>(
    transport: &mut T,
    output: &mut [u8],
    status: u16,
    error: Error<T::Error>,
) -> Error<T::Error> {
    if let Ok(n) = write_rejection(status, &[], output) {
        let _ = write_all(transport, &output[..n]).await;
    }
    error
}

async fn read_some<T: Read>(transport: &mut T, buf: &mut [u8]) -> Result<usize, Error<T::Error>> {
    match transport.read(buf).await.map_err(Error::Io)? {
        0 => Err(Error::TransportClosed),
        n => Ok(n),
    }
}

async fn write_all<T: Write>(transport: &mut T, bytes: &[u8]) -> Result<(), Error<T::Error>> {
    transport.write_all(bytes).await.map_err(Error::Io)?;
    transport.flush().await.map_err(Error::Io)
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
            driver,
            partial: 0,
        }
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
        let capacity = buf.len() as u64;
        let Some(resumed) = SliceBuffer::resume(buf, self.partial) else {
            let too_small = ProtocolError::MessageTooLarge {
                len: self.partial as u64,
                max: capacity,
            };
            return Err(self.fail(too_small).await);
        };
        let mut assembler = MessageAssembler::new(resumed);
        loop {
            let step = self
                .with_next_event(|event| step(event, &mut assembler))
                .await;
            self.partial = assembler.buffer_mut().bytes().len();
            match step? {
                Step::Continue => continue,
                Step::Whole(kind) => {
                    self.partial = 0;
                    return whole_message(kind, assembler.into_inner().into_filled());
                }
                Step::Control(message) => {
                    self.flush_owed().await?;
                    return Ok(message);
                }
                Step::Fail(e) => {
                    self.partial = 0;
                    return Err(self.fail(e).await);
                }
            }
        }
    }

    /// Fails the connection for `error`, sending the close frame if the
    /// transport allows, and hands the error back.
    async fn fail(&mut self, error: ProtocolError) -> Error<T::Error> {
        self.driver.connection_mut().fail(error);
        let _ = self.flush_owed().await;
        Error::Protocol(error)
    }

    /// Reads the next event and hands it to `f`: data in chunks borrowed
    /// from the input buffer (messages of any size), control frames whole.
    pub async fn read_event_with<U>(
        &mut self,
        f: impl FnMut(Event<'_>) -> U,
    ) -> Result<U, Error<T::Error>> {
        self.with_next_event(f).await
    }

    async fn with_next_event<U>(
        &mut self,
        mut f: impl FnMut(Event<'_>) -> U,
    ) -> Result<U, Error<T::Error>> {
        loop {
            self.queue_owed().await?;
            if !self.driver.has_input() {
                self.fill().await?;
            }
            match self.driver.next_event(&mut f) {
                Ok(Some(out)) => return Ok(out),
                Ok(None) => continue,
                Err(e) => {
                    let _ = self.flush_owed().await;
                    return Err(Error::Protocol(e));
                }
            }
        }
    }

    /// Reads into the empty input buffer, after writing everything queued.
    async fn fill(&mut self) -> Result<(), Error<T::Error>> {
        self.flush_owed().await?;
        let conn = self.driver.connection();
        if conn.state() == State::Closed && conn.should_shutdown() {
            return Err(ended(conn.failure()));
        }
        let n = self
            .transport
            .read(self.driver.input_space())
            .await
            .map_err(Error::Io)?;
        if n == 0 {
            return Err(match self.driver.receive_eof() {
                Ok(()) => Error::ConnectionClosed,
                Err(e) => Error::Protocol(e),
            });
        }
        self.driver.input_filled(n);
        Ok(())
    }

    /// Queues a frame, writing queued output when the buffer is full; a
    /// data frame larger than the whole output buffer is streamed through it.
    pub async fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error<T::Error>> {
        self.queue_owed().await?;
        for attempt in 0..2 {
            match self.driver.queue(frame) {
                Err(SendError::BufferTooSmall { .. }) if attempt == 0 => self.flush().await?,
                Err(SendError::BufferTooSmall { .. }) => {}
                other => return other.map_err(Error::Send),
            }
        }
        // Control frames always fit an output buffer of the documented size.
        let Some((kind, payload, last)) = frame.as_data() else {
            return self.driver.queue(frame).map_err(Error::Send);
        };
        self.driver
            .queue_frame_start(kind, payload.len() as u64, last)?;
        let mut taken = 0;
        while taken < payload.len() {
            taken += self.driver.queue_payload(&payload[taken..])?;
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes everything queued and flushes the transport.
    pub async fn flush(&mut self) -> Result<(), Error<T::Error>> {
        while self.driver.has_pending_output() {
            match self
                .transport
                .write(self.driver.pending_output())
                .await
                .map_err(Error::Io)?
            {
                0 => return Err(Error::TransportClosed),
                n => self.driver.output_written(n),
            }
        }
        self.transport.flush().await.map_err(Error::Io)
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
        match self.state() {
            State::Open => self.write(Outgoing::Close(Some((code, reason)))).await?,
            State::CloseReceived => self.queue_owed().await?,
            State::CloseSent | State::Closed => {}
        }
        self.flush().await?;
        loop {
            match self.read_event_with(|_| ()).await {
                Ok(()) => continue,
                Err(Error::ConnectionClosed) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.driver.connection().state()
    }

    /// The connection underneath.
    pub fn connection(&self) -> &Connection<R> {
        self.driver.connection()
    }

    /// Gives the transport back.
    pub fn into_inner(self) -> T {
        self.transport
    }

    /// Queues owed control frames, writing queued output to make room.
    async fn queue_owed(&mut self) -> Result<(), Error<T::Error>> {
        if !self.driver.queue_owed() {
            self.flush().await?;
            self.driver.queue_owed();
        }
        Ok(())
    }

    async fn flush_owed(&mut self) -> Result<(), Error<T::Error>> {
        self.queue_owed().await?;
        self.flush().await
    }
}
