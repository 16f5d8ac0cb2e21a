//! The tokio adapter's halves on two tasks, over loopback TCP: replies
//! that the read half owes go out while only it runs, big messages from the
//! write half do not interleave with them, the closing handshake works
//! whichever side starts it, and the halves reunite.
#![cfg(feature = "tokio")]

use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use wsock::tokio::{Error, MaybeTlsStream, Message, WebSocket, accept, connect};
use wsock::{CloseCode, State};

async fn pair() -> (WebSocket<MaybeTlsStream>, WebSocket<TcpStream>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = tokio::spawn(async move { accept(listener.accept().await.unwrap().0).await });
    let client = connect(&url).await.unwrap();
    (client, server.await.unwrap().unwrap())
}

/// An echo of text and binary until the peer closes.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocket<S>) -> Result<u32, Error> {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn halves_on_two_tasks_send_and_receive_at_once() {
    let (client, server) = pair().await;
    let server = tokio::spawn(echo(server));
    let (mut reader, mut writer) = client.split();
    let messages: Vec<Message> = (0..200)
        .map(|i| match i % 4 {
            0 => Message::Text(format!("message {i}")),
            1 => Message::Binary(vec![i as u8; 100_000 + i]),
            2 => Message::Ping(vec![i as u8; 10]),
            _ => Message::Text("é".repeat(i * 50)),
        })
        .collect();
    let expected: Vec<Message> = messages
        .iter()
        .filter(|m| !matches!(m, Message::Ping(_)))
        .cloned()
        .collect();
    let reading = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut pongs = 0;
        loop {
            match reader.read().await {
                Ok(Message::Pong(_)) => pongs += 1,
                Ok(Message::Close(_)) => {}
                Ok(m) => got.push(m),
                Err(Error::ConnectionClosed) => return (got, pongs, reader),
                Err(e) => panic!("read half: {e}"),
            }
        }
    });
    // A lost wake-up (a half never told that the socket is writable again)
    // shows as a stall: bounded, so that it fails.
    let sending = async {
        for m in messages {
            writer.send(m).await.unwrap();
        }
        writer.close(CloseCode::NORMAL, "done").await.unwrap();
        reading.await.unwrap()
    };
    let (got, pongs, reader) = tokio::time::timeout(Duration::from_secs(30), sending)
        .await
        .expect("no half stalls");
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "the echoes differ from what was sent");
    assert!(pongs >= 1, "the pings were answered");
    assert_eq!(server.await.unwrap().unwrap(), 150);
    let ws = reader.reunite(writer).unwrap();
    assert_eq!(ws.state(), State::Closed);
}

#[tokio::test]
async fn the_read_half_answers_pings_while_the_write_half_is_idle() {
    let (mut client, server) = pair().await;
    let (mut reader, writer) = server.split();
    let reading = tokio::spawn(async move {
        let mut pings = 0;
        loop {
            match reader.read().await {
                Ok(Message::Ping(_)) => pings += 1,
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return pings,
                Err(e) => panic!("{e}"),
            }
        }
    });
    for i in 0..20u8 {
        client.send(Message::Ping(vec![i])).await.unwrap();
        let pong = tokio::time::timeout(Duration::from_secs(5), client.read())
            .await
            .expect("the pong comes while only the read half runs");
        assert_eq!(pong.unwrap(), Message::Pong(vec![i]));
    }
    client.close(CloseCode::NORMAL, "").await.unwrap();
    assert_eq!(reading.await.unwrap(), 20);
    // The peer's close was answered by the read half: the write half may
    // send no more.
    let mut writer = writer;
    assert_eq!(writer.state(), State::Closed);
    let err = writer.send(Message::Text("late".into())).await.unwrap_err();
    assert!(
        matches!(err, Error::PeerClosed(Some(CloseCode::NORMAL))),
        "{err}"
    );
}

#[tokio::test]
async fn a_close_from_the_write_half_waits_for_the_read_half() {
    let (client, server) = pair().await;
    let server = tokio::spawn(echo(server));
    let (mut reader, mut writer) = client.split();
    let reading = tokio::spawn(async move {
        while reader.read().await.is_ok() {}
        reader.state()
    });
    writer.send(Message::Text("hi".into())).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), writer.close(CloseCode(4000), "bye"))
        .await
        .expect("the close completes while the read half reads")
        .unwrap();
    assert_eq!(reading.await.unwrap(), State::Closed);
    assert_eq!(server.await.unwrap().unwrap(), 1);
}

#[tokio::test]
async fn halves_of_two_websockets_do_not_reunite() {
    let ((_client_a, a), (_client_b, b)) = (pair().await, pair().await);
    let (ra, wa) = a.split();
    let (rb, wb) = b.split();
    let err = ra.reunite(wb).unwrap_err();
    let (ra, wb) = (err.0, err.1);
    assert!(ra.reunite(wa).is_ok());
    assert!(rb.reunite(wb).is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_that_arrives_during_a_big_send_is_answered_after_it() {
    let (client, mut server) = pair().await;
    // The server starts the close while the client's write half is still
    // sending 12 MiB: the reply must follow that message (a control frame
    // cannot go inside it), and the handshake must end cleanly.
    let closing = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        server.close(CloseCode::NORMAL, "bye").await
    });
    let (mut reader, mut writer) = client.split();
    let reading = tokio::spawn(async move {
        loop {
            match reader.read().await {
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    });
    writer
        .send(Message::Binary(vec![0; 12 << 20]))
        .await
        .unwrap();
    let (closed, ended) = tokio::time::timeout(Duration::from_secs(10), async {
        (closing.await.unwrap(), reading.await.unwrap())
    })
    .await
    .expect("the closing handshake ends");
    closed.expect("the server's close is answered");
    assert!(matches!(ended, Error::ConnectionClosed), "{ended}");
}
