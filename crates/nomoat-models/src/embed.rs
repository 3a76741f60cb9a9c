//! Sentence embeddings from a model: run the tokens of one input, take the final-normed hidden
//! state of each ([`Model::forward_hidden`], llama.cpp's `result_norm`) and pool them into one
//! vector the way llama.cpp's `llama_pooling_type` says ([`Pooling`]).
//!
//! [`Model::embed`] runs an input in a private KV cache sized for it (dropped afterwards), so an
//! embedding never takes blocks from, or sees, the sequences a server is generating; it only
//! needs the caller's scratch, and the caller's thread (the backend's thread pool is driven by
//! one thread at a time).

use std::fmt;
use std::str::FromStr;

use nomoat_gguf::Gguf;

use crate::{Batch, KvDtype, Model, ModelError, Scratch};

/// How the per-token hidden states of one input become one vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pooling {
    /// Average of every token's state (llama.cpp `LLAMA_POOLING_TYPE_MEAN`, 1).
    Mean,
    /// The first token's state (`CLS`, 2): for a causal model, the BOS token.
    Cls,
    /// The last token's state (`LAST`, 3): the only token that has seen the whole input in a
    /// causal model; what Qwen3-Embedding is trained for.
    Last,
}

impl Pooling {
    pub fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Last => "last",
        }
    }

    /// What the file's `{arch}.pooling_type` asks for: `Ok(None)` when the key is absent or
    /// says `none` (0: per-token output, which no embeddings API returns), an error naming the
    /// value for `rank` (4, a reranker's classification head, which nomoat does not run) or
    /// anything unknown.
    pub fn from_file(g: &Gguf) -> Result<Option<Pooling>, String> {
        let Ok(arch) = g.architecture() else {
            return Ok(None);
        };
        let key = format!("{arch}.pooling_type");
        let Some(v) = g.get(&key) else {
            return Ok(None);
        };
        match v.as_i64() {
            Some(-1) | Some(0) => Ok(None),
            Some(1) => Ok(Some(Pooling::Mean)),
            Some(2) => Ok(Some(Pooling::Cls)),
            Some(3) => Ok(Some(Pooling::Last)),
            Some(4) => Err(format!(
                "the model file asks for `rank` pooling ({key} = 4, a reranker head), which nomoat \
                 does not support; pass --pooling mean|cls|last to embed with this model anyway"
            )),
            _ => Err(format!(
                "{key} = {v} is not a pooling type llama.cpp knows (0 none, 1 mean, 2 cls, 3 last, \
                 4 rank); pass --pooling mean|cls|last"
            )),
        }
    }
}

impl fmt::Display for Pooling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Pooling, String> {
        match s {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "last" => Ok(Pooling::Last),
            "rank" => Err("rank pooling (reranker heads) is not supported".into()),
            "none" => Err(
                "pooling `none` gives one vector per token, which no embeddings API \
                           returns; use mean, cls or last"
                    .into(),
            ),
            other => Err(format!("unknown pooling `{other}` (mean, cls or last)")),
        }
    }
}

/// Pools hidden-state rows of one input, fed in position order, chunk by chunk.
#[derive(Debug)]
pub struct Pooler {
    pooling: Pooling,
    n_tokens: usize,
    n_embd: usize,
    acc: Vec<f64>,
}

impl Pooler {
    /// For an input of `n_tokens` tokens (at least 1) and states of `n_embd` values.
    pub fn new(pooling: Pooling, n_tokens: usize, n_embd: usize) -> Pooler {
        Pooler {
            pooling,
            n_tokens,
            n_embd,
            acc: vec![0.0; n_embd],
        }
    }

    /// Whether the state of the token at `pos` is needed (only those rows are computed through
    /// the final norm and copied out).
    pub fn wants(&self, pos: usize) -> bool {
        match self.pooling {
            Pooling::Mean => true,
            Pooling::Cls => pos == 0,
            Pooling::Last => pos + 1 == self.n_tokens,
        }
    }

    /// Takes the next wanted rows (n × n_embd), in position order.
    pub fn push(&mut self, rows: &[f32]) {
        for row in rows.chunks_exact(self.n_embd) {
            match self.pooling {
                Pooling::Mean => {
                    for (a, &x) in self.acc.iter_mut().zip(row) {
                        *a += x as f64;
                    }
                }
                Pooling::Cls | Pooling::Last => {
                    for (a, &x) in self.acc.iter_mut().zip(row) {
                        *a = x as f64;
                    }
                }
            }
        }
    }

    /// The pooled vector (not normalised).
    pub fn finish(self) -> Vec<f32> {
        let div = match self.pooling {
            Pooling::Mean => self.n_tokens.max(1) as f64,
            Pooling::Cls | Pooling::Last => 1.0,
        };
        self.acc.iter().map(|&a| (a / div) as f32).collect()
    }
}

/// Scales `v` to unit Euclidean length (llama.cpp's `common_embd_normalize` with norm 2, the
/// default of its embeddings endpoints); an all-zero vector stays zero.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
    let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
    for x in v {
        *x = (*x as f64 * scale) as f32;
    }
}

/// One input being embedded, resumable chunk by chunk ([`EmbedRun::step`]), so a caller that
/// also generates can interleave a long input with its decode steps. Holds a KV cache of its own,
/// sized for the input and freed when the run is dropped.
#[derive(Debug)]
pub struct EmbedRun {
    tokens: Vec<u32>,
    next: usize,
    kv: crate::KvCache,
    seq: crate::SeqId,
    pooler: Pooler,
    batch: Batch,
    rows: Vec<f32>,
}

impl EmbedRun {
    /// Tokens still to run.
    pub fn remaining(&self) -> usize {
        self.tokens.len() - self.next
    }

    /// Runs up to `max_tokens` more tokens (at least one; chunked further by the scratch's
    /// size); the pooled, unnormalised vector once the last token has run.
    pub fn step(
        &mut self,
        model: &Model,
        scratch: &mut Scratch,
        max_tokens: usize,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        let end = self
            .next
            .saturating_add(max_tokens.max(1))
            .min(self.tokens.len());
        let step = scratch.max_batch().max(1);
        while self.next < end {
            let stop = (self.next + step).min(end);
            self.batch.clear();
            for pos in self.next..stop {
                let want = self.pooler.wants(pos);
                self.batch
                    .push(self.tokens[pos], pos as u32, self.seq, want);
            }
            model.forward_hidden(&self.batch, &mut self.kv, scratch, &mut self.rows)?;
            self.pooler.push(&self.rows);
            self.next = stop;
        }
        if self.next < self.tokens.len() {
            return Ok(None);
        }
        let n_embd = model.config().n_embd;
        let done = std::mem::replace(&mut self.pooler, Pooler::new(Pooling::Mean, 1, n_embd));
        Ok(Some(done.finish()))
    }
}

impl Model {
    /// Starts embedding `tokens` (non-empty, in the vocabulary): they run as one sequence from
    /// position 0 in a KV cache of their own; only the rows the pooling needs go through the
    /// final norm.
    pub fn embed_start(&self, tokens: Vec<u32>, pooling: Pooling) -> Result<EmbedRun, ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::BadBatch("nothing to embed: no tokens".into()));
        }
        const BLOCK: usize = 16;
        let mut kv = self.new_kv_cache(tokens.len(), BLOCK, KvDtype::F16)?;
        let seq = kv.alloc_seq();
        let pooler = Pooler::new(pooling, tokens.len(), self.config().n_embd);
        Ok(EmbedRun {
            tokens,
            next: 0,
            kv,
            seq,
            pooler,
            batch: Batch::new(),
            rows: Vec::new(),
        })
    }

    /// The pooled (unnormalised) embedding of `tokens` in one go ([`Model::embed_start`] run to
    /// the end, in chunks of the scratch's size).
    pub fn embed(
        &self,
        tokens: &[u32],
        pooling: Pooling,
        scratch: &mut Scratch,
    ) -> Result<Vec<f32>, ModelError> {
        let mut run = self.embed_start(tokens.to_vec(), pooling)?;
        loop {
            if let Some(v) = run.step(self, scratch, usize::MAX)? {
                return Ok(v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pooler_mean_cls_last() {
        let rows = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]; // 3 tokens × 2
        let mut p = Pooler::new(Pooling::Mean, 3, 2);
        assert!((0..3).all(|i| p.wants(i)));
        p.push(&rows[..2]);
        p.push(&rows[2..]);
        assert_eq!(p.finish(), vec![3.0, 4.0]);

        let p = Pooler::new(Pooling::Cls, 3, 2);
        assert_eq!(
            (0..3).map(|i| p.wants(i)).collect::<Vec<_>>(),
            [true, false, false]
        );
        let p = Pooler::new(Pooling::Last, 3, 2);
        assert_eq!(
            (0..3).map(|i| p.wants(i)).collect::<Vec<_>>(),
            [false, false, true]
        );
        let mut p = Pooler::new(Pooling::Last, 3, 2);
        p.push(&[]);
        p.push(&rows[4..]);
        assert_eq!(p.finish(), vec![5.0, 6.0]);
    }

    #[test]
    fn normalise_gives_unit_length_and_keeps_zero() {
        let mut v = [3.0f32, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }

    fn file_with(pooling: Option<u32>) -> Gguf {
        let mut w = nomoat_gguf::GgufWriter::new(3);
        w.add_kv("general.architecture", "qwen3");
        if let Some(p) = pooling {
            w.add_kv("qwen3.pooling_type", p);
        }
        Gguf::parse(&w.to_bytes()).expect("parse")
    }

    #[test]
    fn pooling_from_the_file_as_llama_cpp_numbers_it() {
        assert_eq!(Pooling::from_file(&file_with(None)), Ok(None));
        assert_eq!(Pooling::from_file(&file_with(Some(0))), Ok(None));
        assert_eq!(
            Pooling::from_file(&file_with(Some(1))),
            Ok(Some(Pooling::Mean))
        );
        assert_eq!(
            Pooling::from_file(&file_with(Some(2))),
            Ok(Some(Pooling::Cls))
        );
        assert_eq!(
            Pooling::from_file(&file_with(Some(3))),
            Ok(Some(Pooling::Last))
        );
        let rank = Pooling::from_file(&file_with(Some(4))).unwrap_err();
        assert!(
            rank.contains("rank") && rank.contains("--pooling"),
            "{rank}"
        );
        assert!(Pooling::from_file(&file_with(Some(9))).is_err());
    }

    #[test]
    fn pooling_names_parse_and_refuse() {
        for p in [Pooling::Mean, Pooling::Cls, Pooling::Last] {
            assert_eq!(p.name().parse::<Pooling>(), Ok(p));
        }
        assert!("rank".parse::<Pooling>().unwrap_err().contains("rank"));
        assert!("none".parse::<Pooling>().is_err());
        assert!("max".parse::<Pooling>().is_err());
    }
}
