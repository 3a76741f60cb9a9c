//! Properties of the sampler chain (proptest): temperature 0 is argmax, top-p keeps the minimal
//! set, penalties touch only seen tokens, one seed gives one sequence, log-probs are normalised.

use nomoat_engine::sample::{
    log_softmax_top_n, Candidates, Penalties, Sampler, SamplerChain, SamplingParams, TopP,
};
use proptest::prelude::*;

fn logits_strategy() -> impl Strategy<Value = Vec<f32>> {
    prop::collection::vec(-20.0f32..20.0, 2..300)
}

fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &x) in xs.iter().enumerate() {
        if x > xs[best] {
            best = i;
        }
    }
    best as u32
}

proptest! {
    #[test]
    fn temperature_zero_is_argmax(logits in logits_strategy(), top_k in 0i32..50, top_p in 0.1f32..1.0, min_p in 0.0f32..0.5) {
        let params = SamplingParams { temp: 0.0, top_k, top_p, min_p, ..Default::default() };
        let mut chain = SamplerChain::new(params, logits.len());
        prop_assert_eq!(chain.sample(&logits), argmax(&logits));
    }

    #[test]
    fn tiny_temperature_samples_argmax(logits in logits_strategy(), seed in any::<u64>()) {
        // A clear winner (margin 1) at temperature 0.01: the others have weight < e^-100.
        let mut l = logits.clone();
        let m = argmax(&l) as usize;
        l[m] += 1.0;
        let params = SamplingParams { temp: 0.01, top_k: 0, top_p: 1.0, min_p: 0.0, seed, ..Default::default() };
        let mut chain = SamplerChain::new(params, l.len());
        prop_assert_eq!(chain.sample(&l), m as u32);
    }

    #[test]
    fn top_p_keeps_the_minimal_set(logits in logits_strategy(), p in 0.05f32..0.99) {
        let mut c = Candidates::default();
        c.fill(&logits);
        TopP { p, min_keep: 1 }.apply(&mut c);
        // Kept tokens are the most likely ones, their mass reaches p, and without the last one
        // it does not.
        let mut all = Candidates::default();
        all.fill(&logits);
        all.softmax();
        all.sort_desc();
        let kept: Vec<u32> = c.data.iter().map(|t| t.id).collect();
        let best: Vec<u32> = all.data[..kept.len()].iter().map(|t| t.id).collect();
        prop_assert_eq!(&kept, &best);
        let mass: f32 = c.data.iter().map(|t| t.p).sum();
        let without_last = mass - c.data.last().unwrap().p;
        prop_assert!(mass >= p - 1e-5 || kept.len() == logits.len());
        prop_assert!(without_last < p + 1e-5);
    }

    #[test]
    fn penalties_touch_only_seen_tokens(
        logits in logits_strategy(),
        seen in prop::collection::vec(0u32..300, 0..40),
        repeat in 0.5f32..2.0, freq in 0.0f32..1.0, presence in 0.0f32..1.0,
    ) {
        let mut p = Penalties::new(64, repeat, freq, presence, logits.len());
        for &t in &seen { p.accept(t); }
        let mut l = logits.clone();
        p.adjust_logits(&mut l);
        for (i, (&a, &b)) in logits.iter().zip(&l).enumerate() {
            if !seen.contains(&(i as u32)) {
                prop_assert_eq!(a, b);
            }
        }
    }

    #[test]
    fn same_seed_same_sequence(logits in logits_strategy(), seed in any::<u64>()) {
        let params = SamplingParams { temp: 1.0, seed, ..Default::default() };
        let run = || {
            let mut chain = SamplerChain::new(params.clone(), logits.len());
            (0..20).map(|_| { let t = chain.sample(&logits); chain.accept(t); t }).collect::<Vec<_>>()
        };
        prop_assert_eq!(run(), run());
    }

    #[test]
    fn log_probs_are_normalised_and_sorted(logits in logits_strategy()) {
        let mut out = Vec::new();
        log_softmax_top_n(&logits, logits.len(), &mut out);
        let total: f64 = out.iter().map(|e| e.1.exp()).sum();
        prop_assert!((total - 1.0).abs() < 1e-9);
        prop_assert!(out.windows(2).all(|w| w[0].1 >= w[1].1));
    }
}
