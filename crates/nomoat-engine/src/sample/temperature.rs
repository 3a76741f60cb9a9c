//! Temperature: divides logits by `t`. With `t <= 0` only the highest logit survives (the others
//! become -inf), which makes the final draw greedy, as in llama.cpp.

use super::{Candidates, Sampler};

#[derive(Debug)]
pub struct Temperature(pub f32);

impl Sampler for Temperature {
    fn name(&self) -> &'static str {
        "temp"
    }
    fn apply(&mut self, c: &mut Candidates) {
        let t = self.0;
        if t <= 0.0 {
            if let Some(best) = c.argmax() {
                for (i, d) in c.data.iter_mut().enumerate() {
                    if i != best {
                        d.logit = f32::NEG_INFINITY;
                    }
                }
            }
            return;
        }
        if t == 1.0 {
            return;
        }
        for d in &mut c.data {
            d.logit /= t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::cands;

    #[test]
    fn zero_keeps_only_the_max() {
        let mut c = cands(&[1.0, 5.0, 2.0]);
        Temperature(0.0).apply(&mut c);
        assert_eq!(c.data[1].logit, 5.0);
        assert!(c.data[0].logit == f32::NEG_INFINITY && c.data[2].logit == f32::NEG_INFINITY);
    }

    #[test]
    fn scales() {
        let mut c = cands(&[1.0, -4.0]);
        Temperature(0.5).apply(&mut c);
        assert_eq!((c.data[0].logit, c.data[1].logit), (2.0, -8.0));
    }
}
