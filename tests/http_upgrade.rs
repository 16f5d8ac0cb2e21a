//! `wsock::tokio::upgrade` (feature `http`): the checks and answers on
//! `http` types (RFC 6455 §4.2.1, §4.2.2, §4.4), and whole sessions on
//! a hyper and an axum server with wsock's tokio client.
#![cfg(feature = "http")]

use http::{HeaderMap, Method, StatusCode, Version};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use wsock::CloseCode;
use wsock::handshake::HandshakeError;
use wsock::handshake::server::Request;
use wsock::tokio::upgrade::{self, Refusal, Upgraded};
use wsock::tokio::{Acceptance, ClientBuilder, Error, Message, Options, Rejection, WebSocket};

/// The request of RFC 6455 §1.2, with `field` replaced (`None`: removed)
/// or added.
fn request_with(field: &str, value: Option<&str>) -> http::Request<()> {
    let mut request = http::Request::builder()
        .uri("/chat?room=1")
        .header("Host", "server.example.com")
        .header("Upgrade", "websocket")
        .header("Connection", "keep-alive, Upgrade")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("Origin", "http://example.com")
        .header("Sec-WebSocket-Protocol", "chat, superchat")
        .header("Sec-WebSocket-Version", "13")
        .body(())
        .unwrap();
    let headers = request.headers_mut();
    headers.remove(field);
    if let Some(value) = value {
        headers.insert(
            http::HeaderName::from_bytes(field.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    request
}

fn valid() -> http::Request<()> {
    request_with("X-None", None)
}

fn accept_all(_: &Request<'_>) -> Result<Acceptance, Rejection> {
    Ok(Acceptance::default())
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// The response to a request that is not upgraded.
fn refused(request: &http::Request<()>) -> (Refusal, http::Response<()>) {
    let refusal = upgrade::response::<_, (), _>(request, accept_all).unwrap_err();
    let response = upgrade::response::<_, (), _>(request, accept_all)
        .unwrap_err()
        .into_response();
    (refusal, response)
}

/// §4.2.2: 101 with Upgrade, Connection and the accept key of §1.3; no
/// subprotocol unless one is chosen.
#[test]
fn valid_request_gets_101() {
    let response: http::Response<()> = upgrade::response(&valid(), accept_all).unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers();
    assert_eq!(header(headers, "upgrade"), Some("websocket"));
    assert_eq!(header(headers, "connection"), Some("Upgrade"));
    assert_eq!(
        header(headers, "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(header(headers, "sec-websocket-protocol"), None);
    assert_eq!(header(headers, "sec-websocket-extensions"), None);
}

/// `decide` sees the core's view of the request: target, Host, Origin,
/// the offered subprotocols; it chooses one, and adds a header.
#[test]
fn decide_chooses_a_subprotocol() {
    let response: http::Response<()> = upgrade::response(&valid(), |request| {
        assert_eq!(request.path, "/chat?room=1");
        assert_eq!(request.host, "server.example.com");
        assert_eq!(request.origin, Some("http://example.com"));
        let offered: Vec<&str> = request.subprotocols().collect();
        assert_eq!(offered, ["chat", "superchat"]);
        Ok(Acceptance {
            subprotocol: Some("superchat".into()),
            headers: vec![("X-Server".into(), "wsock".into())],
        })
    })
    .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let headers = response.headers();
    assert_eq!(header(headers, "sec-websocket-protocol"), Some("superchat"));
    assert_eq!(header(headers, "x-server"), Some("wsock"));
}

/// §4.2.2: a subprotocol the client did not offer is the server's mistake (500).
#[test]
fn unoffered_subprotocol_is_refused() {
    let refusal = upgrade::response::<_, (), _>(&valid(), |_| {
        Ok(Acceptance {
            subprotocol: Some("v3".into()),
            ..Acceptance::default()
        })
    })
    .unwrap_err();
    assert_eq!(refusal.status(), 500);
    assert!(matches!(
        refusal.error(),
        Error::Handshake(HandshakeError::InvalidInput(_))
    ));
}

/// §4.2.1: each required element, missing or wrong, and the status it earns.
#[test]
fn invalid_requests_get_the_right_status() {
    let cases = [
        ("Sec-WebSocket-Key", None, 400),
        ("Sec-WebSocket-Key", Some("dGhlIHNhbXBsZSBub25jZQ"), 400),
        ("Upgrade", Some("h2c"), 400),
        ("Connection", Some("keep-alive"), 400),
        ("Host", None, 400),
        ("Sec-WebSocket-Version", None, 400),
        ("Sec-WebSocket-Version", Some("8"), 426),
    ];
    for (field, value, status) in cases {
        let (refusal, response) = refused(&request_with(field, value));
        assert_eq!(refusal.status(), status, "{field}: {value:?}");
        assert_eq!(response.status().as_u16(), status, "{field}: {value:?}");
        assert!(matches!(refusal.error(), Error::Handshake(_)));
    }
    let (refusal, _) = refused(&request_with("Sec-WebSocket-Key", None));
    assert!(matches!(
        refusal.error(),
        Error::Handshake(HandshakeError::MissingHeader("Sec-WebSocket-Key"))
    ));
}

/// §4.4: a version other than 13 gets 426 with `Sec-WebSocket-Version: 13`;
/// other refusals do not carry it.
#[test]
fn unsupported_version_gets_426_with_the_version() {
    let (_, response) = refused(&request_with("Sec-WebSocket-Version", Some("8")));
    assert_eq!(response.status(), StatusCode::UPGRADE_REQUIRED);
    assert_eq!(
        header(response.headers(), "sec-websocket-version"),
        Some("13")
    );
    let (_, response) = refused(&request_with("Sec-WebSocket-Key", None));
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(response.headers(), "sec-websocket-version"), None);
}

/// §4.2.1: the method must be GET (405); the version HTTP/1.1 (400).
#[test]
fn wrong_method_or_version() {
    let mut request = valid();
    *request.method_mut() = Method::POST;
    let (refusal, response) = refused(&request);
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(matches!(
        refusal.error(),
        Error::Handshake(HandshakeError::MethodNotGet)
    ));
    for version in [Version::HTTP_10, Version::HTTP_2] {
        let mut request = valid();
        *request.version_mut() = version;
        let (_, response) = refused(&request);
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{version:?}");
    }
}

/// The application's refusal: its status and headers; one that is not
/// valid HTTP becomes a plain 500.
#[test]
fn decide_refuses() {
    let refusal = upgrade::response::<_, (), _>(&valid(), |_| {
        Err(Rejection {
            status: 403,
            headers: vec![("X-Reason".into(), "origin".into())],
        })
    })
    .unwrap_err();
    assert_eq!(refusal.status(), 403);
    assert!(matches!(refusal.error(), Error::Refused { status: 403 }));
    let response: http::Response<()> = refusal.into_response();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(header(response.headers(), "x-reason"), Some("origin"));

    let bad = [
        Rejection::from(101),
        Rejection::from(1000),
        Rejection {
            status: 403,
            headers: vec![("X-Bad".into(), "a\r\nSet-Cookie: b".into())],
        },
    ];
    for rejection in bad {
        let refusal = upgrade::response::<_, (), _>(&valid(), |_| Err(rejection)).unwrap_err();
        let response: http::Response<()> = refusal.into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response.headers().is_empty());
    }
}

/// A request hyper did not read has no upgrade to hand over: 500, not a
/// 101 that no WebSocket would follow.
#[test]
fn request_without_hyper_upgrade_is_refused() {
    let mut request = valid();
    let refusal = upgrade::on::<_, (), _>(&mut request, Options::new(), accept_all).unwrap_err();
    assert_eq!(refusal.status(), 500);
    assert!(matches!(refusal.error(), Error::Io(_)));
}

// --- whole sessions over loopback TCP ---------------------------------------------------

/// How a server-side session ended: messages echoed, the client's close code.
type Outcome = Result<(u64, Option<CloseCode>), Error>;

/// Echoes text and binary messages until the closing handshake is over.
async fn echo(mut ws: WebSocket<Upgraded>) -> Outcome {
    let mut echoed = 0;
    let mut close = None;
    loop {
        match ws.read().await {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => {
                ws.send(message).await?;
                echoed += 1;
            }
            Ok(Message::Close(frame)) => close = frame.map(|f| f.code),
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok((echoed, close)),
            Err(e) => return Err(e),
        }
    }
}

/// Selects `echo` when offered; refuses every path but `/ws` with 404.
fn decide(request: &Request<'_>) -> Result<Acceptance, Rejection> {
    if request.path != "/ws" {
        return Err(404.into());
    }
    let echo = request.subprotocols().find(|p| *p == "echo");
    Ok(Acceptance {
        subprotocol: echo.map(String::from),
        ..Acceptance::default()
    })
}

/// The route both servers share: upgrade, then echo in a task of its own
/// that sends its outcome (and the subprotocol it saw) to `done`.
fn upgrade_and_echo<B, R: Default>(
    request: &mut http::Request<B>,
    done: mpsc::UnboundedSender<(Option<String>, Outcome)>,
) -> http::Response<R> {
    let (response, websocket) = match upgrade::on(request, Options::new(), decide) {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal.into_response(),
    };
    tokio::spawn(async move {
        let result = match websocket.await {
            Ok(ws) => {
                let subprotocol = ws.subprotocol().map(String::from);
                (subprotocol, echo(ws).await)
            }
            Err(e) => (None, Err(e)),
        };
        let _ = done.send(result);
    });
    response
}

/// A hyper 1 server (HTTP/1.1 with upgrades) on a free loopback port.
async fn hyper_server() -> (String, mpsc::UnboundedReceiver<(Option<String>, Outcome)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (done, outcomes) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let done = done.clone();
            let service = service_fn(move |mut request: http::Request<Incoming>| {
                let response = upgrade_and_echo::<_, String>(&mut request, done.clone());
                async move { Ok::<_, Infallible>(response) }
            });
            tokio::spawn(async move {
                let connection = http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
                let _ = connection.with_upgrades().await;
            });
        }
    });
    (addr, outcomes)
}

/// An axum server with the route at `/ws` and a plain page at `/`.
async fn axum_server() -> (String, mpsc::UnboundedReceiver<(Option<String>, Outcome)>) {
    use axum::extract::Request as AxumRequest;
    use axum::routing::get;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (done, outcomes) = mpsc::unbounded_channel();
    let route = get(move |mut request: AxumRequest| {
        let response: axum::response::Response = upgrade_and_echo(&mut request, done.clone());
        async move { response }
    });
    let app = axum::Router::new()
        .route("/", get(|| async { "plain HTTP" }))
        .route("/ws", route);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, outcomes)
}

/// wsock's tokio client: text and binary out, the same back, a clean close;
/// the server saw both messages and the client's close code.
async fn session(addr: &str, outcomes: &mut mpsc::UnboundedReceiver<(Option<String>, Outcome)>) {
    let url = format!("ws://{addr}/ws");
    let mut ws = ClientBuilder::new(&url)
        .subprotocols(&["echo"])
        .connect()
        .await
        .unwrap();
    assert_eq!(ws.subprotocol(), Some("echo"));
    let messages = [
        Message::Text("hello, hyper".into()),
        Message::Binary(vec![0, 1, 2, 255]),
        Message::Text("é€😀".repeat(30_000)),
    ];
    for message in &messages {
        ws.send(message.clone()).await.unwrap();
        assert_eq!(&ws.read().await.unwrap(), message);
    }
    ws.close(CloseCode::NORMAL, "bye").await.unwrap();
    assert!(matches!(ws.read().await, Err(Error::ConnectionClosed)));
    let (subprotocol, outcome) = outcomes.recv().await.unwrap();
    assert_eq!(subprotocol.as_deref(), Some("echo"));
    assert_eq!(outcome.unwrap(), (3, Some(CloseCode::NORMAL)));
}

#[tokio::test]
async fn echo_session_on_hyper() {
    let (addr, mut outcomes) = hyper_server().await;
    session(&addr, &mut outcomes).await;
    // The server goes on: a second session, on a new connection.
    session(&addr, &mut outcomes).await;
}

#[tokio::test]
async fn echo_session_on_axum() {
    let (addr, mut outcomes) = axum_server().await;
    session(&addr, &mut outcomes).await;
}

/// `decide`'s refusal reaches the client as the HTTP status.
#[tokio::test]
async fn refusal_reaches_the_client() {
    let (addr, _outcomes) = hyper_server().await;
    let url = format!("ws://{addr}/elsewhere");
    match ClientBuilder::new(&url).connect().await {
        Err(Error::Handshake(HandshakeError::Rejected { status: 404 })) => {}
        other => panic!("expected a 404 rejection, got {other:?}"),
    }
}

/// A frame the client sends right behind its request, in the same write,
/// is read by hyper with the request and still reaches the WebSocket.
#[tokio::test]
async fn frame_right_behind_the_request_is_kept() {
    let (addr, mut outcomes) = hyper_server().await;
    let mut tcp = TcpStream::connect(&addr).await.unwrap();
    let mut wire = format!(
        "GET /ws HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes();
    // A masked text frame "hi" (key 0), then a masked close 1000 (key 0).
    wire.extend_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
    wire.extend_from_slice(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]);
    tcp.write_all(&wire).await.unwrap();
    let mut received = Vec::new();
    tcp.read_to_end(&mut received).await.unwrap();
    let text = String::from_utf8_lossy(&received);
    let end = text.find("\r\n\r\n").expect("a complete response head") + 4;
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(
        text.to_ascii_lowercase()
            .contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=")
    );
    // The echo, then the close reply, unmasked.
    assert_eq!(
        &received[end..],
        [0x81, 0x02, b'h', b'i', 0x88, 0x02, 0x03, 0xe8]
    );
    let (_, outcome) = outcomes.recv().await.unwrap();
    assert_eq!(outcome.unwrap(), (1, Some(CloseCode::NORMAL)));
}

/// Plain HTTP on the same axum server still works, and a plain GET to the
/// WebSocket route is answered 400, not upgraded.
#[tokio::test]
async fn plain_http_beside_the_route() {
    let (addr, _outcomes) = axum_server().await;
    for (path, status) in [("/", "200 OK"), ("/ws", "400 Bad Request")] {
        let mut tcp = TcpStream::connect(&addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut received = String::new();
        tcp.read_to_string(&mut received).await.unwrap();
        assert!(
            received.starts_with(&format!("HTTP/1.1 {status}\r\n")),
            "{path}: {received}"
        );
    }
}
