//! The sans-IO core on its own: a wsock client and a wsock server, both sans-IO
//! connections, talk through two in-memory byte pipes. Nothing touches the
//! network. Run it with `cargo run --example sans_io`.
//!
//! It shows every step of a WebSocket session: the HTTP upgrade, a JSON text
//! message and its echo, a ping and its automatic pong, and the closing
//! handshake, printing the bytes that cross the "wire".

use std::error::Error;
use wsock::handshake::client::{ClientHandshake, ClientRequest};
use wsock::handshake::server::{Accept, Request};
use wsock::handshake::{EMPTY_HEADER, Url};
use wsock::{CloseCode, Config, Connection, Event, Outgoing};

#[path = "../tests/support/test_rng.rs"]
mod test_rng;
use test_rng::TestRng;

fn show(direction: &str, bytes: &[u8]) {
    let hex: Vec<String> = bytes.iter().take(24).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 24 { " …" } else { "" };
    println!(
        "  {direction} {:>3} bytes: {}{more}",
        bytes.len(),
        hex.join(" ")
    );
}

/// Feeds `wire` to `conn` and returns the one event it holds, as text.
fn receive_one<R: rand_core::Rng>(
    conn: &mut Connection<R>,
    wire: &mut Vec<u8>,
) -> Result<String, Box<dyn Error>> {
    let got = conn.receive(wire)?;
    let text = match got.event {
        Some(Event::Data(chunk)) => format!("message: {}", std::str::from_utf8(chunk.payload)?),
        Some(Event::Ping(p)) => format!("ping {:?}", std::str::from_utf8(&p)?),
        Some(Event::Pong(p)) => format!("pong {:?}", std::str::from_utf8(&p)?),
        Some(Event::Close(Some(c))) => format!("close {} {:?}", c.code, c.reason),
        Some(Event::Close(None)) => "close (no code)".to_string(),
        None => "nothing yet".to_string(),
    };
    let consumed = got.consumed;
    wire.drain(..consumed);
    Ok(text)
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut to_server = Vec::new();
    let mut to_client = Vec::new();
    let mut buf = [0u8; 1024];

    println!("1. Opening handshake (RFC 6455 §4)");
    let mut rng = TestRng(0x2545_F491_4F6C_DD1D);
    let url = Url::parse("ws://127.0.0.1:9001/chat")?;
    let handshake = ClientHandshake::new(ClientRequest::new(url), &mut rng);
    let n = handshake.write_request(&mut buf)?;
    to_server.extend_from_slice(&buf[..n]);
    println!(
        "  client -> server:\n    {}",
        String::from_utf8_lossy(&buf[..n])
            .trim_end()
            .replace("\r\n", "\n    ")
    );

    let mut headers = [EMPTY_HEADER; 32];
    let request = Request::parse(&to_server, &mut headers, 8192)?.ok_or("incomplete request")?;
    let n = request.accept(&Accept::default(), &mut buf)?;
    let request_len = request.len;
    to_server.drain(..request_len);
    to_client.extend_from_slice(&buf[..n]);
    println!(
        "  server -> client:\n    {}",
        String::from_utf8_lossy(&buf[..n])
            .trim_end()
            .replace("\r\n", "\n    ")
    );
    let mut server = Connection::server(Config::new());

    let mut headers = [EMPTY_HEADER; 32];
    let response = handshake
        .receive(&to_client, &mut headers)?
        .ok_or("incomplete response")?;
    let response_len = response.len;
    to_client.drain(..response_len);
    let mut client = Connection::client(Config::new(), rng);
    println!("  handshake complete: Sec-WebSocket-Accept verified\n");

    println!("2. A text message and its echo");
    let json = r#"{"message": "Hello, WebSocket!"}"#;
    let n = client.encode(Outgoing::Text(json), &mut buf)?;
    show("client -> server (masked)", &buf[..n]);
    to_server.extend_from_slice(&buf[..n]);
    println!("  server got {}", receive_one(&mut server, &mut to_server)?);
    let n = server.encode(Outgoing::Text(json), &mut buf)?;
    show("server -> client", &buf[..n]);
    to_client.extend_from_slice(&buf[..n]);
    println!(
        "  client got {}\n",
        receive_one(&mut client, &mut to_client)?
    );

    println!("3. Ping and automatic pong");
    let n = client.encode(Outgoing::Ping(b"demo"), &mut buf)?;
    to_server.extend_from_slice(&buf[..n]);
    println!("  server got {}", receive_one(&mut server, &mut to_server)?);
    let n = server.poll_transmit(&mut buf);
    show("server -> client (auto-pong)", &buf[..n]);
    to_client.extend_from_slice(&buf[..n]);
    println!(
        "  client got {}\n",
        receive_one(&mut client, &mut to_client)?
    );

    println!("4. Closing handshake (RFC 6455 §7)");
    let n = client.encode(Outgoing::Close(Some((CloseCode::NORMAL, "bye"))), &mut buf)?;
    to_server.extend_from_slice(&buf[..n]);
    println!("  client state {:?}", client.state());
    println!("  server got {}", receive_one(&mut server, &mut to_server)?);
    let n = server.poll_transmit(&mut buf);
    to_client.extend_from_slice(&buf[..n]);
    println!(
        "  server state {:?}, close the transport now: {}",
        server.state(),
        server.should_shutdown()
    );
    println!("  client got {}", receive_one(&mut client, &mut to_client)?);
    client.receive_eof()?;
    println!(
        "  client state {:?}, transport ended cleanly",
        client.state()
    );
    Ok(())
}
