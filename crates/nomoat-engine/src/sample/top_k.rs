//! Top-k: keeps the `k` highest logits (`k <= 0` disables it), leaving them sorted.

use super::{Candidates, Sampler};

#[derive(Debug)]
pub struct TopK(pub i32);

impl Sampler for TopK {
    fn name(&self) -> &'static str {
        "top-k"
    }
    fn apply(&mut self, c: &mut Candidates) {
        if self.0 <= 0 {
            return;
        }
        let k = (self.0 as usize).min(c.len());
        c.partial_sort_desc(k);
        c.truncate(k);
        c.sorted = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::cands;

    #[test]
    fn keeps_k_highest_in_order() {
        let mut c = cands(&[0.1, 0.9, 0.5, 0.7, 0.3]);
        TopK(3).apply(&mut c);
        let ids: Vec<u32> = c.data.iter().map(|t| t.id).collect();
        assert_eq!(ids, vec![1, 3, 2]);
        assert!(c.sorted);
    }

    #[test]
    fn zero_or_large_k() {
        let mut c = cands(&[0.1, 0.9]);
        TopK(0).apply(&mut c);
        assert_eq!(c.len(), 2);
        TopK(10).apply(&mut c);
        assert_eq!(c.len(), 2);
        assert_eq!(c.data[0].id, 1);
    }
}
