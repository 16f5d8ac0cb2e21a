#!/usr/bin/env python3
"""Writes the seed corpus fuzz/seeds/<target>/ from the descriptions below.

The seeds are checked in; rerun this after changing it (or the input format
of a target in fuzz/checks.rs):  python3 fuzz/make_seeds.py

Handshakes are written from RFC 6455 (§1.2, §1.3, §4) and the documented
behaviour of common clients and servers (Chrome, Firefox, curl, Python
websockets, Node ws). Frames are built here from RFC 6455 §5.2, independent
of wsock.
"""
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "seeds")

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3: base64 of "the sample nonce"
ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
NONCE = b"the sample nonce"
MASK = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 §5.7


def frame(b0, payload=b"", mask=None, length=None):
    """A frame: first byte b0, payload masked with mask; length overrides the header's length."""
    n = len(payload) if length is None else length
    bit = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, bit | n])
    elif n < 0x10000:
        head = bytes([b0, bit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, bit | 127]) + struct.pack(">Q", n)
    if mask:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + payload


def close_body(code, reason=b""):
    return struct.pack(">H", code) + reason


def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def u16(n):
    return struct.pack("<H", n)


def short(b):
    """Reader::short_bytes / string: a length byte, then the bytes."""
    assert len(b) < 256
    return bytes([len(b)]) + b


# --------------------------------------------------------------------------
# frame_decoder: role (1 = client), config 0 (defaults), no cuts, then wire.
# Clients receive unmasked frames, servers masked ones.
# --------------------------------------------------------------------------
def frames_seeds():
    for role, mask in (("client", None), ("server", MASK)):
        r = b"\x01" if role == "client" else b"\x00"
        pre = r + b"\x00\x00"
        seeds = {
            "hello": frame(0x81, b"Hello", mask),
            "fragmented_text_with_ping": frame(0x01, b"Hel", mask)
            + frame(0x89, b"ping", mask)
            + frame(0x80, b"lo", mask),
            "fragmented_binary_three_parts": frame(0x02, b"\x00\x01", mask)
            + frame(0x00, b"", mask)
            + frame(0x80, b"\xff" * 3, mask),
            "len16_256_bytes": frame(0x82, bytes(range(256)), mask),
            "len64_truncated": frame(0x82, b"\xab" * 100, mask, length=0x10000),
            "len16_text_utf8": frame(0x81, "κόσμε é€😀".encode() * 12, mask),
            "ping_pong": frame(0x89, b"Hello", mask) + frame(0x8A, b"Hello", mask),
            "close_1000_bye": frame(0x88, close_body(1000, b"bye"), mask),
            "close_empty": frame(0x88, b"", mask),
            "close_one_byte": frame(0x88, b"\x03", mask),
            "close_1005_invalid": frame(0x88, close_body(1005), mask),
            "close_999_invalid": frame(0x88, close_body(999), mask),
            "close_4999_reason": frame(0x88, close_body(4999, "adiós".encode()), mask),
            "close_bad_utf8_reason": frame(0x88, close_body(1000, b"\xff"), mask),
            "text_invalid_utf8": frame(0x81, b"\xce\xba\xed\xa0\x80", mask),
            "text_split_code_point": frame(0x01, b"\xe2\x82", mask) + frame(0x80, b"\xac", mask),
            "reserved_opcode": frame(0x83, b"x", mask),
            "rsv1_set": frame(0xC1, b"x", mask),
            "fragmented_ping": frame(0x09, b"", mask),
            "ping_126": frame(0x89, b"\x00" * 126, mask),
            "len64_msb_set": bytes([0x82, 0xFF if mask else 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1])
            + (mask or b""),
            "continuation_without_start": frame(0x80, b"x", mask),
            "text_inside_fragmented": frame(0x01, b"a", mask) + frame(0x81, b"b", mask),
            "wrong_masking": frame(0x81, b"Hi", None if mask else MASK),
        }
        for name, wire in seeds.items():
            write("frame_decoder", f"{role}_{name}", pre + wire)
    # Small limits: config 2 with max_frame_size 4, max_message_size 6, auto-pong, RSV1 owned.
    small = b"\x00\x02\x04" + u16(6) + b"\x01\x04\x00"
    write("frame_decoder", "server_small_limits", small + frame(0x01, b"abc", MASK) + frame(0x80, b"defg", MASK))
    write("frame_decoder", "server_rsv1_owned", small + frame(0xC1, b"ab", MASK))
    # Cut into pieces: 3 cuts.
    wire = frame(0x81, b"Hello", MASK) + frame(0x89, b"", MASK) + frame(0x88, close_body(1001), MASK)
    write("frame_decoder", "server_cut_three_times", b"\x00\x00\x03" + u16(7000) + u16(30000) + u16(60000) + wire)


# --------------------------------------------------------------------------
# utf8: the bytes themselves.
# --------------------------------------------------------------------------
def utf8_seeds():
    seeds = {
        "greek_kosme": "κόσμε".encode(),
        "autobahn_6_2": "Hello-µ@ßöäüàá-UTF-8!!".encode(),
        "all_widths": "a é € 😀 \U0010ffff \uffff".encode(),
        "surrogate": b"\xed\xa0\x80",
        "overlong_slash": b"\xc0\xaf",
        "overlong_3": b"\xe0\x80\xaf",
        "above_10ffff": b"\xf4\x90\x80\x80",
        "lone_continuation": b"\x80",
        "five_byte": b"\xf8\x88\x80\x80\x80",
        "truncated_end": b"abc\xe2\x82",
        "bad_second_byte": b"\xc2\x2a\xce",
        "ff": b"\xff",
    }
    for name, data in seeds.items():
        write("utf8", name, data)


# --------------------------------------------------------------------------
# roundtrip: role, seed, cuts, close, then messages (see roundtrip() in checks.rs).
# --------------------------------------------------------------------------
def rt_message(what, payload_class=0, payload=b"", seed=0, nfrag=0, streamed=None, cuts=(), pings=()):
    """what: 0 text, 1 binary; payload_class 0 = short bytes, 14 = 16-bit size, 15 = 64-bit size."""
    out = bytes([what, payload_class, seed])
    if payload_class in (14, 15):
        out += u16(len(payload)) if isinstance(payload, bytes) else u16(payload)
    else:
        out += short(payload)
    out += bytes([nfrag])
    out += (b"\x01" + bytes(streamed)) if streamed else b"\x00"
    for c in cuts:
        out += u16(c)
    # After each fragment but the last: 0 means a ping follows (then its payload), 1 means none.
    for p in pings:
        out += (b"\x00" + short(p)) if p is not None else b"\x01"
    return out


def roundtrip_seeds():
    close = b"\x01\x00" + short(b"done")  # code 1000, reason "done"
    for role, r in (("client", b"\x01"), ("server", b"\x00")):
        head = r + u16(7) + b"\x02" + u16(20000) + u16(50000)
        write("roundtrip", f"{role}_text_and_binary", head + close
              + rt_message(0, payload="héllo wörld".encode())
              + rt_message(1, payload=bytes(range(40))))
        write("roundtrip", f"{role}_fragmented_with_pings", head + b"\x00"
              + rt_message(0, payload="κόσμε€😀".encode(), nfrag=3, cuts=(3, 9), pings=(b"p1", None)))
        write("roundtrip", f"{role}_streamed_fragments", head + b"\x00"
              + rt_message(1, payload=bytes(range(200)), nfrag=2, streamed=(16, 7), cuts=(50,), pings=(b"",)))
        write("roundtrip", f"{role}_len16_text", head + b"\x00" + rt_message(0, payload_class=14, payload=300 - 126))
        write("roundtrip", f"{role}_len64_binary_streamed", head + b"\x00"
              + rt_message(1, payload_class=15, payload=10, nfrag=0, streamed=(255, 255)))
        write("roundtrip", f"{role}_controls", head + close + b"\x02" + short(b"ping") + b"\x03" + short(b"pong"))


# --------------------------------------------------------------------------
# connection: role, config, seed, then operations (read_op in checks.rs).
# --------------------------------------------------------------------------
def op_feed_frame(sel, payload, key=MASK, cut=3):
    return b"\x02" + bytes([sel]) + key + short(payload) + u16(cut)


def op_feed_raw(data, cut=1):
    return b"\x00" + short(data) + u16(cut)


def op_text(s, out=100):
    return b"\x05" + short(s) + bytes([out // 2])


def op_binary(b, out=100):
    return b"\x06" + short(b) + bytes([out // 2])


def op_fragment(kind_text, payload, last, out=100):
    return b"\x07" + bytes([1 if kind_text else 0]) + short(payload) + bytes([1 if last else 0, out // 2])


def op_ping(p, out=100):
    return b"\x08" + short(p) + bytes([out // 2])


def op_close(code=1000, reason=b"", out=100, raw=False):
    if raw:
        return b"\x0a\x02" + u16(code) + short(reason) + bytes([out // 2])
    return b"\x0a\x01\x01\x00" + short(reason) + bytes([out // 2])  # code 1000


def op_start(kind_text, length, last, out=14):
    return b"\x0b" + bytes([1 if kind_text else 0, 1]) + u16(length) + bytes([1 if last else 0, out])


def op_payload(b, out=64):
    return b"\x0c" + short(b) + bytes([out // 2])


def op_poll(out=262):
    return b"\x0d" + bytes([out // 2])


EOF_OP = b"\x0e"


def connection_seeds():
    # sel % 10 picks the first byte: 0 0x81, 1 0x82, 2 0x01, 3 0x02, 4 0x00, 5 0x80, 6 0x88, 7 0x89, 8 0x8A.
    server = b"\x00\x00" + u16(1)
    client = b"\x01\x00" + u16(1)
    write("connection", "server_echo_and_close", server
          + op_feed_frame(0, b"Hello") + op_poll() + op_text(b"Hello")
          + op_feed_frame(7, b"are you there?") + op_poll(10) + op_poll()
          + op_feed_frame(6, close_body(1000, b"bye")) + op_poll() + op_text(b"late") + EOF_OP)
    write("connection", "client_fragments_and_close", client
          + op_fragment(True, "κό".encode(), False) + op_ping(b"p") + op_fragment(True, "σμε".encode(), True)
          + op_feed_frame(7, b"srv ping") + op_poll() + op_close(out=4) + op_close()
          + op_feed_frame(6, close_body(1000)) + op_poll() + EOF_OP)
    write("connection", "server_streamed_frame", server
          + op_start(False, 300, False, out=3) + op_start(False, 300, False) + op_text(b"no")
          + op_payload(bytes(range(200))) + op_payload(bytes(range(100)), out=200)
          + op_start(False, 0, True) + op_binary(b"after"))
    write("connection", "server_protocol_error_then_sends", server
          + op_feed_frame(0, b"\xff\xfe") + op_poll(5) + op_poll() + op_binary(b"x") + op_ping(b"y"))
    write("connection", "client_invalid_close_code", client
          + op_close(code=1005, raw=True) + op_close(code=4000, reason=b"r" * 124, raw=True)
          + op_feed_frame(6, b"\x03", cut=1) + op_poll())
    write("connection", "server_eof_mid_message", server
          + op_feed_frame(2, b"par") + op_feed_raw(b"\x80\x82" + MASK) + EOF_OP + op_poll() + op_text(b"x"))
    write("connection", "server_fail_message_too_big", server
          + op_feed_frame(0, b"x") + b"\x0f\x0a" + op_poll())


# --------------------------------------------------------------------------
# halves: role, config, seed, then operations (read_halves_op in
# checks/halves.rs): a byte below 0x80 is followed by an operation of
# `connection` (op_* above); 0x80-0x82 deliver wire bytes to the receiving
# half, 0x83 encode_header, 0x84 a valid payload piece, 0x85 a step of the
# wire or the peer (link_*).
# --------------------------------------------------------------------------
def conn(op):
    return b"\x00" + op


def deliver(n=1000, cut=0):
    return b"\x80" + u16(n) + u16(cut)


def header(what, fields, out=100):
    return b"\x83" + bytes([what]) + fields + bytes([out // 2])


def fill(length, seed=7, out=200):
    return b"\x84" + u16(length) + bytes([seed, out // 2])


def link_frame(sel, payload, key=MASK):
    return b"\x85\x01" + bytes([sel]) + key + short(payload)


def link_raw(data):
    return b"\x85\x00" + short(data)


def link_send(what, fields):
    return b"\x85\x02" + bytes([what]) + fields


LINK_POLL = b"\x85\x03"


def link_to_peer(n=2047, cut=0):
    return b"\x85\x04" + u16(n) + u16(cut)


CLOSE_1000 = b"\x01\x01\x00"  # read_close: present, code 1000, then the reason


def halves_seeds():
    server = b"\x00\x00" + u16(1)
    client = b"\x01\x00" + u16(1)
    write("halves", "server_ping_text_peer_close", server
          + link_frame(7, b"hi") + deliver(cut=3) + conn(op_poll()) + conn(op_text(b"hello"))
          + link_send(5, CLOSE_1000 + short(b"bye")) + deliver(cut=1) + conn(op_poll(4)) + conn(op_poll())
          + link_to_peer(cut=5) + conn(EOF_OP))
    write("halves", "client_ping_inside_streamed_text", client
          + conn(op_start(True, 300, True)) + link_frame(7, b"p") + deliver() + conn(op_poll())
          + fill(151) + conn(op_poll()) + fill(149) + conn(op_poll())
          + header(1, short(b"zero-copy")) + conn(op_close()) + LINK_POLL + deliver(cut=1) + conn(EOF_OP))
    write("halves", "server_header_fragments", server
          + header(2, b"\x01" + short("κό".encode()) + b"\x00") + conn(op_ping(b"between"))
          + header(2, b"\x01" + short("σμε".encode()) + b"\x01") + header(3, short(b"no")) + link_to_peer(9, 4))
    write("halves", "server_error_while_streaming", server
          + conn(op_start(False, 100, True)) + link_raw(b"\x81\x05hello") + deliver(cut=2) + conn(op_poll())
          + fill(60) + conn(op_poll()) + fill(40) + conn(op_poll()) + conn(op_text(b"late")))
    write("halves", "client_peer_closes_first", client
          + link_send(0, short(b"first")) + link_send(5, CLOSE_1000 + short(b"")) + deliver(cut=4)
          + conn(op_text(b"refused")) + conn(op_poll(4)) + conn(op_poll()) + link_to_peer() + conn(EOF_OP))


# --------------------------------------------------------------------------
# driver: role, config, seed, input buffer (1 + 2n bytes), output buffer
# (0: a growable Vec; else 4n bytes), then operations (read_driver_op in
# checks/driver.rs). io(): the transport for one operation: read and write
# sizes (indexes into Io::read's SIZES: 0 is 1 byte, 15 unlimited), and the
# step at which it blocks (0: never).
# --------------------------------------------------------------------------
def io(read=15, write=15, block=0):
    return bytes([read | write << 4, block])


def d_event(reply=0, t=io()):
    return b"\x00" + bytes([reply]) + t


def d_write(what, fields, t=io()):
    return b"\x04" + bytes([what]) + fields + t


def d_big(text, length, frag=0, seed=3, t=io()):
    return b"\x06" + bytes([1 if text else 0]) + u16(length) + bytes([seed, frag]) + t


def d_flush(t=io()):
    return b"\x07" + t


def d_stream(text, length, seed=5):
    return b"\x08" + bytes([1 if text else 0]) + u16(length) + bytes([seed])


def d_stream_more(n):
    return b"\x09" + u16(n)


def d_link(what, fields=b""):
    return b"\x0a" + bytes([what]) + fields


D_PEER_ENDS = b"\x0e"


def driver_seeds():
    def pre(client, input_n, output_n):
        return bytes([1 if client else 0, 0]) + u16(1) + bytes([input_n, output_n])

    write("driver", "server_echo_ping_close_vec", pre(False, 31, 0)
          + d_link(2, b"\x00" + short(b"hello")) + d_event(1) + d_link(2, b"\x03" + short(b"?"))
          + d_event(0, io(0, 0)) + d_flush(io(write=2)) + d_link(4, u16(2047) + u16(3))
          + d_link(2, b"\x05" + CLOSE_1000 + short(b"done")) + d_event() + d_event())
    write("driver", "client_fragments_dropped_and_resumed", pre(True, 8, 16)
          + d_big(False, 1000, t=io(write=0, block=3)) + d_link(2, b"\x03" + short(b"ping"))
          + d_event(3) + d_big(False, 1000) + d_flush() + d_link(3) + d_event())
    write("driver", "server_stream_peer_close_inside", pre(False, 2, 40)
          + d_stream(False, 500) + d_stream_more(100) + d_link(2, b"\x05" + CLOSE_1000 + short(b""))
          + d_event() + (d_flush() + d_stream_more(1000)) * 4 + d_event())
    write("driver", "client_text_short_io_then_close", pre(True, 0, 100)
          + d_big(True, 700, frag=2, t=io(1, 1, 0)) + d_write(5, CLOSE_1000 + short(b"bye"), io(0, 4))
          + d_link(3) + D_PEER_ENDS + d_event(0, io(0, 0)))


# --------------------------------------------------------------------------
# handshake_server: 14 bytes (flags, choice, status, out size, 4 cuts), then the request.
# choice: bit 7 echoes the first extension, bit 6 adds X-Path, low bits pick a subprotocol.
# --------------------------------------------------------------------------
def hs_server_prefix(choice=0xC1, status=403, out=160):
    return b"\x00" + bytes([choice]) + u16(status) + u16(out) + u16(10000) + u16(30000) + u16(45000) + u16(64000)


def crlf(*lines, body=b""):
    return "".join(line + "\r\n" for line in lines).encode() + b"\r\n" + body


REQUESTS = {
    # RFC 6455 §1.2.
    "rfc6455_sample": crlf(
        "GET /chat HTTP/1.1", "Host: server.example.com", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat", "Sec-WebSocket-Version: 13"),
    # A Chromium-style request: Origin, cache headers, permessage-deflate offer.
    "chrome": crlf(
        "GET /socket?room=1 HTTP/1.1", "Host: example.com", "Connection: Upgrade", "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "Upgrade: websocket", "Origin: https://example.com", "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br", "Accept-Language: en-US,en;q=0.9",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"),
    # A Firefox-style request: "keep-alive, Upgrade", Sec-Fetch-* headers.
    "firefox": crlf(
        "GET /ws HTTP/1.1", "Host: localhost:8080",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Accept: */*", "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate, br",
        "Sec-WebSocket-Version: 13", "Origin: http://localhost:8080",
        "Sec-WebSocket-Extensions: permessage-deflate", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Connection: keep-alive, Upgrade", "Sec-Fetch-Dest: empty", "Sec-Fetch-Mode: websocket",
        "Sec-Fetch-Site: same-origin", "Pragma: no-cache", "Cache-Control: no-cache", "Upgrade: websocket"),
    # curl --http1.1 with the upgrade headers given by hand (-H ...), as its docs and many tutorials show.
    "curl_http11": crlf(
        "GET / HTTP/1.1", "Host: localhost:9001", "User-Agent: curl/8.5.0", "Accept: */*",
        "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
    # The same with the key from many curl tutorials: base64 of "Hello, world!" (13 bytes: invalid).
    "curl_tutorial_key_13_bytes": crlf(
        "GET / HTTP/1.1", "Host: localhost:9001", "User-Agent: curl/8.5.0", "Accept: */*",
        "Connection: Upgrade", "Upgrade: websocket", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: SGVsbG8sIHdvcmxkIQ=="),
    # Python websockets (client): extension offer and User-Agent.
    "python_websockets": crlf(
        "GET / HTTP/1.1", "Host: localhost:8765", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "User-Agent: Python/3.12 websockets/13.1"),
    # Node ws (client): header order as ws writes them, Host last; a first frame right behind.
    "node_ws_with_frame": crlf(
        "GET / HTTP/1.1", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Connection: Upgrade", "Upgrade: websocket",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits", "Host: localhost:8080",
        body=frame(0x81, b"Hello", MASK)),
    "post_method": crlf("POST /chat HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
    "http10": crlf("GET / HTTP/1.0", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
    "version_8": crlf("GET / HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 8"),
    "no_key": crlf("GET / HTTP/1.1", "Host: h", "Upgrade: websocket", "Connection: Upgrade",
                   "Sec-WebSocket-Version: 13"),
    "h2c_upgrade": crlf("GET / HTTP/1.1", "Host: h", "Connection: Upgrade, HTTP2-Settings", "Upgrade: h2c",
                        "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA"),
}


def handshake_server_seeds():
    for name, req in REQUESTS.items():
        write("handshake_server", name, hs_server_prefix() + req)
    write("handshake_server", "rfc6455_sample_tiny_limits", b"\x0a\x02" + hs_server_prefix()[2:]
          + REQUESTS["rfc6455_sample"])


# --------------------------------------------------------------------------
# handshake_client: flags, out size, nonce, 4 cuts, request fields, then the response.
# --------------------------------------------------------------------------
def hs_client(url, response, origin=None, subprotocols=(), extensions=(), headers=(), out=120):
    out_b = b"\x00" + u16(out) + NONCE + u16(8000) + u16(20000) + u16(40000) + u16(60000)
    out_b += short(url.encode())
    out_b += (b"\x01" + short(origin.encode())) if origin else b"\x00"
    out_b += bytes([len(subprotocols)]) + b"".join(short(p.encode()) for p in subprotocols)
    out_b += bytes([len(extensions)]) + b"".join(short(e.encode()) for e in extensions)
    out_b += bytes([len(headers)]) + b"".join(short(n.encode()) + short(v.encode()) for n, v in headers)
    return out_b + response


A = "Sec-WebSocket-Accept: " + ACCEPT.decode()
DEFLATE = "permessage-deflate; client_max_window_bits"


def handshake_client_seeds():
    seeds = {
        # RFC 6455 §1.3's response, choosing "chat".
        "rfc6455_sample": hs_client(
            "ws://server.example.com/chat", crlf(
                "HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade", A,
                "Sec-WebSocket-Protocol: chat"),
            origin="http://example.com", subprotocols=("chat", "superchat")),
        # Python websockets (server): Date, Server, negotiated permessage-deflate parameters.
        "python_websockets": hs_client(
            "ws://localhost:8765/", crlf(
                "HTTP/1.1 101 Switching Protocols", "Date: Mon, 01 Jan 2024 00:00:00 GMT",
                "Upgrade: websocket", "Connection: Upgrade", A,
                "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits=12",
                "Server: Python/3.12 websockets/13.1"),
            extensions=(DEFLATE,), headers=(("User-Agent", "Python/3.12 websockets/13.1"),)),
        # Node ws (server), with the first frame right behind the header block.
        "node_ws_with_frame": hs_client(
            "ws://localhost:8080", crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                                        "Connection: Upgrade", A, body=frame(0x81, b"Hello"))),
        "wss_ipv6_query": hs_client(
            "wss://[::1]:8443/a/b?c=d#frag", crlf("HTTP/1.1 101 Switching Protocols", "upgrade: WebSocket",
                                                  "connection: keep-alive, upgrade", A)),
        "rejected_403": hs_client("ws://h/", crlf("HTTP/1.1 403 Forbidden", "Content-Length: 0")),
        "rejected_426": hs_client("ws://h/", crlf("HTTP/1.1 426 Upgrade Required", "Sec-WebSocket-Version: 13",
                                                  "Connection: close", "Content-Length: 0")),
        "wrong_accept": hs_client("ws://h/", crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                                                  "Connection: Upgrade",
                                                  "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
        "unoffered_subprotocol": hs_client("ws://h/", crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                                                           "Connection: Upgrade", A, "Sec-WebSocket-Protocol: chat")),
        "unoffered_extension": hs_client("ws://h/", crlf("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                                                         "Connection: Upgrade", A,
                                                         "Sec-WebSocket-Extensions: x-webkit-deflate-frame")),
        "header_injection_refused": hs_client(
            "ws://h/", b"", headers=(("X-Evil", "a\r\nInjected: yes"),)),
    }
    for name, data in seeds.items():
        write("handshake_client", name, data)


# --------------------------------------------------------------------------
# deflate_negotiation: flags (1 enabled, 2 compress, 4/8 config server/client
# no_context_takeover, 16/32 our offer's), config server and client window
# bits, our offer's server bits (% 9: 0 none, else 7 + n) and client bits
# (% 10: 0 absent, 1 valueless, else 6 + n), response buffer length, then
# Sec-WebSocket-Extensions values separated by newlines. Offers from RFC 7692
# §5-§7, Chromium, Firefox, Python websockets and Autobahn 13.x.
# --------------------------------------------------------------------------
def deflate_negotiation_seeds():
    def seed(flags, sbits, cbits, offer_s, offer_c, out_len, *values):
        return bytes([flags, sbits, cbits, offer_s, offer_c, out_len]) + b"\n".join(values)

    seeds = {
        "chromium_offer": seed(3, 15, 15, 0, 1, 255, b"permessage-deflate; client_max_window_bits"),
        "firefox_offer_embedded_declines": seed(9, 15, 9, 0, 1, 255, b"permessage-deflate"),
        "autobahn_13_3_window_8": seed(3, 15, 15, 0, 1, 255,
                                       b"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
                                       b"server_max_window_bits=8"),
        "autobahn_13_7_three_offers": seed(3, 15, 9, 0, 1, 255,
                                           b"permessage-deflate; server_no_context_takeover; "
                                           b"server_max_window_bits=8, permessage-deflate; "
                                           b"server_no_context_takeover, permessage-deflate"),
        "quoted_values_two_lines": seed(3, 12, 10, 0, 1, 255, b"x-webkit-deflate-frame; a=\"b,c\"",
                                        b"permessage-deflate; client_max_window_bits=\"10\"; "
                                        b"server_max_window_bits=\"1\\2\""),
        "invalid_then_valid": seed(3, 15, 15, 0, 1, 255,
                                   b"permessage-deflate; server_max_window_bits=08, "
                                   b"permessage-deflate; foo, permessage-deflate; "
                                   b"server_no_context_takeover; server_no_context_takeover, "
                                   b"permessage-deflate; server_no_context_takeover"),
        "python_websockets_response": seed(3, 15, 15, 0, 1, 20,
                                           b"permessage-deflate; server_max_window_bits=12; "
                                           b"client_max_window_bits=12"),
        "response_twice_selected": seed(17, 15, 15, 4, 9, 255, b"permessage-deflate", b"PERMESSAGE-DEFLATE"),
    }
    for name, data in seeds.items():
        write("deflate_negotiation", name, data)


# --------------------------------------------------------------------------
# inflate: flags (1 no_context_takeover, 2 flip a byte, 4 raw wire), role
# (1 client), max class (% 4: 0 -> 1 MiB, else a u16 % 8192 follows), window
# (8 + n % 8 bits), cut count and u16 cuts, [flip: u16 position, u8 bits],
# then raw wire bytes, or: u16 mask seed, level, memLevel, sender window,
# [sender no_context_takeover], messages (kind, payload as in roundtrip,
# fragment count - 1 and u16 cuts). Raw frames from RFC 7692 §7.2.3.
# --------------------------------------------------------------------------
def inflate_seeds():
    import zlib

    def raw_deflate(data, wbits=15):
        c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
        out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]

    def final_deflate(data):
        c = zlib.compressobj(6, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush(zlib.Z_FINISH)  # the last block has BFINAL (§7.2.3.4)

    def head(flags, client, max_len, window, cuts=(), flip=None):
        out = bytes([flags, 1 if client else 0])
        out += bytes([1]) + u16(max_len) if max_len is not None else bytes([0])
        out += bytes([window - 8, len(cuts)]) + b"".join(u16(c) for c in cuts)
        if flip is not None:
            out += u16(flip[0]) + bytes([flip[1]])
        return out

    def raw(client, wire_frames, max_len=None, window=15, flags=0, cuts=(), flip=None):
        return head(flags | 4 | (2 if flip else 0), client, max_len, window, cuts, flip) + wire_frames

    def msg(text, payload, nfrag_cuts=()):
        kind = b"\x01" if text else b"\x00"
        body = bytes([0, 0]) + short(payload)
        return kind + body + bytes([len(nfrag_cuts)]) + b"".join(u16(c) for c in nfrag_cuts)

    def ours(client, msgs, max_len=None, window=15, flags=0, level=1, mem=7, sender=7, cuts=()):
        return (head(flags, client, max_len, window, cuts) + u16(7) + bytes([level, mem, sender])
                + (b"" if flags & 1 else b"\x00") + b"".join(msgs))

    hello = b"\xf2\x48\xcd\xc9\xc9\x07\x00"  # RFC 7692 §7.2.3.1
    bomb = raw_deflate(bytes(1 << 20))
    seeds = {
        "rfc7692_hello_client": raw(True, frame(0xC1, hello)),
        "rfc7692_hello_server_masked": raw(False, frame(0xC1, hello, MASK), cuts=(9000, 30000)),
        "rfc7692_hello_fragmented": raw(True, frame(0x41, hello[:3]) + frame(0x80, hello[3:])),
        "rfc7692_hello_twice_shared_window": raw(True, frame(0xC1, hello) + frame(0xC1, b"\xf2\x00\x11\x00\x00")),
        "rfc7692_stored_block": raw(True, frame(0xC1, b"\x00\x05\x00\xfa\xffHello\x00")),
        "rfc7692_empty_message": raw(True, frame(0xC1, b"\x00")),
        "bfinal_block_ends_message": raw(True, frame(0xC1, final_deflate(b"Hello")) + frame(0xC1, hello)),
        "bomb_1mib_zeros_limit_4096": raw(False, frame(0xC2, bomb, MASK), max_len=4096, window=9),
        "invalid_utf8_inflated": raw(True, frame(0xC1, raw_deflate(b"ok \xf4\x90 no"))),
        "uncompressed_between": raw(True, frame(0xC1, hello) + frame(0x81, b"plain") + frame(0xC1, hello)),
        "flipped_byte": raw(True, frame(0xC1, raw_deflate(b"Hello, Hello, Hello")), flip=(5, 0x40)),
        "ours_text_fragments_window_9": ours(False, [msg(True, b"{\"price\": 101.5, \"price\": 101.5}", (5, 17)),
                                                     msg(False, bytes(range(200)))], window=9, sender=1, cuts=(100, 40000)),
        "ours_no_context_takeover": ours(True, [msg(True, b"abcabcabc" * 20), msg(True, b"abcabcabc" * 20)], flags=1),
        "ours_over_limit": ours(True, [msg(True, b"small"), msg(False, bytes(250))], max_len=100),
    }
    for name, data in seeds.items():
        write("inflate", name, data)


if __name__ == "__main__":
    shutil.rmtree(OUT, ignore_errors=True)
    frames_seeds()
    utf8_seeds()
    roundtrip_seeds()
    connection_seeds()
    halves_seeds()
    driver_seeds()
    handshake_server_seeds()
    handshake_client_seeds()
    deflate_negotiation_seeds()
    inflate_seeds()
    for t in sorted(os.listdir(OUT)):
        files = os.listdir(os.path.join(OUT, t))
        size = sum(os.path.getsize(os.path.join(OUT, t, f)) for f in files)
        print(f"{t}: {len(files)} seeds, {size} bytes")
