//! Hash tables of the vocabulary, built once without a per-token allocation.
//!
//! [`TokenMap`]: token text → id, open addressing over ids; the texts live in the vocabulary's one
//! string buffer. [`MergeMap`]: (left id, right id) → (rank, merged id) for BPE.

/// FxHash-style multiplicative hash over 8-byte words: fast, and good enough for token texts.
#[inline]
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    // Final avalanche so that the low bits (the slot index) depend on every input bit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

const EMPTY: u32 = u32::MAX;

/// Token text → id. `slots` has a power-of-two length at least twice the number of tokens; each
/// slot keeps the upper half of its text's hash so that a probe only reads the text (a likely
/// cache miss) when the hashes agree.
#[derive(Clone, Debug, Default)]
pub(crate) struct TokenMap {
    slots: Vec<(u32, u32)>,
    mask: usize,
}

impl TokenMap {
    /// Builds the map over `n` texts given by `text(id)`. Returns `Err(first_id, dup_id)` on the
    /// first duplicate text.
    pub(crate) fn build<'a>(
        n: usize,
        text: impl Fn(u32) -> &'a [u8],
    ) -> Result<TokenMap, (u32, u32)> {
        let cap = (n.max(1) * 2).next_power_of_two();
        let mut m = TokenMap {
            slots: vec![(EMPTY, 0); cap],
            mask: cap - 1,
        };
        for id in 0..n as u32 {
            let t = text(id);
            let h = hash_bytes(t);
            let tag = (h >> 32) as u32;
            let mut i = h as usize & m.mask;
            loop {
                let (s, stag) = m.slots[i];
                if s == EMPTY {
                    m.slots[i] = (id, tag);
                    break;
                }
                if stag == tag && text(s) == t {
                    return Err((s, id));
                }
                i = (i + 1) & m.mask;
            }
        }
        Ok(m)
    }

    /// The id of the token whose text is `key`.
    #[inline]
    pub(crate) fn get<'a>(&self, key: &[u8], text: impl Fn(u32) -> &'a [u8]) -> Option<u32> {
        if self.slots.is_empty() {
            return None;
        }
        let h = hash_bytes(key);
        let tag = (h >> 32) as u32;
        let mut i = h as usize & self.mask;
        loop {
            let (s, stag) = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if stag == tag && text(s) == key {
                return Some(s);
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// (left id, right id) → (rank, merged id), open addressing on the packed pair.
#[derive(Clone, Debug, Default)]
pub(crate) struct MergeMap {
    keys: Vec<u64>,
    vals: Vec<(u32, u32)>,
    mask: usize,
    len: usize,
}

const EMPTY_KEY: u64 = u64::MAX;

/// splitmix64's finalizer: every key bit reaches the low bits that pick the slot (a plain
/// multiply would leave them depending on the right id only, and pile up collisions).
#[inline]
fn hash_pair(k: u64) -> u64 {
    let mut h = k ^ (k >> 31);
    h = h.wrapping_mul(0x7fb5_d329_728e_a185);
    h ^= h >> 27;
    h = h.wrapping_mul(0x81da_def4_bc2d_d44d);
    h ^ (h >> 33)
}

impl MergeMap {
    pub(crate) fn with_capacity(n: usize) -> MergeMap {
        let cap = (n.max(1) * 2).next_power_of_two();
        MergeMap {
            keys: vec![EMPTY_KEY; cap],
            vals: vec![(0, 0); cap],
            mask: cap - 1,
            len: 0,
        }
    }

    /// Inserts unless the pair is already there (the first rank wins, as in llama.cpp's `emplace`).
    pub(crate) fn insert_first(&mut self, left: u32, right: u32, rank: u32, merged: u32) {
        let k = (u64::from(left) << 32) | u64::from(right);
        let mut i = hash_pair(k) as usize & self.mask;
        loop {
            if self.keys[i] == EMPTY_KEY {
                self.keys[i] = k;
                self.vals[i] = (rank, merged);
                self.len += 1;
                return;
            }
            if self.keys[i] == k {
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline]
    pub(crate) fn get(&self, left: u32, right: u32) -> Option<(u32, u32)> {
        if self.len == 0 {
            return None;
        }
        let k = (u64::from(left) << 32) | u64::from(right);
        let mut i = hash_pair(k) as usize & self.mask;
        loop {
            let s = self.keys[i];
            if s == k {
                return Some(self.vals[i]);
            }
            if s == EMPTY_KEY {
                return None;
            }
            i = (i + 1) & self.mask;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_map_finds_every_text_and_rejects_duplicates() {
        let texts = ["a", "b", "ab", "▁the", ""];
        let m = TokenMap::build(texts.len(), |i| texts[i as usize].as_bytes()).unwrap();
        for (i, t) in texts.iter().enumerate() {
            assert_eq!(
                m.get(t.as_bytes(), |i| texts[i as usize].as_bytes()),
                Some(i as u32)
            );
        }
        assert_eq!(m.get(b"zz", |i| texts[i as usize].as_bytes()), None);
        let dup = ["x", "y", "x"];
        assert_eq!(
            TokenMap::build(3, |i| dup[i as usize].as_bytes()).unwrap_err(),
            (0, 2)
        );
    }

    #[test]
    fn merge_map_keeps_the_first_rank() {
        let mut m = MergeMap::with_capacity(4);
        m.insert_first(1, 2, 0, 7);
        m.insert_first(1, 2, 5, 9);
        m.insert_first(2, 1, 1, 8);
        assert_eq!(m.get(1, 2), Some((0, 7)));
        assert_eq!(m.get(2, 1), Some((1, 8)));
        assert_eq!(m.get(3, 1), None);
        assert_eq!(m.len(), 2);
    }
}
