//! `wss://` on the tokio adapter over loopback, with a certificate made in
//! the test: messages both ways (a big one too), split halves, a rejected
//! certificate, and the opening deadline bounding the TLS handshake.
#![cfg(all(feature = "tokio", feature = "tls"))]

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use wsock::CloseCode;
use wsock::tokio::{Acceptance, ClientBuilder, Error, Message, Options, accept_tls, connect};

#[path = "support/certificates.rs"]
mod certificates;
use certificates::configs;

async fn listen() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// Accepts one `wss://` connection and echoes its data messages until the
/// client closes; the number echoed.
async fn echo_tls(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> Result<u32, Error> {
    let (tcp, _) = listener.accept().await?;
    let mut ws = accept_tls(tcp, config, Options::new(), |request| {
        assert_eq!(request.path, "/secure");
        Ok(Acceptance::default())
    })
    .await?;
    let mut echoed = 0;
    loop {
        match ws.read().await {
            Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                ws.send(m).await?;
                echoed += 1;
            }
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(echoed),
            Err(e) => return Err(e),
        }
    }
}

#[tokio::test]
async fn messages_round_trip_over_tls() {
    let (server_config, client_config) = configs();
    let (listener, port) = listen().await;
    let server = tokio::spawn(echo_tls(listener, server_config));
    let mut ws = ClientBuilder::new(&format!("wss://localhost:{port}/secure"))
        .tls_config(client_config)
        .connect()
        .await
        .unwrap();
    assert!(matches!(ws.get_ref(), wsock::tokio::MaybeTlsStream::Tls(_)));
    // The big one goes out of the server in vectored writes, past the queue.
    let messages = [
        Message::Text("over TLS".into()),
        Message::Binary((0..=255).cycle().take(300_000).collect()),
        Message::Text("é€😀".repeat(30_000)),
    ];
    for m in &messages {
        ws.send(m.clone()).await.unwrap();
        assert_eq!(&ws.read().await.unwrap(), m);
    }
    ws.close(CloseCode::NORMAL, "done").await.unwrap();
    assert_eq!(server.await.unwrap().unwrap(), 3);
}

#[tokio::test]
async fn split_halves_work_over_tls() {
    let (server_config, client_config) = configs();
    let (listener, port) = listen().await;
    let server = tokio::spawn(echo_tls(listener, server_config));
    let ws = ClientBuilder::new(&format!("wss://localhost:{port}/secure"))
        .tls_config(client_config)
        .connect()
        .await
        .unwrap();
    let (mut reader, mut writer) = ws.split();
    let writing = tokio::spawn(async move {
        for i in 0..200u32 {
            writer
                .send(Message::Binary(i.to_be_bytes().repeat(i as usize)))
                .await?;
        }
        Ok::<_, Error>(writer)
    });
    for i in 0..200u32 {
        let expected = Message::Binary(i.to_be_bytes().repeat(i as usize));
        assert_eq!(reader.read().await.unwrap(), expected);
    }
    let writer = writing.await.unwrap().unwrap();
    let mut ws = reader.reunite(writer).unwrap();
    ws.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(server.await.unwrap().unwrap(), 200);
}

#[tokio::test]
async fn an_untrusted_certificate_fails_with_a_tls_error() {
    let (server_config, _) = configs();
    let (listener, port) = listen().await;
    let server = tokio::spawn(echo_tls(listener, server_config));
    // The default configuration trusts the Mozilla roots, not our certificate.
    let err = connect(&format!("wss://localhost:{port}/secure"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tls(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer
            ))
        ),
        "{err:?}"
    );
    // The server sees the client's alert as a TLS error too.
    assert!(matches!(server.await.unwrap(), Err(Error::Tls(_))));
}

#[tokio::test]
async fn a_silent_tls_client_cannot_outlast_the_handshake_timeout() {
    let (server_config, _) = configs();
    let (listener, port) = listen().await;
    let options = Options::new().handshake_timeout(Some(Duration::from_millis(300)));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let start = Instant::now();
        let result = accept_tls(tcp, server_config, options, |_| Ok(Acceptance::default())).await;
        (result.map(|_| ()), start.elapsed())
    });
    // TCP connects, and no ClientHello ever comes.
    let _silent = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let (result, elapsed) = server.await.unwrap();
    let err = result.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn a_silent_tls_server_cannot_outlast_the_handshake_timeout() {
    let (_, client_config) = configs();
    let (listener, port) = listen().await;
    // Accepts TCP, reads the ClientHello, never answers.
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut sink = Vec::new();
        let _ = tcp.read_to_end(&mut sink).await;
    });
    let start = Instant::now();
    let err = ClientBuilder::new(&format!("wss://localhost:{port}/"))
        .tls_config(client_config)
        .options(Options::new().handshake_timeout(Some(Duration::from_millis(300))))
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(2));
    server.abort();
}
