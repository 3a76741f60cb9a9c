//! The final samplers: [`Greedy`] picks the highest logit, [`Dist`] draws from the softmax of what
//! is left with a seeded [`Rng`].

use super::rng::Rng;
use super::{Candidates, Sampler};

#[derive(Debug, Default)]
pub struct Greedy;

impl Sampler for Greedy {
    fn name(&self) -> &'static str {
        "greedy"
    }
    fn apply(&mut self, c: &mut Candidates) {
        c.selected = c.argmax();
    }
}

#[derive(Debug)]
pub struct Dist {
    seed: u64,
    rng: Rng,
}

impl Dist {
    pub fn new(seed: u64) -> Self {
        Dist {
            seed,
            rng: Rng::new(seed),
        }
    }
}

impl Sampler for Dist {
    fn name(&self) -> &'static str {
        "dist"
    }
    fn apply(&mut self, c: &mut Candidates) {
        if c.is_empty() {
            c.selected = None;
            return;
        }
        c.softmax();
        let u = self.rng.next_f64();
        let mut cum = 0.0f64;
        // Fall back to the last candidate with mass if rounding leaves `u` above the total.
        let mut pick = None;
        for (i, t) in c.data.iter().enumerate() {
            if t.p > 0.0 {
                cum += t.p as f64;
                pick = Some(i);
                if u < cum {
                    break;
                }
            }
        }
        c.selected = pick.or(Some(0));
    }
    fn reset(&mut self) {
        self.rng = Rng::new(self.seed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::cands;

    #[test]
    fn greedy_picks_first_max() {
        let mut c = cands(&[0.5, 3.0, -1.0, 3.0]);
        Greedy.apply(&mut c);
        assert_eq!(c.selected, Some(1));
    }

    #[test]
    fn dist_only_picks_tokens_with_mass_and_follows_probabilities() {
        let mut d = Dist::new(1);
        let mut counts = [0usize; 3];
        for _ in 0..20_000 {
            let mut c = cands(&[0.0, (3.0f32).ln(), f32::NEG_INFINITY]);
            d.apply(&mut c);
            counts[c.data[c.selected.unwrap()].id as usize] += 1;
        }
        assert_eq!(counts[2], 0);
        let frac = counts[1] as f64 / 20_000.0;
        assert!((frac - 0.75).abs() < 0.02, "{frac}");
    }
}
