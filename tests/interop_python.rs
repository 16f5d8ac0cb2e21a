//! Interoperability with an independent implementation: the Python
//! `websockets` library, in both directions, over 127.0.0.1.
//!
//! Every scenario runs twice, on the blocking adapter (module `blocking`)
//! and on the tokio adapter (module `tokio_adapter`), through [`Peer`].
//!
//! * wsock client (`ClientBuilder`) ↔ `tests/python/ws_echo_server.py`
//!   (an asyncio `websockets` echo server with a few text commands);
//! * `tests/python/ws_client.py` (a sync `websockets` client running one
//!   scripted scenario) ↔ a wsock server (`accept_with`) in a thread.
//!
//! Compression is on everywhere, as `websockets` has it by default: both
//! sides offer and accept permessage-deflate, and the `messages` scenarios
//! check that it was negotiated (each side reports the header it got).
//!
//! The tests need a Python with `websockets` installed: `$WSOCK_PYTHON`, else
//! `<repo>/.venv/bin/python` (created by `.ci/autobahn.sh`). They are ignored
//! by a plain `cargo test`; run them with
//! `cargo test --test interop_python -- --ignored`. Without that Python they
//! fail, loudly, rather than pass silently. They need the `tokio` feature
//! (`--all-features`, as CI runs them).
#![cfg(feature = "tokio")]

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use wsock::blocking::{
    Acceptance, ClientBuilder, CloseFrame, Error, Message, Options, Transport, WebSocket,
    accept_with,
};
use wsock::{CloseCode, DataKind, Outgoing};

/// The bound on every blocking read and on waiting for a line from a child.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The bound on a Python client's whole run.
const CHILD_TIMEOUT: Duration = Duration::from_secs(15);
/// The pinned version, as `.ci/autobahn.sh` installs it.
const WEBSOCKETS_VERSION: &str = "17.4";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn script(name: &str) -> PathBuf {
    repo().join("tests").join("python").join(name)
}

/// The Python interpreter with `websockets`; panics with a how-to otherwise.
fn python() -> &'static Path {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match PYTHON.get_or_init(find_python) {
        Ok(path) => path,
        Err(e) => panic!("{e}"),
    }
}

fn find_python() -> Result<PathBuf, String> {
    let (path, source) = match std::env::var_os("WSOCK_PYTHON") {
        Some(p) => (PathBuf::from(p), "$WSOCK_PYTHON"),
        None => (repo().join(".venv/bin/python"), "the default venv"),
    };
    let how = format!(
        "these interop tests need a Python with `websockets` installed: create the venv \
         (`python3 -m venv .venv && .venv/bin/pip install websockets=={WEBSOCKETS_VERSION}`, \
         as .ci/autobahn.sh does) or point $WSOCK_PYTHON at such an interpreter"
    );
    if !path.exists() {
        return Err(format!(
            "Python interpreter {} ({source}) does not exist; {how}",
            path.display()
        ));
    }
    let out = Command::new(&path)
        .args(["-c", "import websockets; print(websockets.__version__)"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {} ({source}): {e}; {how}", path.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} ({source}) cannot import websockets ({}): {}; {how}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(path)
}

/// Kills (and reaps) the child when dropped, whether the test passed or not.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a child's pipe to the end into a shared string.
fn collect(mut pipe: impl Read + Send + 'static) -> (Arc<Mutex<String>>, JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let handle = thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (text, handle)
}

// --- the Python server ---------------------------------------------------------------

/// `ws_echo_server.py`, running; its stdout arrives line by line.
struct PythonServer {
    port: u16,
    lines: Receiver<String>,
    stderr: Arc<Mutex<String>>,
    _child: ChildGuard,
}

impl PythonServer {
    fn start() -> Self {
        let mut child = Command::new(python())
            .arg(script("ws_echo_server.py"))
            .env("PYTHONIOENCODING", "utf-8")
            // The server exits when its stdin closes, i.e. when this process is gone.
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start ws_echo_server.py: {e}"));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let child = ChildGuard(child);
        let (stderr, _) = collect(stderr);
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = PythonServer {
            port: 0,
            lines,
            stderr,
            _child: child,
        };
        let first = server.next_line("its port");
        server.port = first
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("ws_echo_server.py printed {first:?}, not a port"));
        server
    }

    fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/interop", self.port)
    }

    fn next_line(&self, what: &str) -> String {
        match self.lines.recv_timeout(TIMEOUT) {
            Ok(line) => line,
            Err(e) => {
                let why = match e {
                    RecvTimeoutError::Timeout => "timed out",
                    RecvTimeoutError::Disconnected => "its stdout ended",
                };
                panic!(
                    "waiting for {what} from ws_echo_server.py: {why}; its stderr:\n{}",
                    self.stderr.lock().unwrap()
                )
            }
        }
    }

    /// The next event line of the given kind (`open`, `closed`, ...); fails on
    /// an `error` line.
    fn expect_event(&self, kind: &str) -> String {
        let line = self.next_line(&format!("a `{kind}` line"));
        assert!(
            line.split(' ').next() == Some(kind),
            "expected a `{kind}` line from ws_echo_server.py, got {line:?}; its stderr:\n{}",
            self.stderr.lock().unwrap()
        );
        line
    }
}

// --- the wsock client ----------------------------------------------------------------

/// The adapter a scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Adapter {
    Blocking,
    Tokio,
}

/// The wsock side of a scenario, on either std adapter.
trait Peer {
    fn read(&mut self) -> Result<Message, Error>;
    fn send(&mut self, message: Message) -> Result<(), Error>;
    fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error>;
    fn flush(&mut self) -> Result<(), Error>;
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error>;
    fn subprotocol(&self) -> Option<&str>;
}

impl<S: Transport> Peer for WebSocket<S> {
    fn read(&mut self) -> Result<Message, Error> {
        WebSocket::read(self)
    }
    fn send(&mut self, message: Message) -> Result<(), Error> {
        WebSocket::send(self, message)
    }
    fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        WebSocket::write(self, frame)
    }
    fn flush(&mut self) -> Result<(), Error> {
        WebSocket::flush(self)
    }
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        WebSocket::close(self, code, reason)
    }
    fn subprotocol(&self) -> Option<&str> {
        WebSocket::subprotocol(self)
    }
}

/// A tokio WebSocket driven to completion on its own runtime, each call
/// bounded by [`TIMEOUT`] as the blocking side's socket timeout bounds it.
struct TokioPeer<S> {
    runtime: tokio::runtime::Runtime,
    ws: wsock::tokio::WebSocket<S>,
}

/// The client's stream (`connect`) or the server's (`accept`).
trait TokioStream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin {}
impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> TokioStream for S {}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

impl<S: TokioStream> TokioPeer<S> {
    fn run<T>(
        &mut self,
        op: impl AsyncFnOnce(&mut wsock::tokio::WebSocket<S>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let ws = &mut self.ws;
        self.runtime.block_on(async move {
            match tokio::time::timeout(TIMEOUT, op(ws)).await {
                Ok(result) => result,
                Err(_) => Err(Error::Io(std::io::ErrorKind::TimedOut.into())),
            }
        })
    }
}

impl<S: TokioStream> Peer for TokioPeer<S> {
    fn read(&mut self) -> Result<Message, Error> {
        self.run(async |ws| ws.read().await)
    }
    fn send(&mut self, message: Message) -> Result<(), Error> {
        self.run(async |ws| ws.send(message).await)
    }
    fn write(&mut self, frame: Outgoing<'_>) -> Result<(), Error> {
        self.ws.write(frame)
    }
    fn flush(&mut self) -> Result<(), Error> {
        self.run(async |ws| ws.flush().await)
    }
    fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), Error> {
        self.run(async |ws| ws.close(code, reason).await)
    }
    fn subprotocol(&self) -> Option<&str> {
        self.ws.subprotocol()
    }
}

/// wsock's side: permessage-deflate offered and accepted (the defaults).
fn deflate() -> Options {
    Options::new().deflate(Some(wsock::blocking::DeflateOptions::default()))
}

fn connect_wsock(adapter: Adapter, url: &str, subprotocols: &[&str]) -> Box<dyn Peer> {
    let why = |e: Error| format!("wsock client ({adapter:?}): cannot connect to {url}: {e}");
    match adapter {
        Adapter::Blocking => {
            let mut ws = ClientBuilder::new(url)
                .subprotocols(subprotocols)
                .options(deflate())
                .connect()
                .unwrap_or_else(|e| panic!("{}", why(e)));
            ws.get_mut()
                .set_timeout(Some(TIMEOUT))
                .expect("set the read timeout");
            Box::new(ws)
        }
        Adapter::Tokio => {
            let runtime = tokio_runtime();
            let ws = runtime
                .block_on(
                    wsock::tokio::ClientBuilder::new(url)
                        .subprotocols(subprotocols)
                        .options(deflate())
                        .connect(),
                )
                .unwrap_or_else(|e| panic!("{}", why(e)));
            Box::new(TokioPeer { runtime, ws })
        }
    }
}

/// A short description of a message, for assertion messages.
fn describe(message: &Message) -> String {
    match message {
        Message::Text(t) if t.len() > 64 => format!("Text(<{} bytes>)", t.len()),
        Message::Binary(b) if b.len() > 64 => format!("Binary(<{} bytes>)", b.len()),
        other => format!("{other:?}"),
    }
}

/// Where two messages' payloads first differ, for assertion messages.
fn difference(got: &Message, expected: &Message) -> String {
    let bytes = |m: &Message| match m {
        Message::Text(t) => t.as_bytes().to_vec(),
        Message::Binary(b) | Message::Ping(b) | Message::Pong(b) => b.clone(),
        Message::Close(_) => Vec::new(),
    };
    let (a, b) = (bytes(got), bytes(expected));
    let at = a.iter().zip(&b).position(|(x, y)| x != y);
    format!(
        "{} instead of {} (first difference at byte {})",
        describe(got),
        describe(expected),
        at.unwrap_or(a.len().min(b.len()))
    )
}

fn read(ws: &mut dyn Peer, what: &str) -> Message {
    ws.read()
        .unwrap_or_else(|e| panic!("wsock: reading {what} failed: {e}"))
}

fn send(ws: &mut dyn Peer, message: Message) {
    let what = describe(&message);
    ws.send(message)
        .unwrap_or_else(|e| panic!("wsock: sending {what} failed: {e}"));
}

// --- what both sides exchange --------------------------------------------------------

/// About 1 MiB of UTF-8 text mixing 1- to 4-byte characters (the same text
/// as `big_text()` in ws_client.py).
fn big_text() -> String {
    let unit = "a\u{e9}\u{20ac}\u{1d11e} \u{65e5}\u{672c}\u{8a9e} \u{451}\u{436} \u{1f600}!";
    let text = unit.repeat((1 << 20) / unit.len() + 1);
    assert!(text.len() >= 1 << 20);
    text
}

/// 1 MiB of every byte value, in a pattern that does not repeat every 256 bytes.
fn big_binary() -> Vec<u8> {
    (0..1usize << 20)
        .map(|i| (i.wrapping_mul(31) + (i >> 8)) as u8)
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Writes the text `snow☃man` in three fragments, split inside the snowman
/// with a ping (`mid`) between fragments, then the binary 00..09 in three
/// fragments, the middle one empty; flushes.
fn send_fragmented(ws: &mut dyn Peer) -> Result<(), Error> {
    let text = "snow\u{2603}man".as_bytes();
    let binary: Vec<u8> = (0..10).collect();
    let fragment = |kind, payload, last| Outgoing::Fragment {
        kind,
        payload,
        last,
    };
    ws.write(fragment(DataKind::Text, &text[..5], false))?;
    ws.write(Outgoing::Ping(b"mid"))?;
    ws.write(fragment(DataKind::Text, &text[5..7], false))?;
    ws.write(fragment(DataKind::Text, &text[7..], true))?;
    ws.write(fragment(DataKind::Binary, &binary[..4], false))?;
    ws.write(fragment(DataKind::Binary, &[], false))?;
    ws.write(fragment(DataKind::Binary, &binary[4..], true))?;
    ws.flush()
}

fn ping_payloads() -> [Vec<u8>; 3] {
    [vec![], vec![0, 0xff, 0x10, 0x80], (0..125).collect()]
}

// --- wsock client ↔ Python server ----------------------------------------------------

fn wsock_client_python_server_messages(adapter: Adapter) {
    let server = PythonServer::start();
    let mut ws = connect_wsock(adapter, &server.url(), &[]);
    assert_eq!(ws.subprotocol(), None);
    assert_eq!(
        server.expect_event("open"),
        "open subprotocol=None offered=[]"
    );
    // websockets' server defaults: 12-bit windows both ways.
    send(&mut *ws, Message::Text("extensions?".into()));
    assert_eq!(
        read(&mut *ws, "the negotiated extensions"),
        Message::Text(
            "extensions:permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"
                .into()
        )
    );

    let messages = [
        Message::Text("Hello, websockets! h\u{e9}llo \u{65e5}\u{672c}".into()),
        Message::Binary(vec![0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]),
        Message::Text(String::new()),
        Message::Binary(Vec::new()),
        Message::Binary(big_binary()),
        Message::Text(big_text()),
    ];
    for message in messages {
        let what = describe(&message);
        send(&mut *ws, message.clone());
        let echo = read(&mut *ws, &format!("the echo of {what}"));
        assert!(
            echo == message,
            "Python echoed {what}: {}",
            difference(&echo, &message)
        );
    }

    ws.close(CloseCode::NORMAL, "done").expect("wsock close");
    assert_eq!(
        server.expect_event("closed"),
        "closed rcvd=(1000, 'done') sent=(1000, 'done') rcvd_then_sent=True"
    );
}

fn wsock_client_python_server_ping_pong(adapter: Adapter) {
    let server = PythonServer::start();
    let mut ws = connect_wsock(adapter, &server.url(), &[]);

    // Our pings: Python answers each with the same payload.
    for payload in ping_payloads() {
        send(&mut *ws, Message::Ping(payload.clone()));
        assert_eq!(
            read(&mut *ws, "a pong"),
            Message::Pong(payload),
            "Python's pong"
        );
    }

    // Python's ping: wsock answers it by itself; `read` still reports it.
    let payload = vec![0xde, 0xad, 0x00, 0xbe, 0xef];
    send(&mut *ws, Message::Text(format!("ping:{}", hex(&payload))));
    assert_eq!(
        read(&mut *ws, "Python's ping"),
        Message::Ping(payload.clone())
    );
    assert_eq!(
        read(&mut *ws, "Python's report of our pong"),
        Message::Text(format!("pong-received:{}", hex(&payload)))
    );
    assert_eq!(
        server.expect_event("open"),
        "open subprotocol=None offered=[]"
    );
    assert_eq!(
        server.expect_event("pong-received"),
        format!("pong-received {}", hex(&payload))
    );

    ws.close(CloseCode::NORMAL, "done").expect("wsock close");
    assert_eq!(
        server.expect_event("closed"),
        "closed rcvd=(1000, 'done') sent=(1000, 'done') rcvd_then_sent=True"
    );
}

fn wsock_client_closes_python_server_with_4000(adapter: Adapter) {
    let server = PythonServer::start();
    let mut ws = connect_wsock(adapter, &server.url(), &[]);
    send(&mut *ws, Message::Text("before close".into()));
    assert_eq!(
        read(&mut *ws, "an echo"),
        Message::Text("before close".into())
    );

    ws.close(CloseCode(4000), "bye from wsock \u{2713}")
        .expect("wsock close: the closing handshake completes");
    assert!(
        matches!(ws.read(), Err(Error::ConnectionClosed)),
        "read after close"
    );
    assert_eq!(
        server.expect_event("open"),
        "open subprotocol=None offered=[]"
    );
    assert_eq!(
        server.expect_event("closed"),
        "closed rcvd=(4000, 'bye from wsock \u{2713}') sent=(4000, 'bye from wsock \u{2713}') \
         rcvd_then_sent=True"
    );
}

fn python_server_closes_wsock_client_with_4001(adapter: Adapter) {
    let server = PythonServer::start();
    let mut ws = connect_wsock(adapter, &server.url(), &[]);
    send(
        &mut *ws,
        Message::Text("close:4001:bye from python \u{2713}".into()),
    );
    assert_eq!(
        read(&mut *ws, "Python's close"),
        Message::Close(Some(CloseFrame {
            code: CloseCode(4001),
            reason: "bye from python \u{2713}".into(),
        }))
    );
    // Our reply went out with that read; Python then ends TCP.
    match ws.read() {
        Err(Error::ConnectionClosed) => {}
        other => panic!("after Python's close, read gave {other:?}, not ConnectionClosed"),
    }
    assert_eq!(
        server.expect_event("open"),
        "open subprotocol=None offered=[]"
    );
    // wsock echoes the code (without the reason), and Python saw it in time.
    assert_eq!(
        server.expect_event("closed"),
        "closed rcvd=(4001, '') sent=(4001, 'bye from python \u{2713}') rcvd_then_sent=False"
    );
}

fn wsock_client_negotiates_chat_with_python_server(adapter: Adapter) {
    let server = PythonServer::start();
    for (offer, header) in [
        (&["chat"][..], "['chat']"),
        (&["superchat", "chat"][..], "['superchat, chat']"),
    ] {
        let mut ws = connect_wsock(adapter, &server.url(), offer);
        assert_eq!(ws.subprotocol(), Some("chat"), "offering {offer:?}");
        send(&mut *ws, Message::Text("subprotocol?".into()));
        assert_eq!(
            read(&mut *ws, "the server's subprotocol"),
            Message::Text("subprotocol:chat".into())
        );
        ws.close(CloseCode::NORMAL, "done").expect("wsock close");
        assert_eq!(
            server.expect_event("open"),
            format!("open subprotocol=chat offered={header}")
        );
        assert_eq!(
            server.expect_event("closed"),
            "closed rcvd=(1000, 'done') sent=(1000, 'done') rcvd_then_sent=True"
        );
    }
}

fn fragmented_messages_with_python_server(adapter: Adapter) {
    let server = PythonServer::start();
    let mut ws = connect_wsock(adapter, &server.url(), &[]);

    // Ours: Python answers the ping between fragments, then echoes the whole messages.
    send_fragmented(&mut *ws).expect("wsock: send fragments");
    assert_eq!(read(&mut *ws, "the pong"), Message::Pong(b"mid".to_vec()));
    assert_eq!(
        read(&mut *ws, "the echo of the fragmented text"),
        Message::Text("snow\u{2603}man".into())
    );
    assert_eq!(
        read(&mut *ws, "the echo of the fragmented binary"),
        Message::Binary((0..10).collect())
    );

    // Python's, with an empty fragment in the middle of each.
    send(&mut *ws, Message::Text("fragmented?".into()));
    assert_eq!(
        read(&mut *ws, "Python's fragmented text"),
        Message::Text("fragmented \u{2603}".into())
    );
    assert_eq!(
        read(&mut *ws, "Python's fragmented binary"),
        Message::Binary(vec![0, 1, 0xff])
    );

    ws.close(CloseCode::NORMAL, "done").expect("wsock close");
    assert_eq!(
        server.expect_event("open"),
        "open subprotocol=None offered=[]"
    );
    assert_eq!(
        server.expect_event("closed"),
        "closed rcvd=(1000, 'done') sent=(1000, 'done') rcvd_then_sent=True"
    );
}

// --- Python client ↔ wsock server ----------------------------------------------------

/// What the wsock server saw, in order (data messages by length: their
/// content is checked by the Python client's echo comparison).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Text(usize),
    Binary(usize),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
    Command(String),
}

/// How the wsock server's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ended {
    /// `read` returned `ConnectionClosed` (the peer started the close).
    ConnectionClosed,
    /// Our `close(code, ..)` returned `Ok`.
    WeClosed(u16),
}

#[derive(Debug)]
struct ServerRun {
    offered: Vec<String>,
    subprotocol: Option<String>,
    seen: Vec<Seen>,
    ended: Ended,
}

/// A wsock server for one connection, in a thread: echoes text and binary,
/// selects `chat` when offered, and obeys the same text commands as
/// ws_echo_server.py (`close:CODE:REASON`, `ping:HEX`, `subprotocol?`) and
/// `fragmented?` (see [`send_fragmented`]).
struct WsockServer {
    url: String,
    result: Receiver<Result<ServerRun, String>>,
}

impl WsockServer {
    fn spawn(adapter: Adapter) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let url = format!(
            "ws://127.0.0.1:{}/interop",
            listener.local_addr().unwrap().port()
        );
        let (tx, result) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(serve_one(&listener, adapter));
        });
        WsockServer { url, result }
    }

    fn finish(self) -> ServerRun {
        match self.result.recv_timeout(TIMEOUT) {
            Ok(Ok(run)) => run,
            Ok(Err(e)) => panic!("wsock server: {e}"),
            Err(_) => panic!("wsock server: no result within {TIMEOUT:?}"),
        }
    }

    /// The server's result if it is there within a second (for diagnostics).
    fn peek(&self) -> String {
        match self.result.recv_timeout(Duration::from_secs(1)) {
            Ok(r) => format!("{r:?}"),
            Err(_) => "still running".into(),
        }
    }
}

fn accept_before_deadline(listener: &TcpListener) -> Result<TcpStream, String> {
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).map_err(|e| e.to_string())?;
                return Ok(stream);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() > deadline {
                    return Err("no connection within the timeout".into());
                }
                thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(format!("accept: {e}")),
        }
    }
}

fn serve_one(listener: &TcpListener, adapter: Adapter) -> Result<ServerRun, String> {
    let stream = accept_before_deadline(listener)?;
    let mut offered = Vec::new();
    let decide = |request: &wsock::handshake::server::Request<'_>| {
        offered = request.subprotocols().map(String::from).collect();
        let chat = request.subprotocols().any(|p| p == "chat");
        Ok(Acceptance {
            subprotocol: chat.then(|| "chat".to_string()),
            ..Acceptance::default()
        })
    };
    let mut ws: Box<dyn Peer> = match adapter {
        Adapter::Blocking => {
            let ws =
                accept_with(stream, deflate(), decide).map_err(|e| format!("handshake: {e}"))?;
            ws.get_ref()
                .set_read_timeout(Some(TIMEOUT))
                .map_err(|e| e.to_string())?;
            ws.get_ref()
                .set_write_timeout(Some(TIMEOUT))
                .map_err(|e| e.to_string())?;
            Box::new(ws)
        }
        Adapter::Tokio => {
            let runtime = tokio_runtime();
            stream.set_nonblocking(true).map_err(|e| e.to_string())?;
            let ws = runtime
                .block_on(async {
                    let tcp = tokio::net::TcpStream::from_std(stream)?;
                    wsock::tokio::accept_with(tcp, deflate(), decide).await
                })
                .map_err(|e| format!("handshake: {e}"))?;
            Box::new(TokioPeer { runtime, ws })
        }
    };
    let subprotocol = ws.subprotocol().map(String::from);
    let mut seen = Vec::new();
    let fail = |seen: &[Seen], what: &str, e: Error| format!("{what}: {e} (after {seen:?})");
    loop {
        let message = match ws.read() {
            Ok(message) => message,
            Err(Error::ConnectionClosed) => {
                return Ok(ServerRun {
                    offered,
                    subprotocol,
                    seen,
                    ended: Ended::ConnectionClosed,
                });
            }
            Err(e) => return Err(fail(&seen, "read", e)),
        };
        match message {
            Message::Text(text) if text.starts_with("close:") => {
                seen.push(Seen::Command(text.clone()));
                let mut parts = text.splitn(3, ':').skip(1);
                let code = parts.next().and_then(|c| c.parse().ok());
                let (Some(code), Some(reason)) = (code, parts.next()) else {
                    return Err(format!("bad command {text:?}"));
                };
                ws.close(CloseCode(code), reason)
                    .map_err(|e| fail(&seen, "close", e))?;
                return Ok(ServerRun {
                    offered,
                    subprotocol,
                    seen,
                    ended: Ended::WeClosed(code),
                });
            }
            Message::Text(text) if text.starts_with("ping:") => {
                seen.push(Seen::Command(text.clone()));
                let payload =
                    unhex(&text["ping:".len()..]).ok_or_else(|| format!("bad command {text:?}"))?;
                ws.send(Message::Ping(payload.clone()))
                    .map_err(|e| fail(&seen, "send ping", e))?;
                // The Python client sends nothing until our ping is answered.
                let pong = match ws.read().map_err(|e| fail(&seen, "read pong", e))? {
                    Message::Pong(p) => p,
                    other => return Err(format!("expected a pong, got {}", describe(&other))),
                };
                seen.push(Seen::Pong(pong.clone()));
                let reply = if pong == payload {
                    format!("pong-received:{}", hex(&pong))
                } else {
                    format!("pong-mismatch:{}", hex(&pong))
                };
                ws.send(Message::Text(reply))
                    .map_err(|e| fail(&seen, "send", e))?;
            }
            Message::Text(text) if text == "fragmented?" => {
                seen.push(Seen::Command(text));
                send_fragmented(&mut *ws).map_err(|e| fail(&seen, "send fragments", e))?;
            }
            Message::Text(text) if text == "subprotocol?" => {
                seen.push(Seen::Command(text));
                let reply = format!("subprotocol:{}", ws.subprotocol().unwrap_or(""));
                ws.send(Message::Text(reply))
                    .map_err(|e| fail(&seen, "send", e))?;
            }
            Message::Text(text) => {
                seen.push(Seen::Text(text.len()));
                ws.send(Message::Text(text))
                    .map_err(|e| fail(&seen, "echo", e))?;
            }
            Message::Binary(bytes) => {
                seen.push(Seen::Binary(bytes.len()));
                ws.send(Message::Binary(bytes))
                    .map_err(|e| fail(&seen, "echo", e))?;
            }
            Message::Ping(p) => seen.push(Seen::Ping(p)),
            Message::Pong(p) => seen.push(Seen::Pong(p)),
            Message::Close(frame) => seen.push(Seen::Close(frame.map(|f| (f.code.0, f.reason)))),
        }
    }
}

struct ClientOutcome {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs `ws_client.py URL SCENARIO` to its end (killed after [`CHILD_TIMEOUT`]).
fn run_python_client(url: &str, scenario: &str) -> ClientOutcome {
    let mut child = Command::new(python())
        .arg(script("ws_client.py"))
        .env("PYTHONIOENCODING", "utf-8")
        .args([url, scenario])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start ws_client.py: {e}"));
    let (stdout, out_reader) = collect(child.stdout.take().unwrap());
    let (stderr, err_reader) = collect(child.stderr.take().unwrap());
    let mut child = ChildGuard(child);
    let deadline = Instant::now() + CHILD_TIMEOUT;
    let status = loop {
        match child.0.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => panic!(
                "ws_client.py {scenario} still running after {CHILD_TIMEOUT:?} (killed); \
                 stdout:\n{}\nstderr:\n{}",
                stdout.lock().unwrap(),
                stderr.lock().unwrap()
            ),
            Err(e) => panic!("waiting for ws_client.py: {e}"),
        }
    };
    let _ = out_reader.join();
    let _ = err_reader.join();
    let stdout = stdout.lock().unwrap().clone();
    let stderr = stderr.lock().unwrap().clone();
    ClientOutcome {
        status,
        stdout,
        stderr,
    }
}

/// Runs a scenario against a fresh wsock server; both must succeed.
fn python_client_scenario(adapter: Adapter, scenario: &str) -> ServerRun {
    let server = WsockServer::spawn(adapter);
    let out = run_python_client(&server.url, scenario);
    if !out.status.success() || out.stdout.trim() != format!("ok {scenario}") {
        panic!(
            "ws_client.py {scenario} failed ({}):\nstdout:\n{}\nstderr:\n{}\nwsock server: {}",
            out.status,
            out.stdout,
            out.stderr,
            server.peek()
        );
    }
    server.finish()
}

fn python_client_wsock_server_messages(adapter: Adapter) {
    let run = python_client_scenario(adapter, "messages");
    let hello = "Hello, wsock! h\u{e9}llo \u{65e5}\u{672c}";
    assert_eq!(run.offered, Vec::<String>::new());
    assert_eq!(run.subprotocol, None);
    assert_eq!(
        run.seen,
        [
            Seen::Text(hello.len()),
            Seen::Binary(7),
            Seen::Text(0),
            Seen::Binary(0),
            Seen::Binary(1 << 20),
            Seen::Text(big_text().len()),
            Seen::Close(Some((1000, "done".into()))),
        ]
    );
    assert_eq!(run.ended, Ended::ConnectionClosed);
}

fn python_client_wsock_server_ping_pong(adapter: Adapter) {
    let run = python_client_scenario(adapter, "ping");
    let payload = vec![0xde, 0xad, 0x00, 0xbe, 0xef];
    let [empty, short, longest] = ping_payloads();
    assert_eq!(
        run.seen,
        [
            // Python's pings, answered by wsock automatically (Python checked the pongs).
            Seen::Ping(empty),
            Seen::Ping(short),
            Seen::Ping(longest),
            // Our ping, answered by Python.
            Seen::Command(format!("ping:{}", hex(&payload))),
            Seen::Pong(payload),
            Seen::Text("still open".len()),
            Seen::Close(Some((1000, "done".into()))),
        ]
    );
    assert_eq!(run.ended, Ended::ConnectionClosed);
}

fn python_client_closes_wsock_server_with_4001(adapter: Adapter) {
    // Python checks that wsock echoed 4001 and ended TCP well within its close timeout.
    let run = python_client_scenario(adapter, "close-by-client");
    assert_eq!(
        run.seen,
        [
            Seen::Text("before close".len()),
            Seen::Close(Some((4001, "bye from python \u{2713}".into()))),
        ]
    );
    assert_eq!(run.ended, Ended::ConnectionClosed);
}

fn wsock_server_closes_python_client_with_4000(adapter: Adapter) {
    // Python checks that it received 4000 "bye from wsock ✓" and TCP closed.
    let run = python_client_scenario(adapter, "close-by-server");
    assert_eq!(
        run.seen,
        [
            Seen::Text("before close".len()),
            Seen::Command("close:4000:bye from wsock \u{2713}".into()),
        ]
    );
    assert_eq!(run.ended, Ended::WeClosed(4000));
}

fn python_client_negotiates_chat_with_wsock_server(adapter: Adapter) {
    let run = python_client_scenario(adapter, "subprotocol");
    assert_eq!(run.offered, ["chat"]);
    assert_eq!(run.subprotocol.as_deref(), Some("chat"));
    assert_eq!(
        run.seen,
        [
            Seen::Command("subprotocol?".into()),
            Seen::Close(Some((1000, "done".into()))),
        ]
    );
    assert_eq!(run.ended, Ended::ConnectionClosed);
}

fn python_client_fragmented_messages_with_wsock_server(adapter: Adapter) {
    // Python checks the echoes of its fragmented messages and our fragmented ones.
    let run = python_client_scenario(adapter, "fragments");
    assert_eq!(
        run.seen,
        [
            Seen::Text("fragmented \u{2603}".len()),
            Seen::Binary(3),
            Seen::Command("fragmented?".into()),
            // Python's automatic answer to the ping between our fragments.
            Seen::Pong(b"mid".to_vec()),
            Seen::Close(Some((1000, "done".into()))),
        ]
    );
    assert_eq!(run.ended, Ended::ConnectionClosed);
}

/// Every scenario above as a test on each adapter.
macro_rules! on_both_adapters {
    ($($name:ident),* $(,)?) => {
        mod blocking {
            $(
                #[test]
                #[ignore = "needs Python websockets: run by .ci/test-all.sh"]
                fn $name() {
                    super::$name(super::Adapter::Blocking)
                }
            )*
        }
        mod tokio_adapter {
            $(
                #[test]
                #[ignore = "needs Python websockets: run by .ci/test-all.sh"]
                fn $name() {
                    super::$name(super::Adapter::Tokio)
                }
            )*
        }
    };
}

on_both_adapters!(
    wsock_client_python_server_messages,
    wsock_client_python_server_ping_pong,
    wsock_client_closes_python_server_with_4000,
    python_server_closes_wsock_client_with_4001,
    wsock_client_negotiates_chat_with_python_server,
    fragmented_messages_with_python_server,
    python_client_wsock_server_messages,
    python_client_wsock_server_ping_pong,
    python_client_closes_wsock_server_with_4001,
    wsock_server_closes_python_client_with_4000,
    python_client_negotiates_chat_with_wsock_server,
    python_client_fragmented_messages_with_wsock_server,
);
