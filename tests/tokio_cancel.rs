//! Cancel safety of the tokio adapter: one side runs over a transport that
//! returns `Pending` at random and reads and writes a random few bytes at a
//! time, and its futures are dropped after a random number of polls — at
//! every await point, over many seeds. Whatever is dropped, the peer must see
//! every echo exactly once, whole and in order, every ping answered, and the
//! closing handshake must still complete. The same again with the chaos
//! side split into a read half and a write half on two tasks.
#![cfg(feature = "tokio")]

use std::future::{Future, poll_fn};
use std::io;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use wsock::tokio::{Error, Message, Options, WebSocket};
use wsock::{CloseCode, Role, State};

/// A small deterministic generator (xorshift64*).
#[derive(Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A stream that says `Pending` (waking itself) one time in three, and
/// moves at most a few bytes per call.
struct Chaos {
    inner: DuplexStream,
    rng: Rng,
}

impl Chaos {
    fn stall(&mut self, cx: &mut Context<'_>) -> bool {
        if self.rng.below(3) == 0 {
            cx.waker().wake_by_ref();
            return true;
        }
        false
    }
    fn chunk(&mut self) -> usize {
        match self.rng.below(4) {
            0 => 1,
            1 => 1 + self.rng.below(16) as usize,
            2 => 1 + self.rng.below(1500) as usize,
            _ => 64 * 1024,
        }
    }
}

impl AsyncRead for Chaos {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.stall(cx) {
            return Poll::Pending;
        }
        let n = this.chunk().min(buf.remaining());
        let mut small = vec![0u8; n];
        let mut part = ReadBuf::new(&mut small);
        let result = Pin::new(&mut this.inner).poll_read(cx, &mut part);
        if let Poll::Ready(Ok(())) = result {
            buf.put_slice(part.filled());
        }
        result
    }
}

impl AsyncWrite for Chaos {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.stall(cx) {
            return Poll::Pending;
        }
        let n = this.chunk().min(bytes.len());
        Pin::new(&mut this.inner).poll_write(cx, &bytes[..n])
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.stall(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.stall(cx) {
            return Poll::Pending;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// Polls `fut` at most `polls` times (yielding between polls), then drops
/// it: `None` if it had not completed.
async fn poll_then_drop<F: Future>(fut: F, polls: u64) -> Option<F::Output> {
    let mut fut = pin!(fut);
    for _ in 0..polls {
        if let Poll::Ready(out) = poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return Some(out);
        }
        tokio::task::yield_now().await;
    }
    None
}

/// The messages the peer sends: text and binary of every length class
/// (7-bit, 16-bit, 64-bit, and past the 64 KiB streaming threshold), with
/// pings between them.
fn script(rng: &mut Rng, count: usize) -> Vec<Message> {
    let mut out = Vec::new();
    for i in 0..count {
        let len = match rng.below(5) {
            0 => rng.below(126) as usize,
            1 => 126 + rng.below(4000) as usize,
            2 => rng.below(20_000) as usize,
            3 => 65_536 + rng.below(300_000) as usize,
            _ => 0,
        };
        if i % 2 == 0 {
            let text: String = (0..len).map(|j| ['a', 'é', '€'][(i + j) % 3]).collect();
            out.push(Message::Text(text));
        } else {
            out.push(Message::Binary(
                (0..len).map(|j| (i * 7 + j) as u8).collect(),
            ));
        }
        if rng.below(4) == 0 {
            out.push(Message::Ping(vec![i as u8; rng.below(126) as usize]));
        }
    }
    // The chaos side closes after the last echo: a ping behind the last
    // message would reach it after its close, when no pong may be sent.
    if let Some(Message::Ping(_)) = out.last() {
        out.pop();
    }
    out
}

fn pair(role: Role, seed: u64, deflate: bool) -> (WebSocket<Chaos>, WebSocket<DuplexStream>) {
    // The buffer holds everything the peer sends, so the peer never has to
    // read while it writes; the chaos side still sees Pending and short I/O.
    let (a, b) = tokio::io::duplex(16 << 20);
    let chaos = Chaos {
        inner: a,
        rng: Rng(seed | 1),
    };
    let other = match role {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    };
    let options = Options::new().write_high_water(8 * 1024);
    let mut chaos = WebSocket::from_upgraded(chaos, role, options, &[]).unwrap();
    let mut peer = WebSocket::from_upgraded(b, other, Options::new(), &[]).unwrap();
    if deflate {
        // As a handshake would have agreed: 15-bit windows, context takeover.
        let agreed = wsock::handshake::deflate::Agreed {
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
        };
        let options = wsock::tokio::DeflateOptions::default();
        chaos.set_deflate(&agreed, &options);
        peer.set_deflate(&agreed, &options);
    }
    (chaos, peer)
}

/// The chaos side: reads every message, echoes text and binary with
/// `feed` (dropped futures retried with the same message) and `flush`,
/// then closes — every future dropped after 1–3 polls, again and again.
async fn chaos_side(
    mut ws: WebSocket<Chaos>,
    mut rng: Rng,
    expect: usize,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut echoed = 0;
    let mut pings = Vec::new();
    while echoed < expect {
        let read = loop {
            let polls = 1 + rng.below(3);
            if let Some(result) = poll_then_drop(ws.read(), polls).await {
                break result?;
            }
        };
        if let Message::Ping(payload) = read {
            pings.push(payload);
            continue;
        }
        // A dropped feed never took the message: retrying cannot duplicate it.
        while poll_then_drop(ws.feed(read.clone()), 1 + rng.below(3))
            .await
            .transpose()?
            .is_none()
        {}
        echoed += 1;
        if rng.below(3) == 0 {
            while poll_then_drop(ws.flush(), 1 + rng.below(3))
                .await
                .transpose()?
                .is_none()
            {}
        }
    }
    loop {
        let close = ws.close(CloseCode(4000), "done");
        if let Some(result) = poll_then_drop(close, 1 + rng.below(3)).await {
            result?;
            assert_eq!(ws.state(), State::Closed);
            return Ok(pings);
        }
    }
}

/// The chaos side split in two tasks: the read half reads (futures dropped
/// as above) and hands each data message to the write half's task, which
/// echoes it with `feed` and `flush` (dropped and retried) and then closes,
/// while the read half reads on until the end.
async fn chaos_side_split(
    ws: WebSocket<Chaos>,
    mut rng: Rng,
    expect: usize,
) -> Result<Vec<Vec<u8>>, Error> {
    let (mut reader, mut writer) = ws.split();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut read_rng = Rng(rng.next() | 1);
    let reading = tokio::spawn(async move {
        let mut pings = Vec::new();
        loop {
            let polls = 1 + read_rng.below(3);
            match poll_then_drop(reader.read(), polls).await {
                None => {}
                Some(Ok(Message::Ping(payload))) => pings.push(payload),
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    let _ = tx.send(m);
                }
                Some(Ok(_)) => {}
                Some(Err(Error::ConnectionClosed)) => return Ok((pings, reader)),
                Some(Err(e)) => return Err(e),
            }
        }
    });
    for _ in 0..expect {
        let message = rx
            .recv()
            .await
            .expect("the read half hands over every message");
        while poll_then_drop(writer.feed(message.clone()), 1 + rng.below(3))
            .await
            .transpose()?
            .is_none()
        {}
        if rng.below(3) == 0 {
            while poll_then_drop(writer.flush(), 1 + rng.below(3))
                .await
                .transpose()?
                .is_none()
            {}
        }
    }
    loop {
        let close = writer.close(CloseCode(4000), "done");
        if let Some(result) = poll_then_drop(close, 1 + rng.below(3)).await {
            result?;
            break;
        }
    }
    let (pings, reader) = reading.await.unwrap()?;
    let Ok(ws) = reader.reunite(writer) else {
        panic!("the halves of one WebSocket reunite");
    };
    assert_eq!(ws.state(), State::Closed);
    Ok(pings)
}

/// The peer: sends the script, then reads until the chaos side's close.
async fn peer_side(mut ws: WebSocket<DuplexStream>, script: Vec<Message>) -> Vec<Message> {
    for message in &script {
        ws.feed(message.clone()).await.unwrap();
    }
    ws.flush().await.unwrap();
    let mut got = Vec::new();
    loop {
        match ws.read().await {
            Ok(message) => got.push(message),
            Err(Error::ConnectionClosed) => return got,
            Err(e) => panic!("peer: {e} after {} messages", got.len()),
        }
    }
}

async fn run_seed(role: Role, seed: u64, split: bool) {
    run_seed_with(role, seed, split, false).await;
}

/// [`run_seed`], with permessage-deflate on both sides when `deflate`.
async fn run_seed_with(role: Role, seed: u64, split: bool, deflate: bool) {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let sent = script(&mut rng, 24);
    let data: Vec<Message> = sent
        .iter()
        .filter(|m| !matches!(m, Message::Ping(_)))
        .cloned()
        .collect();
    let pings: Vec<Vec<u8>> = sent
        .iter()
        .filter_map(|m| match m {
            Message::Ping(p) => Some(p.clone()),
            _ => None,
        })
        .collect();
    let (chaos, peer) = pair(role, seed, deflate);
    let expect = data.len();
    let chaos = if split {
        tokio::spawn(chaos_side_split(chaos, rng, expect))
    } else {
        tokio::spawn(chaos_side(chaos, rng, expect))
    };
    let got = tokio::time::timeout(std::time::Duration::from_secs(60), peer_side(peer, sent))
        .await
        .unwrap_or_else(|_| panic!("seed {seed} ({role:?}): the peer timed out"));
    let pings_read = chaos
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("seed {seed} ({role:?}): chaos side failed: {e}"));
    assert_eq!(
        pings_read, pings,
        "seed {seed} ({role:?}): every ping read, once"
    );
    let echoes: Vec<&Message> = got
        .iter()
        .filter(|m| matches!(m, Message::Text(_) | Message::Binary(_)))
        .collect();
    assert_eq!(
        echoes.len(),
        data.len(),
        "seed {seed} ({role:?}): echo count"
    );
    for (i, (echo, sent)) in echoes.iter().zip(&data).enumerate() {
        assert!(*echo == sent, "seed {seed} ({role:?}): echo {i} differs");
    }
    let pongs: Vec<&Vec<u8>> = got
        .iter()
        .filter_map(|m| match m {
            Message::Pong(p) => Some(p),
            _ => None,
        })
        .collect();
    // Pings that arrive before the pong for an earlier one is written may be
    // answered only once, for the latest (RFC 6455 §5.5.3): the pongs are the
    // pings in order, some skipped, never the last.
    let mut rest = pings.iter();
    for pong in &pongs {
        assert!(
            rest.any(|ping| ping == *pong),
            "seed {seed} ({role:?}): a pong answers no ping, or out of order"
        );
    }
    assert_eq!(
        pongs.last().copied(),
        pings.last(),
        "seed {seed}: the last ping's pong"
    );
    assert!(
        matches!(got.last(), Some(Message::Close(Some(f))) if f.code == CloseCode(4000)),
        "seed {seed} ({role:?}): the close came last"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_server_loses_nothing_when_its_futures_are_dropped() {
    for seed in 0..24 {
        run_seed(Role::Server, seed, false).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_client_loses_nothing_when_its_futures_are_dropped() {
    for seed in 100..124 {
        run_seed(Role::Client, seed, false).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn split_halves_of_a_server_lose_nothing_when_their_futures_are_dropped() {
    for seed in 200..224 {
        run_seed(Role::Server, seed, true).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn split_halves_of_a_client_lose_nothing_when_their_futures_are_dropped() {
    for seed in 300..324 {
        run_seed(Role::Client, seed, true).await;
    }
}

/// With permessage-deflate: compressing and inflating happen inside the
/// polls that take or return a message, so dropped futures lose nothing
/// and the two compressors' windows stay in step.
#[tokio::test(flavor = "current_thread")]
async fn compressing_websockets_lose_nothing_when_their_futures_are_dropped() {
    for seed in 400..412 {
        run_seed_with(Role::Server, seed, false, true).await;
        run_seed_with(Role::Client, seed + 50, true, true).await;
    }
}
