//! gpt-oss harmony output: a sequence of messages, each a header up to `<|message|>` and a
//! body up to `<|end|>`, `<|call|>` or `<|return|>`. The generation prompt ends with
//! `<|start|>assistant`, so the first header usually starts at `<|channel|>`.
//!
//! - `<|channel|>analysis` bodies are reasoning;
//! - a header with a recipient `to=functions.NAME` (before or after the channel) is a tool call
//!   whose body is the JSON arguments (`<|constrain|>json` is optional);
//! - every other body (`final`, `commentary` preambles, text with no header) is content.

use serde_json::Value;

use super::markers::MAX_CALL_BYTES;
use super::Event;

const START: &str = "<|start|>";
const CHANNEL: &str = "<|channel|>";
const MESSAGE: &str = "<|message|>";
const END: &str = "<|end|>";
const CALL: &str = "<|call|>";
const RETURN: &str = "<|return|>";
/// A header longer than this is not a header: its text is content.
const MAX_HEADER_BYTES: usize = 512;

/// Tokens that end a body; `<|start|>` and `<|channel|>` also end one that lacked an end token.
const ENDS: [&str; 3] = [END, CALL, RETURN];
/// Length of the longest of [`ENDS`] and [`OPENS`] (`<|channel|>`).
const LONGEST_TOKEN: usize = 11;
const OPENS: [&str; 2] = [START, CHANNEL];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Body {
    Reasoning,
    Content,
    Call(String),
}

enum State {
    Header,
    /// A body, and whether nothing of it has been emitted yet.
    Body(Body, bool),
}

pub(crate) struct HarmonyParser {
    buf: String,
    state: State,
    /// No token starts in `buf[..searched]`: a long call body is searched once, not on every
    /// delta.
    searched: usize,
}

impl HarmonyParser {
    pub(crate) fn new() -> Self {
        HarmonyParser {
            buf: String::new(),
            state: State::Header,
            searched: 0,
        }
    }

    pub(crate) fn feed(&mut self, text: &str, out: &mut Vec<Event>) {
        self.buf.push_str(text);
        self.run(false, out);
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<Event>) {
        self.run(true, out);
    }

    fn run(&mut self, fin: bool, out: &mut Vec<Event>) {
        loop {
            let progressed = match &self.state {
                State::Header => self.header(fin),
                State::Body(..) => self.body(fin, out),
            };
            if !progressed {
                return;
            }
        }
    }

    /// Returns whether the state changed (so the loop goes on).
    fn header(&mut self, fin: bool) -> bool {
        let trimmed = self.buf.trim_start();
        let looks_like_header = OPENS.iter().any(|o| trimmed.starts_with(o))
            || (!fin && OPENS.iter().any(|o| o.starts_with(trimmed)));
        if self.buf.is_empty() {
            return false;
        }
        if !looks_like_header {
            // Text with no header (a model that skipped the channel): content up to the next
            // header.
            self.state = State::Body(Body::Content, true);
            return true;
        }
        if let Some(pos) = self.buf.find(MESSAGE) {
            let kind = parse_header(&self.buf[..pos]);
            self.buf.drain(..pos + MESSAGE.len());
            self.state = State::Body(kind, true);
            return true;
        }
        if fin || self.buf.len() > MAX_HEADER_BYTES {
            self.state = State::Body(Body::Content, true);
            return true;
        }
        false
    }

    fn body(&mut self, fin: bool, out: &mut Vec<Event>) -> bool {
        let State::Body(kind, fresh) = &self.state else {
            return false;
        };
        let (kind, fresh) = (kind.clone(), *fresh);
        let from = self.searched;
        let end = ENDS
            .iter()
            .filter_map(|e| self.buf[from..].find(e).map(|p| (from + p, e.len())))
            // An opening token inside a body also ends it (the end token was left out), but not
            // at the first byte of a body (a header too long or cut off is content).
            .chain(OPENS.iter().filter_map(|o| {
                self.buf[from..]
                    .match_indices(o)
                    .map(|(p, _)| from + p)
                    .find(|&p| p > 0 || !fresh)
                    .map(|p| (p, 0))
            }))
            .min();
        match kind {
            Body::Call(name) => {
                let (body_end, consumed) = match end {
                    Some((p, n)) => (p, p + n),
                    None if fin || self.buf.len() > MAX_CALL_BYTES => {
                        (self.buf.len(), self.buf.len())
                    }
                    None => {
                        let mut s = self.buf.len().saturating_sub(LONGEST_TOKEN - 1);
                        while !self.buf.is_char_boundary(s) {
                            s -= 1;
                        }
                        self.searched = s;
                        return false;
                    }
                };
                self.searched = 0;
                let body = &self.buf[..body_end];
                let args = match serde_json::from_str::<Value>(body.trim()) {
                    Ok(v @ Value::Object(_)) if body_end <= MAX_CALL_BYTES => {
                        serde_json::to_string(&v).ok()
                    }
                    _ => None,
                };
                match args {
                    Some(arguments) => out.push(Event::Call { name, arguments }),
                    None => out.push(Event::Content(body.to_owned())),
                }
                self.buf.drain(..consumed);
                self.state = State::Header;
                true
            }
            Body::Reasoning | Body::Content => {
                let wrap = |t: String| match kind {
                    Body::Reasoning => Event::Reasoning(t),
                    _ => Event::Content(t),
                };
                if let Some((p, n)) = end {
                    out.push(wrap(self.buf[..p].to_owned()));
                    self.buf.drain(..p + n);
                    self.state = State::Header;
                    return true;
                }
                let keep = if fin { 0 } else { held_suffix(&self.buf) };
                let emit = self.buf.len() - keep;
                if emit > 0 {
                    out.push(wrap(self.buf[..emit].to_owned()));
                    self.buf.drain(..emit);
                    self.state = State::Body(kind, false);
                }
                if fin {
                    self.state = State::Header;
                }
                false
            }
        }
    }
}

/// Length of the longest suffix of `buf` that may still become a token that ends a body.
fn held_suffix(buf: &str) -> usize {
    let mut best = 0;
    for (p, _) in buf.match_indices('<') {
        let rest = &buf[p..];
        if ENDS.iter().chain(OPENS.iter()).any(|t| t.starts_with(rest)) {
            best = buf.len() - p;
            break;
        }
    }
    best
}

fn parse_header(header: &str) -> Body {
    let word_after = |key: &str| {
        header.find(key).map(|p| {
            let rest = &header[p + key.len()..];
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '<')
                .unwrap_or(rest.len());
            rest[..end].to_owned()
        })
    };
    let channel = word_after(CHANNEL);
    match word_after("to=") {
        Some(to) if !to.is_empty() => {
            Body::Call(to.strip_prefix("functions.").unwrap_or(&to).to_owned())
        }
        _ if channel.as_deref() == Some("analysis") => Body::Reasoning,
        _ => Body::Content,
    }
}
