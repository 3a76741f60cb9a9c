//! Repetition, presence and frequency penalties over the last `last_n` accepted tokens, with
//! llama.cpp's semantics: for a token seen `n > 0` times in the window, a positive logit is
//! divided by `repeat` and a non-positive one multiplied by it, then `n * frequency + presence`
//! is subtracted. Tokens not in the window are never touched.

use super::{Candidates, Sampler, TokenId};

#[derive(Debug)]
pub struct Penalties {
    last_n: usize,
    repeat: f32,
    frequency: f32,
    presence: f32,
    /// The window, as a ring buffer of at most `last_n` tokens.
    ring: Vec<TokenId>,
    head: usize,
    /// Occurrences in the window, indexed by token id (grown on demand, sized to the vocabulary
    /// up front so accepting allocates nothing).
    counts: Vec<u32>,
    /// The distinct tokens with a non-zero count.
    seen: Vec<TokenId>,
}

impl Penalties {
    pub fn new(
        last_n: usize,
        repeat: f32,
        frequency: f32,
        presence: f32,
        vocab_size: usize,
    ) -> Self {
        Penalties {
            last_n,
            repeat,
            frequency,
            presence,
            ring: Vec::with_capacity(last_n),
            head: 0,
            counts: vec![0; vocab_size],
            seen: Vec::with_capacity(last_n),
        }
    }

    /// Whether these settings change anything at all.
    pub fn is_active(&self) -> bool {
        self.last_n > 0 && (self.repeat != 1.0 || self.frequency != 0.0 || self.presence != 0.0)
    }

    fn penalize(&self, logit: f32, count: u32) -> f32 {
        let mut l = if logit <= 0.0 {
            logit * self.repeat
        } else {
            logit / self.repeat
        };
        l -= count as f32 * self.frequency + self.presence;
        l
    }

    /// Applies the penalties to a full-vocabulary logit slice (`logits[id]`).
    pub fn adjust_logits(&self, logits: &mut [f32]) {
        if !self.is_active() {
            return;
        }
        for &id in &self.seen {
            let count = self.counts[id as usize];
            if let Some(l) = logits.get_mut(id as usize) {
                *l = self.penalize(*l, count);
            }
        }
    }

    fn count_up(&mut self, id: TokenId) {
        let i = id as usize;
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        if self.counts[i] == 0 {
            self.seen.push(id);
        }
        self.counts[i] += 1;
    }

    fn count_down(&mut self, id: TokenId) {
        let i = id as usize;
        self.counts[i] -= 1;
        if self.counts[i] == 0 {
            if let Some(pos) = self.seen.iter().position(|&s| s == id) {
                self.seen.swap_remove(pos);
            }
        }
    }
}

impl Sampler for Penalties {
    fn name(&self) -> &'static str {
        "penalties"
    }

    fn apply(&mut self, c: &mut Candidates) {
        if !self.is_active() || self.seen.is_empty() {
            return;
        }
        if c.identity {
            for &id in &self.seen {
                let count = self.counts[id as usize];
                if let Some(t) = c.data.get_mut(id as usize) {
                    t.logit = self.penalize(t.logit, count);
                }
            }
        } else {
            for t in &mut c.data {
                let count = self.counts.get(t.id as usize).copied().unwrap_or(0);
                if count > 0 {
                    t.logit = self.penalize(t.logit, count);
                }
            }
        }
        c.sorted = false;
    }

    fn accept(&mut self, token: TokenId) {
        if self.last_n == 0 {
            return;
        }
        if self.ring.len() < self.last_n {
            self.ring.push(token);
        } else {
            let old = std::mem::replace(&mut self.ring[self.head], token);
            self.head = (self.head + 1) % self.last_n;
            self.count_down(old);
        }
        self.count_up(token);
    }

    fn reset(&mut self) {
        for &id in &self.seen {
            self.counts[id as usize] = 0;
        }
        self.seen.clear();
        self.ring.clear();
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::cands;

    #[test]
    fn llama_cpp_formula() {
        let mut p = Penalties::new(4, 2.0, 0.5, 0.25, 4);
        for t in [1, 1, 2] {
            p.accept(t);
        }
        let mut c = cands(&[1.0, 4.0, -2.0, 3.0]);
        p.apply(&mut c);
        assert_eq!(c.data[0].logit, 1.0);
        assert_eq!(c.data[1].logit, 4.0 / 2.0 - 2.0 * 0.5 - 0.25);
        assert_eq!(c.data[2].logit, -2.0 * 2.0 - 0.5 - 0.25);
        assert_eq!(c.data[3].logit, 3.0);
    }

    #[test]
    fn window_forgets_old_tokens() {
        let mut p = Penalties::new(2, 2.0, 0.0, 0.0, 8);
        for t in [5, 6, 7] {
            p.accept(t);
        }
        let mut l = vec![1.0f32; 8];
        p.adjust_logits(&mut l);
        assert_eq!(l[5], 1.0);
        assert_eq!((l[6], l[7]), (0.5, 0.5));
        p.reset();
        let mut l = vec![1.0f32; 8];
        p.adjust_logits(&mut l);
        assert!(l.iter().all(|&x| x == 1.0));
    }

    #[test]
    fn unsorted_path_matches_identity_path() {
        let mut p = Penalties::new(8, 1.3, 0.1, 0.2, 6);
        for t in [0, 3, 3, 5] {
            p.accept(t);
        }
        let raw = [0.5f32, -1.0, 2.0, 1.5, 0.0, -0.5];
        let mut a = cands(&raw);
        p.apply(&mut a);
        let mut b = cands(&raw);
        b.data.reverse();
        b.identity = false;
        p.apply(&mut b);
        b.data.reverse();
        assert_eq!(a.data, b.data);
    }
}
