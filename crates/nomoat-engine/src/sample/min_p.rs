//! Min-p: drops tokens whose probability is below `p` times the most likely token's, i.e. whose
//! logit is below `max + ln p` (computed on logits, as llama.cpp does). `p <= 0` disables it.

use super::{Candidates, Sampler};

#[derive(Debug)]
pub struct MinP {
    pub p: f32,
    pub min_keep: usize,
}

impl Sampler for MinP {
    fn name(&self) -> &'static str {
        "min-p"
    }
    fn apply(&mut self, c: &mut Candidates) {
        if self.p <= 0.0 || c.is_empty() {
            return;
        }
        let max = c
            .data
            .iter()
            .map(|t| t.logit)
            .fold(f32::NEG_INFINITY, f32::max);
        let threshold = max + self.p.ln();
        let kept = c.data.iter().filter(|t| t.logit >= threshold).count();
        if kept < self.min_keep.max(1) {
            return;
        }
        if kept == c.len() {
            return;
        }
        // Keep the order (a sorted array stays sorted).
        c.data.retain(|t| t.logit >= threshold);
        c.identity = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::cands;

    #[test]
    fn drops_unlikely_tokens() {
        // probabilities proportional to 1, 0.5, 0.04: with p = 0.05 the last goes.
        let mut c = cands(&[0.0, 0.5f32.ln(), 0.04f32.ln()]);
        MinP {
            p: 0.05,
            min_keep: 1,
        }
        .apply(&mut c);
        let ids: Vec<u32> = c.data.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![0, 1]);
    }
}
