//! Logit bias: adds a fixed amount to chosen tokens' logits (`-inf` bans a token).

use super::{Candidates, Sampler, TokenId};

#[derive(Debug, Default)]
pub struct LogitBias {
    pub biases: Vec<(TokenId, f32)>,
}

impl LogitBias {
    /// Applies the biases to a full-vocabulary logit slice (`logits[id]`); unknown ids are ignored.
    pub fn adjust_logits(&self, logits: &mut [f32]) {
        for &(id, b) in &self.biases {
            if let Some(l) = logits.get_mut(id as usize) {
                *l += b;
            }
        }
    }
}

impl Sampler for LogitBias {
    fn name(&self) -> &'static str {
        "logit-bias"
    }
    fn apply(&mut self, c: &mut Candidates) {
        if self.biases.is_empty() {
            return;
        }
        if c.identity {
            for &(id, b) in &self.biases {
                if let Some(t) = c.data.get_mut(id as usize) {
                    t.logit += b;
                }
            }
        } else {
            for t in &mut c.data {
                for &(id, b) in &self.biases {
                    if t.id == id {
                        t.logit += b;
                    }
                }
            }
        }
        c.sorted = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::cands;

    #[test]
    fn adds_and_bans() {
        let mut lb = LogitBias {
            biases: vec![(0, f32::NEG_INFINITY), (2, 1.5), (99, 1.0)],
        };
        let mut c = cands(&[3.0, 1.0, 0.0]);
        lb.apply(&mut c);
        assert_eq!(c.data[0].logit, f32::NEG_INFINITY);
        assert_eq!((c.data[1].logit, c.data[2].logit), (1.0, 1.5));
    }
}
