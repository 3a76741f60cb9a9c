//! Matching special tokens in text (llama.cpp's `tokenizer_st_partition`).
//!
//! llama.cpp takes the control, user-defined and unknown tokens longest first and, for each one,
//! cuts every remaining text fragment at its leftmost non-overlapping occurrences. With
//! `parse_special` off only user-defined tokens are cut. Tokens with the lstrip/rstrip attribute
//! also swallow the whitespace beside them. Scanning every fragment for each of thousands of
//! tokens is slow, so a trie first finds which tokens occur at all; only those are then cut, in
//! llama.cpp's order, which gives the same fragments.

use crate::map::MergeMap;
use crate::vocab::{attr, Vocab};

/// A piece of the input: raw text (byte range `start..end`) or a special token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Frag {
    Text(usize, usize),
    Token(u32),
}

const NONE: u32 = u32::MAX;

/// Byte trie over the special tokens' texts; terminals hold the token's index in the cache.
#[derive(Debug, Default)]
pub(crate) struct SpecialTrie {
    edges: MergeMap,
    terminal: Vec<u32>,
    first: Vec<bool>,
}

impl SpecialTrie {
    pub(crate) fn new(v: &Vocab) -> SpecialTrie {
        let total: usize = v
            .special_cache
            .iter()
            .map(|&id| v.token_text(id).len())
            .sum();
        let mut t = SpecialTrie {
            edges: MergeMap::with_capacity(total + 1),
            terminal: vec![NONE],
            first: vec![false; 256],
        };
        for (rank, &id) in v.special_cache.iter().enumerate() {
            let text = v.token_text(id).as_bytes();
            let Some(&b0) = text.first() else { continue };
            t.first[b0 as usize] = true;
            let mut node = 0u32;
            for &b in text {
                node = match t.edges.get(node, u32::from(b)) {
                    Some((child, _)) => child,
                    None => {
                        let child = t.terminal.len() as u32;
                        t.terminal.push(NONE);
                        t.edges.insert_first(node, u32::from(b), child, 0);
                        child
                    }
                };
            }
            if t.terminal[node as usize] == NONE {
                t.terminal[node as usize] = rank as u32;
            }
        }
        t
    }

    /// Cache indices of the special tokens that occur in `text` (and are eligible), ascending.
    fn present(&self, v: &Vocab, text: &[u8], parse_special: bool) -> Vec<u32> {
        let mut found = Vec::new();
        if self.terminal.len() <= 1 {
            return found;
        }
        // Newlines and spaces are user-defined tokens in some vocabularies: mark each token once.
        let mut seen = vec![false; v.special_cache.len()];
        for i in 0..text.len() {
            if !self.first[text[i] as usize] {
                continue;
            }
            let mut node = 0u32;
            for &b in &text[i..] {
                match self.edges.get(node, u32::from(b)) {
                    Some((child, _)) => node = child,
                    None => break,
                }
                let rank = self.terminal[node as usize];
                if rank != NONE && !seen[rank as usize] {
                    let id = v.special_cache[rank as usize];
                    let a = v.attrs[id as usize];
                    if parse_special || a & (attr::CONTROL | attr::UNKNOWN) == 0 {
                        seen[rank as usize] = true;
                        found.push(rank);
                    }
                }
            }
        }
        found.sort_unstable();
        found
    }
}

#[inline]
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    let first = needle[0];
    let last_start = hay.len() - needle.len();
    let mut i = 0;
    while i <= last_start {
        match hay[i..=last_start].iter().position(|&b| b == first) {
            None => return None,
            Some(p) => {
                let s = i + p;
                if &hay[s..s + needle.len()] == needle {
                    return Some(s);
                }
                i = s + 1;
            }
        }
    }
    None
}

/// Splits `text` into fragments; `out` is cleared first.
pub(crate) fn partition(
    v: &Vocab,
    trie: &SpecialTrie,
    text: &str,
    parse_special: bool,
    out: &mut Vec<Frag>,
) {
    out.clear();
    if text.is_empty() {
        return;
    }
    out.push(Frag::Text(0, text.len()));
    let bytes = text.as_bytes();
    let mut next = Vec::new();
    for rank in trie.present(v, bytes, parse_special) {
        let id = v.special_cache[rank as usize];
        let tok = v.token_text(id).as_bytes();
        let a = v.attrs[id as usize];
        next.clear();
        for &f in out.iter() {
            let Frag::Text(mut off, end) = f else {
                next.push(f);
                continue;
            };
            let mut len = end - off;
            loop {
                let Some(p) = find(&bytes[off..off + len], tok) else {
                    if len > 0 {
                        next.push(Frag::Text(off, end));
                    }
                    break;
                };
                let m = off + p;
                if m > off {
                    let mut left = m - off;
                    if a & attr::LSTRIP != 0 {
                        while left > 0 && is_c_space(bytes[off + left - 1]) {
                            left -= 1;
                        }
                    }
                    if left > 0 {
                        next.push(Frag::Text(off, off + left));
                    }
                }
                next.push(Frag::Token(id));
                let mut r = m + tok.len();
                if a & attr::RSTRIP != 0 {
                    while r < end && is_c_space(bytes[r]) {
                        r += 1;
                    }
                }
                off = r;
                len = end - r;
                if len == 0 {
                    break;
                }
            }
        }
        std::mem::swap(out, &mut next);
    }
}

#[cfg(test)]
mod tests {
    use super::find;

    #[test]
    fn find_is_leftmost() {
        assert_eq!(find(b"abcabc", b"ca"), Some(2));
        assert_eq!(find(b"aaab", b"ab"), Some(2));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"xyz", b"z"), Some(2));
    }
}
