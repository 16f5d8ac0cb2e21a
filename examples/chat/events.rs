//! What the chat server tells the pages: one JSON object per text message,
//! `{"type": ..., ...}`, built here and nowhere else. The pages send plain
//! text (their name first, then chat lines) and binary files; the server
//! never parses JSON.

use std::fmt::Write;

/// The first message a page gets after joining: its name and who is online.
pub fn welcome(name: &str, online: &[&str], limits: Limits) -> String {
    let mut json = String::from(r#"{"type":"welcome","name":"#);
    string(&mut json, name);
    json.push_str(r#","online":["#);
    for (i, other) in online.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        string(&mut json, other);
    }
    let _ = write!(
        json,
        r#"],"maxMessage":{},"maxFile":{},"ratePerSecond":{}}}"#,
        limits.max_message, limits.max_file, limits.rate_per_second
    );
    json
}

/// Someone joined.
pub fn joined(name: &str) -> String {
    with_name("join", name, None)
}

/// Someone left; `why` says how when the server dropped them.
pub fn left(name: &str, why: Option<&str>) -> String {
    with_name("leave", name, why)
}

/// A chat line from `from`.
pub fn text(from: &str, text: &str) -> String {
    let mut json = String::from(r#"{"type":"text","from":"#);
    string(&mut json, from);
    json.push_str(r#","text":"#);
    string(&mut json, text);
    json.push('}');
    json
}

/// Announces the binary message that follows it, `size` bytes from `from`.
pub fn file(from: &str, size: usize) -> String {
    let mut json = String::from(r#"{"type":"file","from":"#);
    string(&mut json, from);
    let _ = write!(json, r#","size":{size}}}"#);
    json
}

/// The limits a page is told about (and the server enforces).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The largest message, in bytes.
    pub max_message: usize,
    /// The largest file a page may send (the rest of a message is its header).
    pub max_file: usize,
    /// Messages per second, on average, per client.
    pub rate_per_second: u32,
}

fn with_name(kind: &str, name: &str, why: Option<&str>) -> String {
    let mut json = format!(r#"{{"type":"{kind}","name":"#);
    string(&mut json, name);
    if let Some(why) = why {
        json.push_str(r#","why":"#);
        string(&mut json, why);
    }
    json.push('}');
    json
}

/// Appends `s` as a JSON string literal (RFC 8259 §7).
fn string(json: &mut String, s: &str) {
    json.push('"');
    for c in s.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(json, "\\u{:04x}", c as u32);
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(
            text("a\"b", "line\none\\ \u{1} é <b>"),
            r#"{"type":"text","from":"a\"b","text":"line\none\\ \u0001 é <b>"}"#
        );
    }

    #[test]
    fn welcome_lists_who_is_online() {
        let limits = Limits {
            max_message: 10,
            max_file: 8,
            rate_per_second: 3,
        };
        assert_eq!(
            welcome("me", &["a", "b"], limits),
            r#"{"type":"welcome","name":"me","online":["a","b"],"maxMessage":10,"maxFile":8,"ratePerSecond":3}"#
        );
        assert_eq!(
            left("a", Some("too slow")),
            r#"{"type":"leave","name":"a","why":"too slow"}"#
        );
    }
}
