//! The newcomer's demo: an echo server on a free loopback port, a client
//! that sends a JSON text message, prints the echo, pings, and closes
//! cleanly. Needs nothing outside the machine: `cargo run --example demo`.

use std::net::TcpListener;
use std::thread;
use wsock::blocking::{Error, Message, accept, connect};
use wsock::{CloseCode, Outgoing};

fn main() -> Result<(), Error> {
    // The server: port 0 asks the OS for a free port on loopback.
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = thread::spawn(move || -> Result<(), Error> {
        let (tcp, peer) = listener.accept()?;
        let mut ws = accept(tcp)?;
        println!("server: accepted {peer}");
        // Echo text and binary; pings are answered inside `read`.
        loop {
            match ws.read() {
                Ok(Message::Text(text)) => ws.send_frame(Outgoing::Text(&text))?,
                Ok(Message::Binary(bytes)) => ws.send_frame(Outgoing::Binary(&bytes))?,
                Ok(Message::Close(frame)) => println!("server: client closed with {frame:?}"),
                Ok(_) => {}
                Err(Error::ConnectionClosed) => break,
                Err(e) => return Err(e),
            }
        }
        println!("server: closing handshake complete, TCP closed");
        Ok(())
    });

    let url = format!("ws://{addr}/demo");
    let mut ws = connect(&url)?;
    println!("client: connected to {url}");

    let json = r#"{"message": "Hello, WebSocket!"}"#;
    ws.send(Message::Text(json.into()))?;
    println!("client: sent     {json}");
    match ws.read()? {
        Message::Text(echo) => println!("client: received {echo}"),
        other => println!("client: unexpected {other:?}"),
    }

    ws.send(Message::Ping(b"are you there?".to_vec()))?;
    match ws.read()? {
        Message::Pong(payload) => {
            println!("client: pong     {:?}", String::from_utf8_lossy(&payload))
        }
        other => println!("client: unexpected {other:?}"),
    }

    ws.close(CloseCode::NORMAL, "demo done")?;
    println!("client: closed cleanly ({:?})", ws.state());
    server.join().expect("server thread")?;
    Ok(())
}
