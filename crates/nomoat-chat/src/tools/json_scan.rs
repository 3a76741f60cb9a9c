//! A resumable scanner that finds where a JSON object or array ends in a growing buffer, so a
//! streaming parser can wait for a whole call without re-reading the buffer on every delta.
//! It only tracks nesting, strings and the characters JSON allows outside strings; the complete
//! value is then checked by `serde_json`.

/// What the scanner knows about the value starting at its offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The value has not ended yet (and nothing seen so far is impossible JSON).
    Incomplete,
    /// The value ends at this byte offset (exclusive) of the buffer.
    Complete(usize),
    /// The text cannot be JSON (wrong closer, a character JSON never has outside strings).
    Invalid,
}

/// Deepest nesting accepted; deeper is treated as not JSON rather than risking `serde_json`'s
/// recursion limit (128) disagreeing with the scanner.
const MAX_DEPTH: usize = 100;

#[derive(Debug, Clone)]
pub(crate) struct JsonScanner {
    start: usize,
    pos: usize,
    stack: Vec<u8>,
    in_str: bool,
    escape: bool,
    result: Option<Scan>,
}

impl JsonScanner {
    /// A scanner for the value whose first byte (`{` or `[`) is at `start`.
    pub(crate) fn new(start: usize) -> Self {
        Self {
            start,
            pos: start,
            stack: Vec::new(),
            in_str: false,
            escape: false,
            result: None,
        }
    }

    pub(crate) fn start(&self) -> usize {
        self.start
    }

    /// Continues from where the last call stopped; `buf` must be the same buffer, grown.
    pub(crate) fn scan(&mut self, buf: &str) -> Scan {
        if let Some(r) = self.result {
            return r;
        }
        let bytes = buf.as_bytes();
        while self.pos < bytes.len() {
            let b = bytes[self.pos];
            self.pos += 1;
            if self.in_str {
                if self.escape {
                    self.escape = false;
                } else if b == b'\\' {
                    self.escape = true;
                } else if b == b'"' {
                    self.in_str = false;
                } else if b < 0x20 {
                    return self.done(Scan::Invalid);
                }
                continue;
            }
            match b {
                b'{' | b'[' => {
                    if self.stack.len() >= MAX_DEPTH {
                        return self.done(Scan::Invalid);
                    }
                    self.stack.push(b);
                }
                b'}' | b']' => {
                    let open = if b == b'}' { b'{' } else { b'[' };
                    if self.stack.pop() != Some(open) {
                        return self.done(Scan::Invalid);
                    }
                    if self.stack.is_empty() {
                        return self.done(Scan::Complete(self.pos));
                    }
                }
                b'"' => self.in_str = true,
                _ if self.stack.is_empty() => return self.done(Scan::Invalid),
                b' ' | b'\t' | b'\n' | b'\r' | b':' | b',' | b'-' | b'+' | b'.' => {}
                b'0'..=b'9' => {}
                // The letters of true, false, null and exponents.
                b'a' | b'e' | b'E' | b'f' | b'l' | b'n' | b'r' | b's' | b't' | b'u' => {}
                _ => return self.done(Scan::Invalid),
            }
        }
        Scan::Incomplete
    }

    fn done(&mut self, r: Scan) -> Scan {
        self.result = Some(r);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(s: &str) -> Scan {
        JsonScanner::new(0).scan(s)
    }

    #[test]
    fn finds_the_end() {
        assert_eq!(
            whole(r#"{"a": "}", "b": [1, {"c": null}]} tail"#),
            Scan::Complete(33)
        );
        assert_eq!(whole(r#"[{"a":"\"]"}]"#), Scan::Complete(13));
        assert_eq!(whole(r#"{"a": [1, 2"#), Scan::Incomplete);
        assert_eq!(whole(r#"{"a": ]"#), Scan::Invalid);
        assert_eq!(whole("{this is not json"), Scan::Invalid);
        assert_eq!(whole("x"), Scan::Invalid);
    }

    #[test]
    fn resumes_across_deltas() {
        let text = r#"{"name": "f", "arguments": {"q": "a}b"}}"#;
        for cut in 0..text.len() {
            let mut s = JsonScanner::new(0);
            let first = s.scan(&text[..cut]);
            assert_eq!(first, Scan::Incomplete, "cut {cut}");
            assert_eq!(s.scan(text), Scan::Complete(text.len()), "cut {cut}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        assert_eq!(whole(&"[".repeat(MAX_DEPTH + 1)), Scan::Invalid);
    }
}
