//! Locally typical sampling (Meister et al.): keeps the tokens whose surprisal is closest to the
//! distribution's entropy, until their probabilities add up to `p`. `p >= 1` disables it.

use super::{Candidates, Sampler, TokenData};

#[derive(Debug)]
pub struct Typical {
    pub p: f32,
    pub min_keep: usize,
    /// (|surprisal - entropy|, candidate) pairs, reused between calls.
    scratch: Vec<(f32, TokenData)>,
}

impl Typical {
    pub fn new(p: f32, min_keep: usize) -> Self {
        Typical {
            p,
            min_keep,
            scratch: Vec::new(),
        }
    }
}

impl Sampler for Typical {
    fn name(&self) -> &'static str {
        "typical"
    }
    fn apply(&mut self, c: &mut Candidates) {
        if self.p >= 1.0 || c.is_empty() {
            return;
        }
        c.softmax();
        let entropy: f32 = c
            .data
            .iter()
            .filter(|t| t.p > 0.0)
            .map(|t| -t.p * t.p.ln())
            .sum();
        self.scratch.clear();
        self.scratch
            .extend(c.data.iter().map(|t| ((-t.p.ln() - entropy).abs(), *t)));
        self.scratch.sort_unstable_by(|a, b| {
            a.0.partial_cmp(&b.0)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then(a.1.id.cmp(&b.1.id))
        });
        let mut cum = 0.0f32;
        let mut last = self.scratch.len();
        for (i, (_, t)) in self.scratch.iter().enumerate() {
            cum += t.p;
            if cum > self.p && i + 1 >= self.min_keep {
                last = i + 1;
                break;
            }
        }
        c.data.clear();
        c.data.extend(self.scratch[..last].iter().map(|(_, t)| *t));
        c.sorted = false;
        c.identity = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::cands;

    #[test]
    fn prefers_tokens_near_the_entropy() {
        // One dominant token and many small ones: entropy is low, so the dominant token is the
        // most "typical" and is kept first.
        let mut l = vec![-5.0f32; 50];
        l[7] = 5.0;
        let mut c = cands(&l);
        Typical::new(0.5, 1).apply(&mut c);
        assert_eq!(c.data[0].id, 7);
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn disabled_at_one() {
        let mut c = cands(&[1.0, 2.0, 3.0]);
        Typical::new(1.0, 1).apply(&mut c);
        assert_eq!(c.len(), 3);
        assert!(c.identity);
    }
}
