//! A one-connection loopback server for the std adapter's tests.

use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// Runs `serve` on one accepted connection in a thread (reads time out
/// after 20 s, so a broken test fails instead of hanging); returns the
/// address (`127.0.0.1:PORT`).
pub fn server<T: Send + 'static>(
    serve: impl FnOnce(TcpStream) -> T + Send + 'static,
) -> (String, thread::JoinHandle<T>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let handle = thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        serve(tcp)
    });
    (addr, handle)
}
