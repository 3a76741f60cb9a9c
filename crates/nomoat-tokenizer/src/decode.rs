//! Ids back to text: llama.cpp's `token_to_piece` and `detokenize`, and a streaming decoder that
//! produces the same text one id at a time without ever splitting a UTF-8 character.

use crate::vocab::{attr, Vocab};

/// How ids become text (llama.cpp's `llama_detokenize` flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Drop a leading BOS and a trailing EOS when the vocabulary adds them.
    pub remove_special: bool,
    /// Render control and unknown tokens as their text (otherwise they vanish).
    pub unparse_special: bool,
}

/// llama.cpp's `token_to_piece(id, lstrip = 0, special)`.
pub(crate) fn piece(v: &Vocab, id: u32, special: bool) -> &[u8] {
    if !special && v.attr(id) & (attr::UNKNOWN | attr::CONTROL) != 0 {
        return &[];
    }
    v.piece(id)
}

/// llama.cpp's `detokenize`.
pub(crate) fn detokenize(v: &Vocab, ids: &[u32], o: DecodeOptions) -> Vec<u8> {
    let mut ids = ids;
    let mut remove_space = v.add_space_prefix;
    if o.remove_special && v.add_bos {
        if let (Some(&first), Some(bos)) = (ids.first(), v.special.bos) {
            if first == bos {
                remove_space = false;
                ids = &ids[1..];
            }
        }
    }
    if o.remove_special && v.add_eos {
        if let (Some(&last), Some(eos)) = (ids.last(), v.special.eos) {
            if last == eos {
                ids = &ids[..ids.len() - 1];
            }
        }
    }
    let mut out = Vec::with_capacity(ids.len() * 4);
    for &id in ids {
        let p = piece(v, id, o.unparse_special);
        let p = if remove_space {
            p.strip_prefix(b" ").unwrap_or(p)
        } else {
            p
        };
        remove_space = false;
        out.extend_from_slice(p);
    }
    if v.clean_spaces {
        clean_spaces(&mut out);
    }
    out
}

/// llama.cpp's three `clean_spaces` passes, byte for byte (including its in-place quirks).
pub(crate) fn clean_spaces(t: &mut Vec<u8>) {
    // Pass 1: " ?", " !", " .", " ," lose the space.
    let n1 = t.len();
    let mut total = usize::from(n1 > 0);
    for i in 1..n1 {
        let x = t[i];
        if t[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            total -= 1;
        }
        t[total] = x;
        total += 1;
    }
    // Pass 2: " ' " becomes "'".
    let n2 = total;
    total = usize::from(n2 > 0);
    let mut i = 1;
    while i < n2 {
        let x = t[i];
        if x == b'\'' && i + 1 < n2 && t[i - 1] == b' ' && t[i + 1] == b' ' {
            total -= 1;
            i += 1;
            t[i] = 0;
        }
        t[total] = x;
        total += 1;
        i += 1;
    }
    // Pass 3: " 's", " 'm", " 're", " 've" lose the space.
    let n3 = total;
    total = usize::from(n3 > 0);
    for i in 1..n3 {
        let x = t[i];
        if t[i - 1] == b' ' && x == b'\'' && i + 1 < n3 {
            let x1 = t[i + 1];
            if x1 == b's' || x1 == b'm' {
                total -= 1;
            } else if x1 != b't' && x1 != b'd' && i + 2 < n3 {
                let x2 = t[i + 2];
                if (x1 == b'r' || x1 == b'v') && x2 == b'e' {
                    total -= 1;
                }
            }
        }
        t[total] = x;
        total += 1;
    }
    t.truncate(total);
}

/// Turns ids into text incrementally. The concatenation of everything [`StreamDecoder::push`]
/// and [`StreamDecoder::finish`] return equals the one-shot decode of all the ids with the same
/// options (`String::from_utf8_lossy` of [`crate::Tokenizer::detokenize`]), however the ids are
/// split into calls. Text is held back only while it could still change: an incomplete UTF-8
/// character, a possible trailing EOS (with `remove_special`), or spaces that llama.cpp's
/// `clean_spaces` may still remove.
#[derive(Clone, Debug, Default)]
pub struct StreamDecoder {
    opts: DecodeOptions,
    /// No id seen yet.
    fresh: bool,
    /// Strip one leading space from the next piece (SPM's added space prefix).
    strip_next: bool,
    /// An EOS that is dropped if it turns out to be the last id.
    held_eos: bool,
    /// Bytes awaiting `clean_spaces` (all of them start at a safe cut).
    clean: Vec<u8>,
    /// Bytes awaiting the end of their UTF-8 character.
    utf8: Vec<u8>,
    /// Pieces joined as they are, without `clean_spaces` (see [`StreamDecoder::pieces`]).
    raw: bool,
}

impl StreamDecoder {
    /// A decoder for a whole sequence (the first piece is treated as llama.cpp's `detokenize`
    /// treats it: its added leading space is removed).
    pub fn new(opts: DecodeOptions) -> StreamDecoder {
        StreamDecoder {
            opts,
            fresh: true,
            strip_next: false,
            ..Default::default()
        }
    }

    /// A decoder for ids that continue an earlier sequence (generated tokens after a prompt): no
    /// leading space is removed and no BOS is expected.
    pub fn continuing(opts: DecodeOptions) -> StreamDecoder {
        StreamDecoder {
            opts,
            fresh: false,
            strip_next: false,
            ..Default::default()
        }
    }

    /// A decoder that joins the pieces exactly as they are (`token_to_piece` of each id, as
    /// llama-server streams generated text): no space removed, no `clean_spaces`, nothing
    /// dropped except control tokens when `unparse_special` is off. Only whole UTF-8 characters
    /// are returned.
    pub fn pieces(unparse_special: bool) -> StreamDecoder {
        StreamDecoder {
            opts: DecodeOptions {
                remove_special: false,
                unparse_special,
            },
            raw: true,
            ..Default::default()
        }
    }

    /// Adds one id; returns the text that is now final.
    pub fn push(&mut self, v: &Vocab, id: u32) -> String {
        if self.fresh && !self.raw {
            self.fresh = false;
            self.strip_next = v.add_space_prefix;
            if self.opts.remove_special && v.add_bos && Some(id) == v.special.bos {
                self.strip_next = false;
                return String::new();
            }
        }
        let mut bytes = Vec::new();
        if self.held_eos {
            self.held_eos = false;
            self.emit_piece(v, v.special.eos.unwrap_or(id), &mut bytes);
        }
        if self.opts.remove_special && v.add_eos && Some(id) == v.special.eos {
            self.held_eos = true;
        } else {
            self.emit_piece(v, id, &mut bytes);
        }
        self.feed(v, &bytes, false)
    }

    /// Ends the sequence; returns the rest of the text.
    pub fn finish(&mut self, v: &Vocab) -> String {
        self.held_eos = false;
        let s = self.feed(v, &[], true);
        let raw = self.raw;
        *self = StreamDecoder::continuing(self.opts);
        self.raw = raw;
        s
    }

    fn emit_piece(&mut self, v: &Vocab, id: u32, bytes: &mut Vec<u8>) {
        let p = piece(v, id, self.opts.unparse_special);
        let p = if self.strip_next {
            p.strip_prefix(b" ").unwrap_or(p)
        } else {
            p
        };
        self.strip_next = false;
        bytes.extend_from_slice(p);
    }

    fn feed(&mut self, v: &Vocab, bytes: &[u8], end: bool) -> String {
        if v.clean_spaces && !self.raw {
            self.clean.extend_from_slice(bytes);
            let cut = if end {
                self.clean.len()
            } else {
                safe_cut(&self.clean)
            };
            if cut > 0 {
                let mut head: Vec<u8> = self.clean.drain(..cut).collect();
                clean_spaces(&mut head);
                self.utf8.extend_from_slice(&head);
            }
        } else {
            self.utf8.extend_from_slice(bytes);
        }
        take_utf8(&mut self.utf8, end)
    }
}

/// The last position `w` where text can be cut so that `clean_spaces` of the whole equals the
/// cleaned halves joined: the bytes at `w - 2`, `w - 1` and `w` are neither space nor apostrophe
/// (no pass removes or looks across them). 0 when there is none.
fn safe_cut(b: &[u8]) -> usize {
    let plain = |c: u8| c != b' ' && c != b'\'';
    (2..b.len())
        .rev()
        .find(|&w| plain(b[w - 2]) && plain(b[w - 1]) && plain(b[w]))
        .unwrap_or(0)
}

/// Removes and returns the complete UTF-8 prefix of `buf` (invalid sequences become U+FFFD as in
/// `String::from_utf8_lossy`); an incomplete character at the end stays unless `end`.
fn take_utf8(buf: &mut Vec<u8>, end: bool) -> String {
    let mut out = String::new();
    let mut pos = 0;
    loop {
        match std::str::from_utf8(&buf[pos..]) {
            Ok(s) => {
                out.push_str(s);
                pos = buf.len();
                break;
            }
            Err(e) => {
                let good = e.valid_up_to();
                out.push_str(std::str::from_utf8(&buf[pos..pos + good]).unwrap_or_default());
                pos += good;
                match e.error_len() {
                    Some(k) => {
                        out.push('\u{FFFD}');
                        pos += k;
                    }
                    None if end => {
                        out.push('\u{FFFD}');
                        pos = buf.len();
                        break;
                    }
                    None => break,
                }
            }
        }
    }
    buf.drain(..pos);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(s: &str) -> String {
        let mut b = s.as_bytes().to_vec();
        clean_spaces(&mut b);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn clean_spaces_matches_llama_cpp() {
        assert_eq!(clean("Hello , world ! Is it ?"), "Hello, world! Is it?");
        assert_eq!(clean("it 's you 're we 've I 'm"), "it's you're we've I'm");
        assert_eq!(clean("don 't we 'll"), "don 't we 'll");
        assert_eq!(clean("a ' b"), "a'b");
        assert_eq!(clean("a ' ' b"), "a'' b");
        assert_eq!(clean(" ."), ".");
        assert_eq!(clean(""), "");
    }

    #[test]
    fn take_utf8_holds_incomplete_characters() {
        let mut b = "é".as_bytes()[..1].to_vec();
        assert_eq!(take_utf8(&mut b, false), "");
        b.push("é".as_bytes()[1]);
        assert_eq!(take_utf8(&mut b, false), "é");
        let mut b = vec![b'a', 0xff, b'b', 0xe2, 0x82];
        assert_eq!(take_utf8(&mut b, false), "a\u{FFFD}b");
        assert_eq!(take_utf8(&mut b, true), "\u{FFFD}");
    }
}
