//! Top-p (nucleus): keeps the smallest set of most likely tokens whose probabilities add up to at
//! least `p` (and at least `min_keep` tokens). `p >= 1` disables it.
//!
//! On a full vocabulary (262k entries for Gemma) a full sort per token is too slow, so the
//! candidates are sorted only as far as needed: the top 256 first, doubling until the kept mass
//! reaches `p`. The softmax is taken over all candidates, as llama.cpp does.

use super::{Candidates, Sampler};

#[derive(Debug)]
pub struct TopP {
    pub p: f32,
    pub min_keep: usize,
}

impl Sampler for TopP {
    fn name(&self) -> &'static str {
        "top-p"
    }
    fn apply(&mut self, c: &mut Candidates) {
        if self.p >= 1.0 || c.is_empty() {
            return;
        }
        c.softmax();
        let mut k = if c.sorted { c.len() } else { 256.min(c.len()) };
        loop {
            c.partial_sort_desc(k);
            let mut cum = 0.0f32;
            for (i, t) in c.data[..k].iter().enumerate() {
                cum += t.p;
                if cum >= self.p && i + 1 >= self.min_keep {
                    c.truncate(i + 1);
                    c.sorted = true;
                    return;
                }
            }
            if k == c.len() {
                // Rounding kept the total under p: keep everything.
                c.sorted = true;
                return;
            }
            k = (k * 2).min(c.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::cands;

    #[test]
    fn keeps_minimal_set() {
        // probabilities 0.5, 0.3, 0.2 (ids 2, 0, 1)
        let l = [0.3f32.ln(), 0.2f32.ln(), 0.5f32.ln()];
        let mut c = cands(&l);
        TopP {
            p: 0.7,
            min_keep: 1,
        }
        .apply(&mut c);
        let ids: Vec<u32> = c.data.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![2, 0]);
        let mut c = cands(&l);
        TopP {
            p: 0.5,
            min_keep: 1,
        }
        .apply(&mut c);
        assert_eq!(c.len(), 1);
        let mut c = cands(&l);
        TopP {
            p: 0.5,
            min_keep: 3,
        }
        .apply(&mut c);
        assert_eq!(c.len(), 3);
    }

    #[test]
    fn large_vocab_takes_the_growing_path() {
        // 5000 equal logits: p = 0.5 needs 2500 tokens, past the first 256.
        let mut c = cands(&vec![0.0; 5000]);
        TopP {
            p: 0.5,
            min_keep: 1,
        }
        .apply(&mut c);
        assert!((2499..=2501).contains(&c.len()), "{}", c.len());
    }
}
