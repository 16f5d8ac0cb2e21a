//! `examples/chat_server`: three clients chat at once, each sending while it
//! receives; every client gets every other client's messages, in order.

#[path = "../examples/chat_server.rs"]
mod chat_server;

use std::net::TcpListener;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;
use wsock::blocking::{ClientBuilder, Message};
use wsock::{CloseCode, Outgoing};

const CLIENTS: usize = 3;
const MESSAGES: usize = 200;

fn start_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://{}/", listener.local_addr().unwrap());
    thread::spawn(move || chat_server::serve(&listener));
    url
}

/// One client: sends its messages from one thread while another reads;
/// returns what it received, as (sender, number) pairs in arrival order.
fn chatter(url: &str, me: usize, ready: &Barrier) -> Vec<(usize, usize)> {
    let ws = ClientBuilder::new(url).connect().unwrap();
    ws.get_ref()
        .tcp()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (mut reader, mut writer) = ws.split().unwrap();
    ready.wait(); // everyone is in the room
    let sending = thread::spawn(move || {
        for n in 0..MESSAGES {
            let text = format!("{me}:{n}:{}", "x".repeat(n % 50));
            if n % 7 == 0 {
                writer.send(Message::Binary(text.into_bytes())).unwrap();
            } else {
                writer.write(Outgoing::Text(&text)).unwrap();
                writer.flush().unwrap();
            }
        }
        writer
    });
    let mut got = Vec::new();
    while got.len() < (CLIENTS - 1) * MESSAGES {
        let text = match reader.read().unwrap() {
            Message::Text(t) => t,
            Message::Binary(b) => String::from_utf8(b).unwrap(),
            other => panic!("client {me}: unexpected {other:?}"),
        };
        let mut parts = text.split(':');
        let from: usize = parts.next().unwrap().parse().unwrap();
        let n: usize = parts.next().unwrap().parse().unwrap();
        assert_eq!(
            parts.next().unwrap(),
            "x".repeat(n % 50),
            "relayed unchanged"
        );
        assert_ne!(from, me, "no copy to the sender");
        got.push((from, n));
    }
    let mut writer = sending.join().unwrap();
    let closing = thread::spawn(move || writer.close(CloseCode::NORMAL, "bye"));
    for message in reader.incoming() {
        match message {
            Ok(Message::Close(_)) => {}
            Ok(other) => panic!("client {me}: unexpected {other:?} after all messages"),
            Err(e) => panic!("client {me}: {e}"),
        }
    }
    closing.join().unwrap().unwrap();
    got
}

#[test]
fn three_clients_each_get_all_others_messages_in_order() {
    let url = start_server();
    let ready = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|me| {
            let (url, ready) = (url.clone(), Arc::clone(&ready));
            thread::spawn(move || chatter(&url, me, &ready))
        })
        .collect();
    for (me, client) in clients.into_iter().enumerate() {
        let got = client.join().unwrap();
        for from in (0..CLIENTS).filter(|&c| c != me) {
            let order: Vec<usize> = got
                .iter()
                .filter(|(f, _)| *f == from)
                .map(|(_, n)| *n)
                .collect();
            assert_eq!(
                order,
                (0..MESSAGES).collect::<Vec<_>>(),
                "client {me} from {from}"
            );
        }
    }
}

/// A client's close is answered and the others keep chatting.
#[test]
fn a_client_leaving_does_not_stop_the_others() {
    let url = start_server();
    let mut leaver = ClientBuilder::new(&url).connect().unwrap();
    let mut a = ClientBuilder::new(&url).connect().unwrap();
    let mut b = ClientBuilder::new(&url).connect().unwrap();
    leaver.close(CloseCode::NORMAL, "leaving").unwrap();
    a.send(Message::Text("still here?".into())).unwrap();
    assert_eq!(b.read().unwrap(), Message::Text("still here?".into()));
    b.send(Message::Text("yes".into())).unwrap();
    assert_eq!(a.read().unwrap(), Message::Text("yes".into()));
    a.close(CloseCode::NORMAL, "").unwrap();
    b.close(CloseCode::NORMAL, "").unwrap();
}

/// A client that stops reading is dropped with 1008 once its outbox is
/// full; the sender and the other readers are not held up. The flood (100
/// MiB) is more than the outbox (1024 messages) and both sockets' buffers
/// can hold, whatever the kernel's buffer sizes.
#[test]
fn a_slow_client_is_dropped_not_waited_for() {
    const FLOOD: usize = 1600;
    let url = start_server();
    let mut slow = ClientBuilder::new(&url).connect().unwrap();
    let fast = ClientBuilder::new(&url).connect().unwrap();
    let mut sender = ClientBuilder::new(&url).connect().unwrap();
    fast.get_ref()
        .tcp()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let (mut fast, _fast_writer) = fast.split().unwrap();
    let payload = "y".repeat(64 * 1024);
    let flooding = thread::spawn(move || {
        for n in 0..FLOOD {
            sender
                .write(Outgoing::Text(&format!("{n}:{payload}")))
                .unwrap();
        }
        sender.flush().unwrap();
        sender
    });
    for n in 0..FLOOD {
        match fast.read().unwrap() {
            Message::Text(t) => assert!(t.starts_with(&format!("{n}:"))),
            other => panic!("unexpected {other:?}"),
        }
    }
    flooding
        .join()
        .unwrap()
        .close(CloseCode::NORMAL, "")
        .unwrap();
    // The slow client finds a prefix of the flood, then the server's close.
    slow.get_ref()
        .tcp()
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut next = 0;
    let close = loop {
        match slow.read().unwrap() {
            Message::Text(t) => {
                assert!(t.starts_with(&format!("{next}:")), "in order");
                next += 1;
            }
            Message::Close(frame) => break frame.unwrap(),
            other => panic!("unexpected {other:?}"),
        }
    };
    assert!(next < FLOOD, "dropped before the end of the flood");
    assert_eq!(close.code, CloseCode::POLICY_VIOLATION);
}
