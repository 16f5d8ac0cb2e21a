//! `WebSocket::split` over loopback TCP: a reader thread and a writer thread
//! on one connection, the replies the read half owes, the closing handshake
//! started from either half or by the peer, its deadline, and `reunite`.

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};
use wsock::blocking::{
    ClientBuilder, CloseFrame, Error, Message, Options, ReuniteError, WebSocket, accept, connect,
};
use wsock::{CloseCode, Outgoing, State};

#[path = "support/loopback.rs"]
mod loopback;

/// [`loopback::server`], with the address as a `ws://` URL.
fn server<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (String, thread::JoinHandle<T>) {
    let (addr, handle) = loopback::server(serve);
    (format!("ws://{addr}/"), handle)
}

/// A plain (unsplit) echo server; returns the close frame it received.
fn echo(tcp: TcpStream) -> Result<Option<CloseFrame>, Error> {
    let mut ws = accept(tcp)?;
    let mut close = None;
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => ws.write(Outgoing::Text(&t))?,
            Ok(Message::Binary(b)) => ws.write(Outgoing::Binary(&b))?,
            Ok(Message::Close(frame)) => close = frame,
            Ok(_) => {}
            Err(Error::ConnectionClosed) => return Ok(close),
            Err(e) => return Err(e),
        }
    }
}

fn big(n: u8) -> Vec<u8> {
    (0..8 << 20).map(|i: u32| (i as u8) ^ n).collect()
}

#[test]
fn reader_and_writer_threads_share_one_connection() {
    let (url, server) = server(echo);
    let (mut reader, mut writer) = connect(&url).unwrap().split().unwrap();
    let sending = thread::spawn(move || {
        for i in 0..100 {
            writer.send(Message::Text(format!("before {i}"))).unwrap();
        }
        writer.send(Message::Binary(big(7))).unwrap();
        for i in 0..100 {
            writer.write(Outgoing::Text(&format!("after {i}"))).unwrap();
        }
        writer.flush().unwrap();
        writer
    });
    for i in 0..100 {
        assert_eq!(reader.read().unwrap(), Message::Text(format!("before {i}")));
    }
    assert!(
        reader.read().unwrap() == Message::Binary(big(7)),
        "8 MiB echoed intact"
    );
    for i in 0..100 {
        assert_eq!(reader.read().unwrap(), Message::Text(format!("after {i}")));
    }
    let mut writer = sending.join().unwrap();
    // The write half closes; the read half receives the reply and the end.
    let closing = thread::spawn(move || writer.close(CloseCode::NORMAL, "done"));
    let rest: Vec<_> = reader.incoming().collect::<Result<_, _>>().unwrap();
    assert!(matches!(&rest[..], [Message::Close(Some(f))] if f.code == CloseCode::NORMAL));
    closing.join().unwrap().unwrap();
    assert_eq!(reader.state(), State::Closed);
    let close = server.join().unwrap().unwrap().unwrap();
    assert_eq!(
        (close.code, close.reason.as_str()),
        (CloseCode::NORMAL, "done")
    );
}

/// The read half writes the pong itself: the write half is never used.
#[test]
fn pings_are_answered_while_the_application_only_reads() {
    let (url, server) = server(|tcp| {
        let mut ws = accept(tcp).unwrap();
        for i in 0..20u8 {
            ws.send(Message::Ping(vec![i])).unwrap();
            assert_eq!(ws.read().unwrap(), Message::Pong(vec![i]));
        }
        ws.send(Message::Text("bye".into())).unwrap();
        ws.close(CloseCode::NORMAL, "").unwrap();
    });
    let (mut reader, _writer) = connect(&url).unwrap().split().unwrap();
    let mut pings = 0;
    loop {
        match reader.read().unwrap() {
            Message::Ping(_) => pings += 1,
            Message::Text(t) => {
                assert_eq!(t, "bye");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(pings, 20);
    assert!(matches!(reader.read().unwrap(), Message::Close(Some(_))));
    assert!(matches!(reader.read(), Err(Error::ConnectionClosed)));
    server.join().unwrap();
}

/// A close from the peer is replied to by the read half; the write half
/// then refuses data, and its `close` has nothing left to wait for.
#[test]
fn peer_close_is_answered_by_the_read_half() {
    let (url, server) = server(|tcp| {
        let mut ws = accept(tcp).unwrap();
        ws.close(CloseCode(4001), "server-bye").unwrap();
    });
    let (mut reader, mut writer) = connect(&url).unwrap().split().unwrap();
    match reader.read().unwrap() {
        Message::Close(Some(f)) => {
            assert_eq!((f.code, f.reason.as_str()), (CloseCode(4001), "server-bye"))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(reader.read(), Err(Error::ConnectionClosed)));
    server.join().unwrap();
    assert!(matches!(
        writer.send(Message::Text("late".into())),
        Err(Error::PeerClosed(Some(CloseCode(4001))))
    ));
    let started = Instant::now();
    writer.close(CloseCode::NORMAL, "").unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// A split server starts the close from its write half; its read half
/// receives the client's reply and ends the transport (the server's job).
#[test]
fn split_server_closes_from_the_write_half() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    let server = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let (mut reader, mut writer) = accept(tcp).unwrap().split().unwrap();
        let reading = thread::spawn(move || reader.incoming().collect::<Result<Vec<_>, _>>());
        writer.send(Message::Text("hello".into())).unwrap();
        writer.close(CloseCode(4002), "going").unwrap();
        reading.join().unwrap().unwrap()
    });
    let mut ws = connect(&url).unwrap();
    assert_eq!(ws.read().unwrap(), Message::Text("hello".into()));
    match ws.read().unwrap() {
        Message::Close(Some(f)) => assert_eq!(f.code, CloseCode(4002)),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(ws.read(), Err(Error::ConnectionClosed)));
    let seen = server.join().unwrap();
    assert!(matches!(&seen[..], [Message::Close(Some(f))] if f.code == CloseCode(4002)));
}

/// A peer that never answers our close cannot hold the halves: `close`
/// gives up at the deadline and the blocked read returns.
#[test]
fn close_is_bounded_by_the_close_timeout() {
    let (url, server) = server(|tcp| {
        let ws = accept(tcp).unwrap();
        thread::sleep(Duration::from_secs(3));
        drop(ws);
    });
    let options = Options::new().close_timeout(Some(Duration::from_millis(300)));
    let ws = ClientBuilder::new(&url).options(options).connect().unwrap();
    let (mut reader, mut writer) = ws.split().unwrap();
    let reading = thread::spawn(move || reader.read());
    let started = Instant::now();
    let closed = writer.close(CloseCode::NORMAL, "");
    assert!(closed.as_ref().is_err_and(Error::is_timeout), "{closed:?}");
    let read = reading.join().unwrap();
    assert!(read.is_err(), "the read returns: {read:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    server.join().unwrap();
}

#[test]
fn reunite_gives_back_the_websocket() {
    let (url, server_a) = server(echo);
    let (url2, server_b) = server(echo);
    let (a_read, a_write) = connect(&url).unwrap().split().unwrap();
    let (b_read, b_write) = connect(&url2).unwrap().split().unwrap();
    // Halves of different connections do not fit.
    let ReuniteError(a_read, b_write) = *a_read.reunite(b_write).unwrap_err();
    let mut b = b_read.reunite(b_write).unwrap();
    b.close(CloseCode::NORMAL, "").unwrap();
    let mut a: WebSocket<_> = a_read.reunite(a_write).unwrap();
    a.send(Message::Text("together".into())).unwrap();
    assert_eq!(a.read().unwrap(), Message::Text("together".into()));
    a.close(CloseCode::NORMAL, "").unwrap();
    server_a.join().unwrap().unwrap();
    server_b.join().unwrap().unwrap();
}

/// Pongs owed while a big frame streams out wait for its end: the strict
/// peer would fail the connection on a control frame inside a data frame.
/// The peer (split too) pings all the while the messages stream in.
#[test]
fn owed_pongs_never_land_inside_a_frame() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let (url, server) = server(|tcp| {
        let (mut reader, mut writer) = accept(tcp).unwrap().split().unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU32::new(0));
        let pinging = {
            let (done, sent) = (Arc::clone(&done), Arc::clone(&sent));
            thread::spawn(move || {
                while !done.load(Ordering::SeqCst) {
                    let n = sent.fetch_add(1, Ordering::SeqCst);
                    writer
                        .send(Message::Ping(n.to_be_bytes().to_vec()))
                        .unwrap();
                    thread::sleep(Duration::from_micros(200));
                }
                writer
            })
        };
        let (mut messages, mut pongs) = (Vec::new(), 0u32);
        while messages.len() < 4 {
            match reader.read().unwrap() {
                Message::Pong(_) => pongs += 1,
                Message::Binary(b) => messages.push(b),
                other => panic!("unexpected {other:?}"),
            }
        }
        done.store(true, Ordering::SeqCst);
        let mut writer = pinging.join().unwrap();
        let closing = thread::spawn(move || writer.close(CloseCode::NORMAL, ""));
        pongs += reader
            .incoming()
            .filter(|m| matches!(m, Ok(Message::Pong(_))))
            .count() as u32;
        closing.join().unwrap().unwrap();
        (messages, sent.load(Ordering::SeqCst), pongs)
    });
    let (mut reader, mut writer) = connect(&url).unwrap().split().unwrap();
    let reading = thread::spawn(move || {
        let mut pings = 0;
        for message in reader.incoming() {
            pings += matches!(message.unwrap(), Message::Ping(_)) as u32;
        }
        pings
    });
    for n in 0..4 {
        writer.send(Message::Binary(big(n))).unwrap();
    }
    let pings = reading.join().unwrap();
    let (messages, sent, pongs) = server.join().unwrap();
    assert!((0..4).all(|n| messages[n as usize] == big(n)), "intact");
    assert_eq!(pings, sent, "every ping arrived");
    // A pong answers the latest ping (§5.5.3): some may be merged.
    assert!(
        pongs >= 1 && pongs <= sent,
        "{pongs} pongs for {sent} pings"
    );
}
