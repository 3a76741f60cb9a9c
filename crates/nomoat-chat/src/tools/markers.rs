//! The streaming parser for the marker-based formats (Hermes, Llama 3, Mistral, generic JSON).
//!
//! Content is scanned left to right; a marker starts a call only outside Markdown code fences,
//! and (for the bare-JSON formats) a `{` starts one only when everything before it is
//! whitespace. Every decision is taken on text that is already there and would be the same with
//! more text after it, which is why any split of the output into deltas gives the same result.

use serde_json::Value;

use super::json_scan::{JsonScanner, Scan};
use super::{call_from_object, Event, ToolFormat};

/// A call (marker to end) longer than this is not a call: its text is content.
pub(crate) const MAX_CALL_BYTES: usize = 1 << 20;
/// Longest function name read in Mistral's `[TOOL_CALLS]name[ARGS]` form.
const MAX_NAME_BYTES: usize = 256;

const FENCE: &str = "```";
const HERMES_OPEN: &str = "<tool_call>";
const HERMES_CLOSE: &str = "</tool_call>";
const PYTHON_TAG: &str = "<|python_tag|>";
const TOOL_CALLS: &str = "[TOOL_CALLS]";
const ARGS: &str = "[ARGS]";
const CALL_ID: &str = "[CALL_ID]";

enum Mode {
    Content,
    /// `buf` starts with a call's marker, `marker_len` bytes long (0: a bare `{`).
    Call {
        marker_len: usize,
        scanner: Option<JsonScanner>,
    },
}

enum CallResult {
    NeedMore,
    NotACall,
    Calls {
        calls: Vec<(String, String)>,
        consumed: usize,
        chain: bool,
    },
    /// Generic format's `{"response": "…"}`: the text is content.
    Text {
        text: String,
        consumed: usize,
    },
}

pub(crate) struct MarkerParser {
    format: ToolFormat,
    buf: String,
    mode: Mode,
    in_fence: bool,
    /// All content so far is whitespace: a bare `{` may start a call.
    blank: bool,
    /// The last Llama 3 call ended with `;`: a `{` after whitespace starts another.
    chain: bool,
}

impl MarkerParser {
    pub(crate) fn new(format: ToolFormat) -> Self {
        MarkerParser {
            format,
            buf: String::new(),
            mode: Mode::Content,
            in_fence: false,
            blank: true,
            chain: false,
        }
    }

    pub(crate) fn feed(&mut self, text: &str, out: &mut Vec<Event>) {
        self.buf.push_str(text);
        self.run(false, out);
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<Event>) {
        self.run(true, out);
    }

    fn markers(&self) -> &'static [&'static str] {
        match self.format {
            ToolFormat::Hermes => &[HERMES_OPEN],
            ToolFormat::Llama3 => &[PYTHON_TAG],
            ToolFormat::Mistral | ToolFormat::MistralArgs => &[TOOL_CALLS],
            ToolFormat::Generic | ToolFormat::Harmony => &[],
        }
    }

    fn bare_json(&self) -> bool {
        matches!(self.format, ToolFormat::Llama3 | ToolFormat::Generic)
    }

    fn run(&mut self, fin: bool, out: &mut Vec<Event>) {
        loop {
            match self.mode {
                Mode::Content => {
                    if self.chain {
                        // The whitespace of a `; ` between chained calls is no content.
                        let n = self.buf.len() - self.buf.trim_start().len();
                        self.buf.drain(..n);
                    }
                    if !self.scan_content(fin, out) {
                        return;
                    }
                }
                Mode::Call { marker_len, .. } => match self.parse_call(fin) {
                    CallResult::NeedMore if !fin => return,
                    CallResult::NeedMore | CallResult::NotACall => {
                        // The marker is plain text; scanning resumes right after it.
                        let n = if marker_len == 0 { 1 } else { marker_len };
                        let text: String = self.buf.drain(..n).collect();
                        self.blank = false;
                        self.chain = false;
                        out.push(Event::Content(text));
                        self.mode = Mode::Content;
                    }
                    CallResult::Calls {
                        calls,
                        consumed,
                        chain,
                    } => {
                        self.buf.drain(..consumed);
                        for (name, arguments) in calls {
                            out.push(Event::Call { name, arguments });
                        }
                        self.chain = chain;
                        self.mode = Mode::Content;
                    }
                    CallResult::Text { text, consumed } => {
                        self.buf.drain(..consumed);
                        self.blank = false;
                        out.push(Event::Content(text));
                        self.mode = Mode::Content;
                    }
                },
            }
        }
    }

    /// Emits content up to the next call marker (switching to call mode: returns true) or up
    /// to what must be held back (returns false).
    fn scan_content(&mut self, fin: bool, out: &mut Vec<Event>) -> bool {
        let markers = self.markers();
        let buf = self.buf.as_str();
        let mut i = 0;
        let mut found: Option<usize> = None;
        let mut hold = false;
        while i < buf.len() {
            let rest = &buf[i..];
            if rest.starts_with(FENCE) {
                self.in_fence = !self.in_fence;
                self.blank = false;
                self.chain = false;
                i += FENCE.len();
                continue;
            }
            if !fin && FENCE.starts_with(rest) {
                hold = true;
                break;
            }
            if !self.in_fence {
                if let Some(m) = markers.iter().find(|m| rest.starts_with(**m)) {
                    found = Some(m.len());
                    break;
                }
                if rest.starts_with('{') && self.bare_json() && (self.blank || self.chain) {
                    found = Some(0);
                    break;
                }
                if !fin && markers.iter().any(|m| m.starts_with(rest)) {
                    hold = true;
                    break;
                }
            }
            let c = rest.chars().next().unwrap_or(' ');
            if !c.is_whitespace() {
                self.blank = false;
                self.chain = false;
            }
            i += c.len_utf8();
        }
        if i > 0 {
            out.push(Event::Content(self.buf[..i].to_owned()));
            self.buf.drain(..i);
        }
        match found {
            Some(marker_len) => {
                self.mode = Mode::Call {
                    marker_len,
                    scanner: None,
                };
                true
            }
            None => {
                debug_assert!(hold || self.buf.is_empty());
                false
            }
        }
    }

    /// Scans the JSON value starting at `at` (reusing the scanner of an earlier call).
    fn scan_json(&mut self, at: usize) -> Scan {
        let Mode::Call { scanner, .. } = &mut self.mode else {
            return Scan::Invalid;
        };
        let s = match scanner {
            Some(s) if s.start() == at => s,
            _ => scanner.insert(JsonScanner::new(at)),
        };
        s.scan(&self.buf)
    }

    fn parse_call(&mut self, fin: bool) -> CallResult {
        if self.buf.len() > MAX_CALL_BYTES {
            return CallResult::NotACall;
        }
        let Mode::Call { marker_len, .. } = self.mode else {
            return CallResult::NotACall;
        };
        match self.format {
            ToolFormat::Hermes => self.parse_hermes(marker_len, fin),
            ToolFormat::Llama3 => self.parse_llama(marker_len, fin),
            ToolFormat::Mistral | ToolFormat::MistralArgs => self.parse_mistral(marker_len, fin),
            ToolFormat::Generic => self.parse_generic(fin),
            ToolFormat::Harmony => CallResult::NotACall,
        }
    }

    /// The JSON value at the first non-space byte from `from`: its parsed value and end, or
    /// the reason there is none (yet).
    fn json_at(&mut self, from: usize, fin: bool) -> Result<(Value, usize), CallResult> {
        let j = skip_ws(&self.buf, from);
        match self.buf.as_bytes().get(j) {
            None => return Err(need_more(fin)),
            Some(b'{') | Some(b'[') => {}
            Some(_) => return Err(CallResult::NotACall),
        }
        match self.scan_json(j) {
            Scan::Incomplete => Err(need_more(fin)),
            Scan::Invalid => Err(CallResult::NotACall),
            Scan::Complete(end) => match serde_json::from_str::<Value>(&self.buf[j..end]) {
                Ok(v) => Ok((v, end)),
                Err(_) => Err(CallResult::NotACall),
            },
        }
    }

    fn parse_hermes(&mut self, marker_len: usize, fin: bool) -> CallResult {
        let (v, end) = match self.json_at(marker_len, fin) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let Some(call) = call_from_object(&v, &["arguments", "parameters"]) else {
            return CallResult::NotACall;
        };
        let k = skip_ws(&self.buf, end);
        let rest = &self.buf[k..];
        let consumed = if rest.starts_with(HERMES_CLOSE) {
            k + HERMES_CLOSE.len()
        } else if rest.starts_with(HERMES_OPEN) {
            // A missing close tag before the next call: the model's intent is clear.
            k
        } else if HERMES_CLOSE.starts_with(rest) || HERMES_OPEN.starts_with(rest) {
            if !fin {
                return CallResult::NeedMore;
            }
            // The reply ended before (or inside) the close tag.
            self.buf.len()
        } else {
            return CallResult::NotACall;
        };
        CallResult::Calls {
            calls: vec![call],
            consumed,
            chain: false,
        }
    }

    fn parse_llama(&mut self, marker_len: usize, fin: bool) -> CallResult {
        let (v, end) = match self.json_at(marker_len, fin) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let target = match (v.get("type").and_then(Value::as_str), v.get("function")) {
            (Some("function"), Some(f)) if f.is_object() => f,
            _ => &v,
        };
        let Some(call) = call_from_object(target, &["parameters", "arguments"]) else {
            return CallResult::NotACall;
        };
        let k = skip_ws(&self.buf, end);
        match self.buf.as_bytes().get(k) {
            None if !fin => CallResult::NeedMore,
            Some(b';') => CallResult::Calls {
                calls: vec![call],
                consumed: k + 1,
                chain: true,
            },
            _ => CallResult::Calls {
                calls: vec![call],
                consumed: k,
                chain: false,
            },
        }
    }

    fn parse_mistral(&mut self, marker_len: usize, fin: bool) -> CallResult {
        let j = skip_ws(&self.buf, marker_len);
        match self.buf.as_bytes().get(j) {
            None => need_more(fin),
            Some(b'[') => {
                let (v, end) = match self.json_at(j, fin) {
                    Ok(x) => x,
                    Err(r) => return r,
                };
                let Some(items) = v.as_array().filter(|a| !a.is_empty()) else {
                    return CallResult::NotACall;
                };
                let calls: Option<Vec<_>> = items
                    .iter()
                    .map(|c| call_from_object(c, &["arguments", "parameters"]))
                    .collect();
                match calls {
                    Some(calls) => CallResult::Calls {
                        calls,
                        consumed: end,
                        chain: false,
                    },
                    None => CallResult::NotACall,
                }
            }
            Some(_) => self.parse_mistral_args(j, fin),
        }
    }

    /// `name[ARGS]{…}` or `name[CALL_ID]id[ARGS]{…}`, `at` being the name's first byte.
    fn parse_mistral_args(&mut self, at: usize, fin: bool) -> CallResult {
        let name_len = self.buf[at..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            .count();
        if name_len == 0 || name_len > MAX_NAME_BYTES {
            return CallResult::NotACall;
        }
        let name = self.buf[at..at + name_len].to_owned();
        let mut k = at + name_len;
        let rest = &self.buf[k..];
        if rest.starts_with(CALL_ID) {
            k += CALL_ID.len();
            let id_len = self.buf[k..]
                .bytes()
                .take_while(u8::is_ascii_alphanumeric)
                .count();
            if id_len > 64 {
                return CallResult::NotACall;
            }
            k += id_len;
        } else if rest.is_empty() || CALL_ID.starts_with(rest) && !ARGS.starts_with(rest) {
            return need_more(fin);
        }
        let rest = &self.buf[k..];
        if !rest.starts_with(ARGS) {
            return if ARGS.starts_with(rest) {
                need_more(fin)
            } else {
                CallResult::NotACall
            };
        }
        let (v, end) = match self.json_at(k + ARGS.len(), fin) {
            Ok(x) => x,
            Err(r) => return r,
        };
        if !v.is_object() {
            return CallResult::NotACall;
        }
        match serde_json::to_string(&v) {
            Ok(arguments) => CallResult::Calls {
                calls: vec![(name, arguments)],
                consumed: end,
                chain: false,
            },
            Err(_) => CallResult::NotACall,
        }
    }

    fn parse_generic(&mut self, fin: bool) -> CallResult {
        let (v, end) = match self.json_at(0, fin) {
            Ok(x) => x,
            Err(r) => return r,
        };
        let Some(obj) = v.as_object() else {
            return CallResult::NotACall;
        };
        if let Some(list) = obj.get("tool_calls") {
            let Some(items) = list.as_array().filter(|a| !a.is_empty()) else {
                return CallResult::NotACall;
            };
            let calls: Option<Vec<_>> = items
                .iter()
                .map(|c| call_from_object(c, &["arguments", "parameters"]))
                .collect();
            return match calls {
                Some(calls) => CallResult::Calls {
                    calls,
                    consumed: end,
                    chain: false,
                },
                None => CallResult::NotACall,
            };
        }
        if obj.contains_key("name") {
            return match call_from_object(&v, &["arguments", "parameters"]) {
                Some(call) => CallResult::Calls {
                    calls: vec![call],
                    consumed: end,
                    chain: false,
                },
                None => CallResult::NotACall,
            };
        }
        match (obj.len(), obj.get("response").and_then(Value::as_str)) {
            (1, Some(text)) => CallResult::Text {
                text: text.to_owned(),
                consumed: end,
            },
            _ => CallResult::NotACall,
        }
    }
}

fn need_more(fin: bool) -> CallResult {
    if fin {
        CallResult::NotACall
    } else {
        CallResult::NeedMore
    }
}

fn skip_ws(s: &str, from: usize) -> usize {
    from + s[from..]
        .bytes()
        .take_while(|b| b.is_ascii_whitespace())
        .count()
}
