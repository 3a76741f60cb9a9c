//! Helpers shared by the model integration tests.
#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;

use nomoat_gguf::GgufFile;
use nomoat_models::{Batch, KvCache, KvDtype, LoadOptions, Model, Scratch, SeqId};

pub fn load(path: &Path) -> Model {
    let file = Arc::new(GgufFile::open(path).expect("open model"));
    Model::load(
        file,
        LoadOptions {
            threads: 2,
            ..LoadOptions::default()
        },
    )
    .expect("load model")
}

/// log-softmax of one row, in f64.
pub fn log_softmax(row: &[f32]) -> Vec<f64> {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let z: f64 = row.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln();
    row.iter().map(|&v| v as f64 - m - z).collect()
}

/// Index of the largest value (first on ties).
pub fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

/// A session over one sequence: feed tokens, get the last row's logits.
pub struct Session<'a> {
    pub model: &'a Model,
    pub kv: KvCache,
    pub seq: SeqId,
    pub scratch: Scratch,
    pub logits: Vec<f32>,
    batch: Batch,
}

impl<'a> Session<'a> {
    pub fn new(model: &'a Model, n_ctx: usize, max_batch: usize) -> Self {
        let mut kv = model
            .new_kv_cache(n_ctx, 16, KvDtype::F16)
            .expect("kv cache");
        let seq = kv.alloc_seq();
        Session {
            model,
            kv,
            seq,
            scratch: model.new_scratch(max_batch),
            logits: Vec::new(),
            batch: Batch::new(),
        }
    }

    /// Feeds `tokens` in one batch; logits for every row if `all`, else for the last only.
    pub fn feed(&mut self, tokens: &[u32], all: bool) -> &[f32] {
        self.batch.clear();
        let start = self.kv.seq_len(self.seq) as u32;
        for (i, &t) in tokens.iter().enumerate() {
            self.batch
                .push(t, start + i as u32, self.seq, all || i + 1 == tokens.len());
        }
        self.model
            .forward(
                &self.batch,
                &mut self.kv,
                &mut self.scratch,
                &mut self.logits,
            )
            .expect("forward");
        &self.logits
    }
}
