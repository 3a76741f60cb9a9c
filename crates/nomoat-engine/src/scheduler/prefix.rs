//! Prefix cache: full KV blocks of prompts already computed, found again by a hash chain.
//!
//! Block `i` of a prompt is keyed by `h_i = hash(h_{i-1}, tokens[i*bs..(i+1)*bs])`, so equal keys
//! mean equal whole prefixes. Each entry is a cache-owned sequence that shares (refcounts) the
//! blocks of the request it was forked from, so keeping it costs no copy; evicting it (LRU) drops
//! its references and the blocks no running sequence uses become free. Matches are verified token
//! by token, so a hash collision can only cost a miss, never a wrong cache hit.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use crate::runner::SeqId;

struct Entry {
    seq: SeqId,
    tokens: Vec<u32>,
    hashes: Vec<u64>,
    last_used: u64,
}

/// Entries keyed by the hash chain of their full blocks.
pub struct PrefixCache {
    block_size: usize,
    max_entries: usize,
    next_id: u64,
    clock: u64,
    entries: HashMap<u64, Entry>,
    /// chain hash of block i → (entry holding it, i + 1 blocks).
    index: HashMap<u64, u64>,
}

/// A usable cached prefix: fork `n_tokens` from `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub seq: SeqId,
    pub n_tokens: usize,
}

fn chain_hashes(tokens: &[u32], block_size: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(tokens.len() / block_size.max(1));
    let mut prev = 0u64;
    for block in tokens.chunks_exact(block_size.max(1)) {
        let mut h = DefaultHasher::new();
        prev.hash(&mut h);
        block.hash(&mut h);
        prev = h.finish();
        out.push(prev);
    }
    out
}

impl PrefixCache {
    pub fn new(block_size: usize, max_entries: usize) -> Self {
        PrefixCache {
            block_size: block_size.max(1),
            max_entries,
            next_id: 0,
            clock: 0,
            entries: HashMap::new(),
            index: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Longest cached prefix of `tokens` of at most `max_tokens` tokens, in whole blocks.
    pub fn lookup(&mut self, tokens: &[u32], max_tokens: usize) -> Option<Hit> {
        let limit = max_tokens.min(tokens.len()) / self.block_size * self.block_size;
        let hashes = chain_hashes(&tokens[..limit], self.block_size);
        let mut best: Option<(u64, usize)> = None;
        for (i, h) in hashes.iter().enumerate() {
            let Some(&eid) = self.index.get(h) else { break };
            let n = (i + 1) * self.block_size;
            match self.entries.get(&eid) {
                Some(e) if e.tokens.len() >= n && e.tokens[..n] == tokens[..n] => {
                    best = Some((eid, n))
                }
                _ => break,
            }
        }
        let (eid, n_tokens) = best?;
        self.clock += 1;
        let e = self.entries.get_mut(&eid)?;
        e.last_used = self.clock;
        Some(Hit {
            seq: e.seq,
            n_tokens,
        })
    }

    /// Whole blocks of `tokens` already cached.
    pub fn covered(&self, tokens: &[u32]) -> usize {
        let hashes = chain_hashes(tokens, self.block_size);
        let mut n = 0;
        for (i, h) in hashes.iter().enumerate() {
            let Some(e) = self.index.get(h).and_then(|eid| self.entries.get(eid)) else {
                break;
            };
            let end = (i + 1) * self.block_size;
            if e.tokens.len() < end || e.tokens[..end] != tokens[..end] {
                break;
            }
            n = end;
        }
        n
    }

    /// Whether a new entry needs an eviction first.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries
    }

    /// Record that `seq` (owned by the cache from now on) holds the KV of `tokens` (whole blocks).
    pub fn insert(&mut self, seq: SeqId, tokens: Vec<u32>) {
        let hashes = chain_hashes(&tokens, self.block_size);
        let id = self.next_id;
        self.next_id += 1;
        self.clock += 1;
        for h in &hashes {
            self.index.entry(*h).or_insert(id);
        }
        self.entries.insert(
            id,
            Entry {
                seq,
                tokens,
                hashes,
                last_used: self.clock,
            },
        );
    }

    /// Remove the least recently used entry; the caller frees the returned sequence.
    pub fn evict_lru(&mut self) -> Option<SeqId> {
        let (&id, _) = self.entries.iter().min_by_key(|(_, e)| e.last_used)?;
        let e = self.entries.remove(&id)?;
        for h in &e.hashes {
            if self.index.get(h) == Some(&id) {
                // Another entry may hold the same prefix: point the key at it instead.
                match self
                    .entries
                    .iter()
                    .find(|(_, o)| o.hashes.contains(h))
                    .map(|(oid, _)| *oid)
                {
                    Some(other) => {
                        self.index.insert(*h, other);
                    }
                    None => {
                        self.index.remove(h);
                    }
                }
            }
        }
        Some(e.seq)
    }

    /// Every cached sequence (to free them all at shutdown).
    pub fn drain(&mut self) -> Vec<SeqId> {
        self.index.clear();
        self.entries.drain().map(|(_, e)| e.seq).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_longest_whole_block_prefix() {
        let mut c = PrefixCache::new(4, 8);
        let a: Vec<u32> = (0..12).collect();
        c.insert(SeqId(7), a.clone());
        let mut q: Vec<u32> = (0..10).collect();
        q.push(99);
        assert_eq!(
            c.lookup(&q, q.len()),
            Some(Hit {
                seq: SeqId(7),
                n_tokens: 8
            })
        );
        // The limit keeps at least one token to compute.
        assert_eq!(c.lookup(&a, 11).map(|h| h.n_tokens), Some(8));
        assert_eq!(c.lookup(&a, 12).map(|h| h.n_tokens), Some(12));
        assert_eq!(c.lookup(&[1, 2, 3, 4, 5], 5), None);
        assert_eq!(c.covered(&a), 12);
    }

    #[test]
    fn eviction_repoints_shared_keys() {
        let mut c = PrefixCache::new(2, 2);
        c.insert(SeqId(1), vec![1, 2, 3, 4]);
        c.insert(SeqId(2), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(c.evict_lru(), Some(SeqId(1)));
        // Entry 2 still serves the shared first blocks, and its own third block.
        assert_eq!(
            c.lookup(&[1, 2, 3, 4, 5, 6, 7], 7)
                .map(|h| (h.seq, h.n_tokens)),
            Some((SeqId(2), 6))
        );
        assert_eq!(c.evict_lru(), Some(SeqId(2)));
        assert_eq!(c.len(), 0);
        assert_eq!(c.lookup(&[1, 2, 3, 4, 5, 6, 7], 7), None);
    }

    #[test]
    fn different_prefix_same_later_block_misses() {
        let mut c = PrefixCache::new(2, 4);
        c.insert(SeqId(1), vec![1, 2, 3, 4]);
        assert_eq!(c.lookup(&[9, 9, 3, 4, 5], 5), None);
    }
}
