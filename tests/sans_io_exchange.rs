//! A client and a server, both wsock connections, talking through in-memory
//! pipes: handshake, messages in both directions, ping/pong, close. The pipes
//! deliver bytes in pieces of a chosen size, down to one byte, so every
//! boundary case of the handshake and frame parsers is crossed.

use wsock::handshake::client::{ClientHandshake, ClientRequest};
use wsock::handshake::server::{Accept, Request};
use wsock::handshake::{EMPTY_HEADER, HandshakeError, Url};
use wsock::message::{Message, MessageAssembler};
use wsock::{CloseCode, Config, Connection, DataKind, Event, NoRng, Outgoing, State};

#[path = "support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

/// What an endpoint received, as whole messages and control events.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(Option<(u16, String)>),
}

/// One endpoint: a connection, its reassembly buffer, and its inbox.
struct Peer<R> {
    conn: Connection<R>,
    assembler: MessageAssembler<Vec<u8>>,
    /// Bytes received but not yet consumed.
    inbox: Vec<u8>,
    got: Vec<Got>,
}

impl<R: rand_core::Rng> Peer<R> {
    fn new(conn: Connection<R>, leftover: &[u8]) -> Self {
        Peer {
            conn,
            assembler: MessageAssembler::new(Vec::new()),
            inbox: leftover.to_vec(),
            got: Vec::new(),
        }
    }

    /// Consumes everything in the inbox.
    fn pump(&mut self) {
        let mut at = 0;
        loop {
            let got = self
                .conn
                .receive(&mut self.inbox[at..])
                .expect("valid stream");
            let consumed = got.consumed;
            match got.event {
                None => break,
                Some(Event::Data(chunk)) => {
                    if let Some(m) = self.assembler.push(&chunk).unwrap() {
                        self.got.push(match m {
                            Message::Text(t) => Got::Text(t.to_string()),
                            Message::Binary(b) => Got::Binary(b.to_vec()),
                        });
                    }
                }
                Some(Event::Ping(p)) => self.got.push(Got::Ping(p.to_vec())),
                Some(Event::Pong(p)) => self.got.push(Got::Pong(p.to_vec())),
                Some(Event::Close(c)) => self
                    .got
                    .push(Got::Close(c.map(|c| (c.code.0, c.reason.to_string())))),
            }
            at += consumed;
        }
        self.inbox.drain(..);
    }

    /// Encodes frames (after any owed control frames) onto `wire`.
    fn send(&mut self, frames: &[Outgoing<'_>], wire: &mut Vec<u8>) {
        let mut buf = vec![0u8; 1 << 20];
        let n = self.conn.poll_transmit(&mut buf);
        wire.extend_from_slice(&buf[..n]);
        for f in frames {
            let n = self.conn.encode(*f, &mut buf).expect("encodable");
            wire.extend_from_slice(&buf[..n]);
        }
    }

    fn flush(&mut self, wire: &mut Vec<u8>) {
        self.send(&[], wire);
    }
}

/// Delivers `wire` to `peer` in pieces of `step` bytes, pumping after each.
fn deliver<R: rand_core::Rng>(wire: &mut Vec<u8>, peer: &mut Peer<R>, step: usize) {
    for piece in wire.chunks(step) {
        peer.inbox.extend_from_slice(piece);
        peer.pump();
    }
    wire.clear();
}

/// Runs the opening handshake with the server's bytes delivered `step` at a
/// time; the server's first frame rides in the same bytes as its response.
fn handshake(step: usize) -> (Peer<TestRng>, Peer<NoRng>) {
    let mut rng = TestRng(0x9E37_79B9_7F4A_7C15);
    let url = Url::parse("ws://127.0.0.1:9001/chat?room=7").unwrap();
    let request = ClientRequest {
        subprotocols: &["v2.chat", "chat"],
        origin: Some("http://127.0.0.1"),
        ..ClientRequest::new(url)
    };
    let hs = ClientHandshake::new(request, &mut rng);
    let mut out = [0u8; 1024];
    let n = hs.write_request(&mut out).unwrap();
    let request_bytes = out[..n].to_vec();

    // Server side: the request arrives in pieces.
    let mut received = Vec::new();
    let mut server_conn = None;
    let mut to_client = Vec::new();
    for piece in request_bytes.chunks(step) {
        received.extend_from_slice(piece);
        let mut headers = [EMPTY_HEADER; 32];
        if let Some(req) = Request::parse(&received, &mut headers, 8192).unwrap() {
            assert_eq!(req.path, "/chat?room=7");
            assert_eq!(req.origin, Some("http://127.0.0.1"));
            let offered: Vec<&str> = req.subprotocols().collect();
            assert_eq!(offered, ["v2.chat", "chat"]);
            let mut resp = [0u8; 1024];
            let accept = Accept {
                subprotocol: Some("chat"),
                ..Accept::default()
            };
            let n = req.accept(&accept, &mut resp).unwrap();
            assert_eq!(req.len, received.len());
            to_client.extend_from_slice(&resp[..n]);
            server_conn = Some(Connection::server(Config::new()));
        }
    }
    let mut server = Peer::new(server_conn.expect("request completed"), &[]);
    // The server greets immediately: the frame follows the 101 response.
    server.send(&[Outgoing::Text("welcome")], &mut to_client);

    // Client side: the response (and the greeting) arrive in pieces.
    let mut received = Vec::new();
    let mut client: Option<Peer<TestRng>> = None;
    for piece in to_client.chunks(step) {
        if let Some(c) = client.as_mut() {
            c.inbox.extend_from_slice(piece);
            c.pump();
            continue;
        }
        received.extend_from_slice(piece);
        let mut headers = [EMPTY_HEADER; 32];
        if let Some(resp) = hs.receive(&received, &mut headers).unwrap() {
            assert_eq!(resp.subprotocol, Some("chat"));
            let conn = Connection::client(Config::new(), TestRng(7));
            let mut peer = Peer::new(conn, &received[resp.len..]);
            peer.pump();
            client = Some(peer);
        }
    }
    let client = client.expect("response completed");
    assert_eq!(
        client.got,
        [Got::Text("welcome".into())],
        "no frame byte lost after the 101"
    );
    (client, server)
}

#[test]
fn full_session_at_every_delivery_granularity() {
    for step in [1, 2, 3, 7, 64, 4096] {
        let (mut client, mut server) = handshake(step);
        let big: Vec<u8> = (0..70_000u32).map(|i| (i * 31) as u8).collect();
        let mut wire = Vec::new();
        client.send(
            &[
                Outgoing::Text("Hello, WebSocket! ✓"),
                Outgoing::Binary(&big),
                Outgoing::Fragment {
                    kind: DataKind::Text,
                    payload: "κό".as_bytes(),
                    last: false,
                },
                Outgoing::Ping(b"are you there"),
                Outgoing::Fragment {
                    kind: DataKind::Text,
                    payload: "σμε".as_bytes(),
                    last: true,
                },
                Outgoing::Binary(b""),
            ],
            &mut wire,
        );
        deliver(&mut wire, &mut server, step);
        assert_eq!(
            server.got,
            [
                Got::Text("Hello, WebSocket! ✓".into()),
                Got::Binary(big.clone()),
                Got::Ping(b"are you there".to_vec()),
                Got::Text("κόσμε".into()),
                Got::Binary(vec![]),
            ],
            "step {step}"
        );
        // The server's pong and an echo go back; the client closes.
        server.send(&[Outgoing::Binary(&big)], &mut wire);
        deliver(&mut wire, &mut client, step);
        assert_eq!(
            client.got[1..],
            [
                Got::Pong(b"are you there".to_vec()),
                Got::Binary(big.clone())
            ]
        );

        client.send(
            &[Outgoing::Close(Some((CloseCode(4001), "done")))],
            &mut wire,
        );
        assert_eq!(client.conn.state(), State::CloseSent);
        deliver(&mut wire, &mut server, step);
        assert_eq!(
            server.got.last(),
            Some(&Got::Close(Some((4001, "done".into()))))
        );
        assert_eq!(server.conn.state(), State::CloseReceived);
        server.flush(&mut wire);
        assert_eq!(server.conn.state(), State::Closed);
        assert!(server.conn.should_shutdown(), "the server closes TCP first");
        deliver(&mut wire, &mut client, step);
        assert_eq!(
            client.got.last(),
            Some(&Got::Close(Some((4001, String::new()))))
        );
        assert_eq!(client.conn.state(), State::Closed);
        assert!(
            !client.conn.should_shutdown(),
            "the client waits for the server's TCP close"
        );
        client.conn.receive_eof().unwrap();
        assert!(client.conn.should_shutdown());
    }
}

/// A server refusing a request writes a response the client reports with its status.
#[test]
fn rejected_handshake_reports_status() {
    let mut rng = TestRng(3);
    let hs = ClientHandshake::new(
        ClientRequest::new(Url::parse("ws://127.0.0.1:1/").unwrap()),
        &mut rng,
    );
    let mut out = [0u8; 512];
    let n = hs.write_request(&mut out).unwrap();
    let mut headers = [EMPTY_HEADER; 32];
    let req = Request::parse(&out[..n], &mut headers, 8192)
        .unwrap()
        .unwrap();
    assert_eq!(req.path, "/");
    let mut resp = [0u8; 256];
    let n = wsock::handshake::server::write_rejection(403, &[], &mut resp).unwrap();
    let mut headers = [EMPTY_HEADER; 32];
    assert_eq!(
        hs.receive(&resp[..n], &mut headers).unwrap_err(),
        HandshakeError::Rejected { status: 403 }
    );
}
