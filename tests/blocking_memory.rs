//! What the blocking adapter holds when a big write fails: a transport
//! that breaks (the peer is gone) gets nothing copied — the rest of the
//! frame is not queued, since it can never be written — while one that only
//! had no room in time (`WouldBlock`) keeps the rest for `flush`.

use std::io::{self, Read, Write};
use wsock::blocking::{Error, Options, Transport, WebSocket};
use wsock::{Outgoing, Role};

#[path = "support/counting.rs"]
mod counting;

/// Takes `room` bytes, then fails every write with `error`.
struct Breaking {
    room: usize,
    error: io::ErrorKind,
}

impl Read for Breaking {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Ok(0)
    }
}

impl Write for Breaking {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(self.error.into());
        }
        let n = buf.len().min(self.room);
        self.room -= n;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Breaking {}

/// Writes a 16 MiB frame (as `role`) that fails after 1 MiB with `error`:
/// the error, and the bytes the thread holds afterwards beyond the payload.
fn fail_a_big_write(role: Role, error: io::ErrorKind) -> (Error, isize) {
    let payload = vec![7u8; 16 << 20];
    let transport = Breaking {
        room: 1 << 20,
        error,
    };
    let mut ws = WebSocket::from_upgraded(transport, role, Options::new(), &[]).unwrap();
    let before = counting::held();
    let failed = ws.write(Outgoing::Binary(&payload)).unwrap_err();
    let held = counting::held() - before;
    if error == io::ErrorKind::BrokenPipe {
        // The transport is broken: nothing more goes out.
        let again = ws.write(Outgoing::Text("more")).unwrap_err();
        assert!(
            matches!(&again, Error::Io(e) if e.kind() == error),
            "{again:?}"
        );
    }
    (failed, held)
}

#[test]
fn a_broken_transport_gets_nothing_copied() {
    for role in [Role::Client, Role::Server] {
        let (error, held) = fail_a_big_write(role, io::ErrorKind::BrokenPipe);
        assert!(
            matches!(&error, Error::Io(e) if e.kind() == io::ErrorKind::BrokenPipe),
            "{error:?}"
        );
        assert!(
            held < 256 << 10,
            "{role:?}: {held} bytes held after a broken write"
        );
    }
}

#[test]
fn a_full_transport_keeps_the_rest_for_flush() {
    let (error, held) = fail_a_big_write(Role::Server, io::ErrorKind::WouldBlock);
    assert!(error.is_timeout(), "{error:?}");
    assert!(held > 14 << 20, "the rest is queued: {held} bytes");
}
