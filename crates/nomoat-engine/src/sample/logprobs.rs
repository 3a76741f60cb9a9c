//! Log-probabilities of the raw logits: natural log-softmax over the whole vocabulary, computed in
//! f64, as llama.cpp's tools report them (`n_probs`).

use super::TokenId;

/// `ln Σ exp(logit)` over all logits, in f64. NaN logits count as -inf.
pub fn log_sum_exp(logits: &[f32]) -> f64 {
    let max = logits
        .iter()
        .copied()
        .filter(|x| !x.is_nan())
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max as f64;
    }
    let max = max as f64;
    let sum: f64 = logits
        .iter()
        .filter(|x| !x.is_nan())
        .map(|&x| (x as f64 - max).exp())
        .sum();
    max + sum.ln()
}

/// Fills `out` with the `n` most likely tokens and their natural log-probabilities, most likely
/// first (ties: lower id first). Reuses `out`'s buffer; allocates nothing once it has capacity `n`.
pub fn log_softmax_top_n(logits: &[f32], n: usize, out: &mut Vec<(TokenId, f64)>) {
    out.clear();
    if n == 0 || logits.is_empty() {
        return;
    }
    // Select by raw logit (keeping (id, logit) while scanning), then convert.
    for (i, &l) in logits.iter().enumerate() {
        if l.is_nan() {
            continue;
        }
        let l = l as f64;
        if out.len() == n {
            match out.last() {
                Some(&(_, worst)) if l > worst => {
                    out.pop();
                }
                _ => continue,
            }
        }
        let pos = out.partition_point(|&(_, v)| v >= l);
        out.insert(pos, (i as TokenId, l));
    }
    let lse = log_sum_exp(logits);
    for e in out.iter_mut() {
        e.1 -= lse;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_direct_log_softmax() {
        let logits = [1.0f32, 3.0, -2.0, 3.0, 0.5];
        let mut out = Vec::new();
        log_softmax_top_n(&logits, 3, &mut out);
        let z: f64 = logits.iter().map(|&x| (x as f64).exp()).sum();
        let ids: Vec<u32> = out.iter().map(|e| e.0).collect();
        assert_eq!(ids, vec![1, 3, 0]);
        for &(id, lp) in &out {
            let want = (logits[id as usize] as f64) - z.ln();
            assert!((lp - want).abs() < 1e-12);
        }
    }

    #[test]
    fn n_larger_than_vocab_and_zero() {
        let mut out = Vec::new();
        log_softmax_top_n(&[0.0, 0.0], 5, &mut out);
        assert_eq!(out.len(), 2);
        let total: f64 = out.iter().map(|e| e.1.exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        log_softmax_top_n(&[0.0, 0.0], 0, &mut out);
        assert!(out.is_empty());
    }
}
