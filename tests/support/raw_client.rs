//! A raw WebSocket client for the std adapters' tests: bytes on a
//! `TcpStream`, so a test controls exactly what the server sees.

use std::time::Duration;

/// An opening handshake request, for raw clients.
pub const UPGRADE_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

/// A raw client that opens a WebSocket, sends one binary frame of `len`
/// bytes (in a thread of its own), and only then reads, as a browser does:
/// returns how sending went and the first frame read back, whole; then
/// closes its socket.
pub fn send_too_much_and_read(
    addr: std::net::SocketAddr,
    len: usize,
) -> std::io::Result<(std::io::Result<()>, Vec<u8>)> {
    use std::io::{Read, Write};
    let mut tcp = std::net::TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    tcp.write_all(UPGRADE_REQUEST)?;
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        tcp.read_exact(&mut byte)?;
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    let mut writer = tcp.try_clone()?;
    let sending = std::thread::spawn(move || {
        let mut frame = vec![0x82, 0xFF];
        frame.extend_from_slice(&(len as u64).to_be_bytes());
        frame.extend_from_slice(&[0; 4]); // the mask: zeros
        writer.write_all(&frame)?;
        for _ in 0..len / 4096 {
            writer.write_all(&[0; 4096])?;
        }
        Ok(())
    });
    let sent = sending.join().unwrap();
    // What the server sent meanwhile has arrived (and a reset with it, if
    // the server closed its socket on unread data).
    std::thread::sleep(Duration::from_millis(100));
    let mut header = [0u8; 2];
    tcp.read_exact(&mut header)?;
    let mut payload = vec![0u8; usize::from(header[1] & 0x7F)];
    tcp.read_exact(&mut payload)?;
    Ok((sent, [&header[..], &payload].concat()))
}

/// The header of a masked binary frame of 2^63 - 1 bytes (mask: zeros):
/// too big for any server.
pub fn endless_frame_header() -> Vec<u8> {
    let mut frame = vec![0x82, 0xFF];
    frame.extend_from_slice(&(u64::MAX >> 1).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame
}

/// How long a server lingered after failing on [`endless_frame_header`]:
/// for its close timeout (about 1 s in the tests) when the client went
/// `silent` after 100 KB, and for 1 MiB (`drained`), not its 60 s
/// timeout, when the client sent on.
pub fn check_linger(silent: bool, took: Duration, drained: usize) {
    if silent {
        assert!(
            took >= Duration::from_millis(900),
            "the linger lasts the close timeout: {took:?}"
        );
        assert!(took < Duration::from_secs(5), "and no longer: {took:?}");
    } else {
        assert!(
            took < Duration::from_secs(30),
            "1 MiB, not the 60 s timeout: {took:?}"
        );
        assert!(drained > 1 << 20, "the server drained 1 MiB: {drained}");
    }
}
