//! BPE merging within one pre-tokenized word (llama.cpp's `llm_tokenizer_bpe_session`): start from
//! characters, repeatedly merge the adjacent pair with the lowest merge rank (ties: leftmost).
//!
//! Merges are validated to join two tokens into a token, so every symbol is identified by its token
//! id and a pair's merge is one hash lookup on two ids.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::presets::PreType;
use crate::unicode::{byte_to_char_table, utf8_len};
use crate::vocab::Vocab;

const NONE: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Sym {
    start: u32,
    n: u32,
    id: u32,
    prev: i32,
    next: i32,
}

/// A candidate merge: (rank, left symbol, right symbol, left id, right id); the heap pops the
/// lowest rank, then the leftmost.
type Candidate = Reverse<(u32, i32, i32, u32, u32)>;

/// Reusable buffers.
#[derive(Default)]
pub(crate) struct BpeScratch {
    syms: Vec<Sym>,
    heap: Vec<Candidate>,
    encoded: Vec<u8>,
}

/// Tokenizes one word and appends the ids. With GPT-2 byte encoding `word` is raw text (each
/// byte stands for its GPT-2 character); otherwise it is the UTF-8 text itself.
pub(crate) fn word(v: &Vocab, word: &[u8], s: &mut BpeScratch, out: &mut Vec<u32>) {
    if word.is_empty() {
        return;
    }
    if v.ignore_merges {
        let whole = if v.byte_encode {
            s.encoded.clear();
            let table = byte_to_char_table();
            for &b in word {
                let mut buf = [0u8; 4];
                s.encoded
                    .extend_from_slice(table[b as usize].encode_utf8(&mut buf).as_bytes());
            }
            v.lookup(&s.encoded)
        } else {
            v.lookup(word)
        };
        if let Some(id) = whole {
            out.push(id);
            return;
        }
    } else if v.pre_type == PreType::Gemma4 && word.iter().all(|&b| b == b'\n') {
        if let Some(id) = v.lookup(word) {
            out.push(id);
            return;
        }
    }

    let syms = &mut s.syms;
    syms.clear();
    let mut offs = 0usize;
    while offs < word.len() {
        let n = if v.byte_encode {
            1
        } else {
            utf8_len(word[offs]).min(word.len() - offs)
        };
        let id = if v.byte_encode {
            v.byte_tokens[word[offs] as usize].unwrap_or(NONE)
        } else {
            v.lookup(&word[offs..offs + n]).unwrap_or(NONE)
        };
        let idx = syms.len() as i32;
        syms.push(Sym {
            start: offs as u32,
            n: n as u32,
            id,
            prev: idx - 1,
            next: if offs + n == word.len() { -1 } else { idx + 1 },
        });
        offs += n;
    }

    let mut heap = BinaryHeap::from(std::mem::take(&mut s.heap));
    heap.clear();
    let add = |syms: &[Sym], heap: &mut BinaryHeap<_>, l: i32, r: i32| {
        if l < 0 || r < 0 {
            return;
        }
        let (lid, rid) = (syms[l as usize].id, syms[r as usize].id);
        if lid == NONE || rid == NONE {
            return;
        }
        if let Some((rank, _)) = v.merges.get(lid, rid) {
            heap.push(Reverse((rank, l, r, lid, rid)));
        }
    };
    for i in 1..syms.len() as i32 {
        add(syms, &mut heap, i - 1, i);
    }
    while let Some(Reverse((_, l, r, lid, rid))) = heap.pop() {
        let (lu, ru) = (l as usize, r as usize);
        if syms[lu].n == 0 || syms[ru].n == 0 || syms[lu].id != lid || syms[ru].id != rid {
            continue;
        }
        let Some((_, merged)) = v.merges.get(lid, rid) else {
            continue;
        };
        syms[lu].n += syms[ru].n;
        syms[lu].id = merged;
        syms[ru].n = 0;
        let rnext = syms[ru].next;
        syms[lu].next = rnext;
        if rnext >= 0 {
            syms[rnext as usize].prev = l;
        }
        let lprev = syms[lu].prev;
        add(syms, &mut heap, lprev, l);
        add(syms, &mut heap, l, rnext);
    }
    s.heap = heap.into_vec();

    for sym in syms.iter().filter(|s| s.n > 0) {
        if sym.id != NONE {
            out.push(sym.id);
        } else if !v.byte_encode {
            // Gemma 4: characters that are not tokens fall back to `<0xXX>` byte tokens.
            let piece = &word[sym.start as usize..(sym.start + sym.n) as usize];
            out.extend(piece.iter().filter_map(|&b| v.byte_tokens[b as usize]));
        }
        // With GPT-2 byte encoding llama.cpp looks up the single bytes of the character, which
        // are never tokens: the character is dropped.
    }
}
