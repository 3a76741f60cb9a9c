//! SentencePiece-style tokenization (llama.cpp's `llm_tokenizer_spm`): start from UTF-8
//! characters, repeatedly merge the adjacent pair whose concatenation is the highest-scoring token
//! (ties: leftmost), then emit each piece as its token or, failing that, as byte tokens.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::unicode::utf8_len;
use crate::vocab::Vocab;

#[derive(Clone, Copy)]
struct Sym {
    start: u32,
    n: u32,
    prev: i32,
    next: i32,
}

struct Bigram {
    score: f32,
    left: i32,
    right: i32,
    size: u32,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// The heap pops the greatest: highest score, then lowest left index.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
    }
}

/// Reusable buffers.
#[derive(Default)]
pub(crate) struct SpmScratch {
    syms: Vec<Sym>,
    heap: Vec<Bigram>,
}

/// Tokenizes `text` (already `▁`-escaped) and appends the ids to `out`.
pub(crate) fn tokenize(v: &Vocab, text: &[u8], s: &mut SpmScratch, out: &mut Vec<u32>) {
    let syms = &mut s.syms;
    syms.clear();
    let mut offs = 0usize;
    while offs < text.len() {
        let n = utf8_len(text[offs]).min(text.len() - offs);
        let idx = syms.len() as i32;
        syms.push(Sym {
            start: offs as u32,
            n: n as u32,
            prev: idx - 1,
            next: if offs + n == text.len() { -1 } else { idx + 1 },
        });
        offs += n;
    }
    let mut heap = BinaryHeap::from(std::mem::take(&mut s.heap));
    heap.clear();
    let try_add = |syms: &[Sym], heap: &mut BinaryHeap<Bigram>, l: i32, r: i32| {
        if l < 0 || r < 0 {
            return;
        }
        let (ls, rs) = (syms[l as usize], syms[r as usize]);
        let a = ls.start as usize;
        let b = a + (ls.n + rs.n) as usize;
        if let Some(id) = v.lookup(&text[a..b]) {
            heap.push(Bigram {
                score: v.scores[id as usize],
                left: l,
                right: r,
                size: ls.n + rs.n,
            });
        }
    };
    for i in 1..syms.len() as i32 {
        try_add(syms, &mut heap, i - 1, i);
    }
    while let Some(bg) = heap.pop() {
        let (l, r) = (bg.left as usize, bg.right as usize);
        let (ln, rn) = (syms[l].n, syms[r].n);
        if ln == 0 || rn == 0 || ln + rn != bg.size {
            continue;
        }
        syms[l].n += rn;
        syms[r].n = 0;
        let rnext = syms[r].next;
        syms[l].next = rnext;
        if rnext >= 0 {
            syms[rnext as usize].prev = bg.left;
        }
        let lprev = syms[l].prev;
        try_add(syms, &mut heap, lprev, bg.left);
        try_add(syms, &mut heap, bg.left, rnext);
    }
    s.heap = heap.into_vec();

    if syms.is_empty() {
        return;
    }
    let mut i = 0i32;
    while i != -1 {
        let sym = syms[i as usize];
        let piece = &text[sym.start as usize..(sym.start + sym.n) as usize];
        match v.lookup(piece) {
            Some(id) => out.push(id),
            None => {
                for &b in piece {
                    // llama.cpp throws when a byte has no token; nomoat uses UNK, else skips it.
                    if let Some(id) = v.byte_tokens[b as usize].or(v.special.unk) {
                        out.push(id);
                    }
                }
            }
        }
        i = sym.next;
    }
}
