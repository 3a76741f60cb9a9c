//! The CPU backend: weights stay in the memory-mapped file or are repacked at load into the
//! kernels' interleaved layouts (on huge pages), activations are host vectors, and the work of
//! matmuls and attention is spread over a persistent thread pool. Which SIMD kernels run is the
//! kernels crate's dispatch table (chosen once from the CPU's features).
//!
//! Kernel-path choices made here, not in the models: llama.cpp's f16 attention path below
//! [`F16_ATTENTION_MAX_ROWS`] tokens (for log-prob parity), GELU through its f16 table.

mod kv;
mod workspace;

use std::sync::Arc;

use nomoat_gguf::{GgmlType, GgufFile};
use nomoat_kernels::ops::{self, AttnParams, RopeParams, SeqTables};
use nomoat_kernels::{ThreadPool, WeightMatrix};

use crate::backend::{
    Act, Activation, Attention, Backend, BackendError, BackendOptions, Gating, KvGeometry, KvStore,
    MatrixId, RopeId, StepInput, VectorId, WeightMemory, Workspace, WorkspaceSpec,
};
use kv::CpuKv;
use workspace::CpuWorkspace;

/// Registry name.
pub const NAME: &str = "cpu";

/// Below this many tokens in a step (decode, short prompts), attention follows llama.cpp's CPU
/// flash-attention vector kernel (its choice for fewer than 64 query tokens) when
/// [`BackendOptions::llama_cpp_attention`] is on.
pub const F16_ATTENTION_MAX_ROWS: usize = 64;

/// The CPU backend.
pub struct CpuBackend {
    opts: BackendOptions,
    pool: ThreadPool,
    matrices: Vec<WeightMatrix>,
    vectors: Vec<Vec<f32>>,
    ropes: Vec<RopeParams>,
}

impl std::fmt::Debug for CpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CpuBackend")
            .field("threads", &self.pool.n_threads())
            .field("matrices", &self.matrices.len())
            .field("vectors", &self.vectors.len())
            .finish()
    }
}

/// Makes a CPU backend (the registry's constructor).
pub fn create(opts: &BackendOptions) -> Result<Box<dyn Backend>, BackendError> {
    Ok(Box::new(CpuBackend::new(opts)))
}

/// One line per weight type naming the kernels this CPU runs (for `nomoat show` / `bench`).
pub fn describe_kernels() -> String {
    nomoat_kernels::describe()
}

impl CpuBackend {
    pub fn new(opts: &BackendOptions) -> CpuBackend {
        let threads = match opts.threads {
            0 => crate::default_threads(),
            n => n,
        };
        CpuBackend {
            opts: opts.clone(),
            pool: ThreadPool::new(threads),
            matrices: Vec::new(),
            vectors: Vec::new(),
            ropes: Vec::new(),
        }
    }

    fn ws<'a>(&self, ws: &'a mut Workspace) -> &'a mut CpuWorkspace {
        ws.get_mut::<CpuWorkspace>()
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> String {
        use nomoat_kernels::dispatch::Level;
        let k = nomoat_kernels::kernels();
        let level = match k.level {
            Level::Scalar => "scalar",
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        };
        let tile = k.tile_dot_kernel().1;
        format!(
            "cpu: {level} kernels (prompt tiles {tile}), {} threads",
            self.pool.n_threads()
        )
    }

    fn n_threads(&self) -> usize {
        self.pool.n_threads()
    }

    fn supports(&self, ty: GgmlType) -> bool {
        nomoat_kernels::supported(ty)
    }

    fn load_matrix(&mut self, file: &Arc<GgufFile>, name: &str) -> Result<MatrixId, BackendError> {
        let err = |reason: String| BackendError::Tensor {
            tensor: name.to_owned(),
            reason,
        };
        let t = file
            .gguf()
            .tensor(name)
            .ok_or_else(|| err("not in the file".into()))?;
        let range = file.gguf().tensor_range(t);
        let conv = |v: u64| usize::try_from(v).map_err(|_| err("too large".into()));
        let (rows, cols) = (conv(t.n_rows())?, conv(t.row_len())?);
        let (start, end) = (conv(range.start)?, conv(range.end)?);
        let mut m = WeightMatrix::new(Arc::clone(file), t.ty, rows, cols, start..end)
            .map_err(|e| err(e.to_string()))?;
        if self.opts.repack {
            m.pack(&self.pool);
        }
        self.matrices.push(m);
        Ok(MatrixId(self.matrices.len() as u32 - 1))
    }

    fn load_vector(&mut self, values: &[f32]) -> VectorId {
        self.vectors.push(values.to_vec());
        VectorId(self.vectors.len() as u32 - 1)
    }

    fn add_rope(&mut self, rope: RopeParams) -> RopeId {
        self.ropes.push(rope);
        RopeId(self.ropes.len() as u32 - 1)
    }

    fn matrix_shape(&self, m: MatrixId) -> (usize, usize) {
        let w = &self.matrices[m.0 as usize];
        (w.n_rows(), w.n_cols())
    }

    fn weight_memory(&self) -> WeightMemory {
        WeightMemory {
            vector_bytes: 4 * self.vectors.iter().map(Vec::len).sum::<usize>(),
            repacked_bytes: self.matrices.iter().map(WeightMatrix::packed_bytes).sum(),
            device_bytes: 0,
        }
    }

    fn new_workspace(&self, spec: &WorkspaceSpec) -> Workspace {
        let widths: Vec<usize> = self.ropes.iter().map(|r| r.n_rot).collect();
        let w = CpuWorkspace::new(spec, &widths);
        let (rows, bytes) = (w.max_rows, w.bytes());
        Workspace::new(NAME, w, rows, bytes)
    }

    fn new_kv_store(&self, geom: &KvGeometry) -> Result<Box<dyn KvStore>, BackendError> {
        Ok(Box::new(CpuKv::new(geom)?))
    }

    fn begin_step(&self, ws: &mut Workspace, step: &StepInput<'_>) {
        let w = self.ws(ws);
        let n = step.tokens.len();
        assert!(
            n <= w.max_rows && step.positions.len() == n && step.ranges.len() == n,
            "step of {n} tokens for a workspace of {} rows",
            w.max_rows
        );
        w.tokens.clear();
        w.tokens.extend_from_slice(step.tokens);
        w.pos.clear();
        w.pos.extend_from_slice(step.positions);
        w.ranges.clear();
        w.ranges.extend_from_slice(step.ranges);
        w.table.clear();
        w.table.extend_from_slice(step.table);
        for (rope, cache) in self.ropes.iter().zip(&mut w.rope) {
            let nr = rope.n_rot;
            for (t, &p) in step.positions.iter().enumerate() {
                ops::rope_cache(rope, p, &mut cache[t * nr..(t + 1) * nr]);
            }
        }
    }

    fn embed(&self, ws: &mut Workspace, table: MatrixId, out: Act) {
        let w = self.ws(ws);
        let n = w.tokens.len();
        let m = &self.matrices[table.0 as usize];
        assert_eq!(w.width(out), m.n_cols(), "embedding width");
        let tokens = std::mem::take(&mut w.tokens);
        m.get_rows(&tokens, w.get_mut(out, n));
        w.tokens = tokens;
    }

    fn matmul(&self, ws: &mut Workspace, m: MatrixId, x: Act, y: Act, rows: usize) {
        let w = self.ws(ws);
        let m = &self.matrices[m.0 as usize];
        assert!(
            w.width(x) == m.n_cols() && w.width(y) == m.n_rows(),
            "matmul of a {}×{} matrix from a slot of {} to one of {}",
            m.n_rows(),
            m.n_cols(),
            w.width(x),
            w.width(y)
        );
        let (yv, xv) = w.pair(y, x, rows);
        m.matmul(&self.pool, xv, rows, yv);
    }

    fn add_bias(&self, ws: &mut Workspace, x: Act, bias: VectorId, rows: usize) {
        let b = &self.vectors[bias.0 as usize];
        for row in self.ws(ws).get_mut(x, rows).chunks_exact_mut(b.len()) {
            ops::add_assign(row, b);
        }
    }

    fn rms_norm(&self, ws: &mut Workspace, x: Act, w: VectorId, eps: f32, out: Act, rows: usize) {
        let wv = &self.vectors[w.0 as usize];
        let s = self.ws(ws);
        if x == out {
            ops::rms_norm_inplace(s.get_mut(x, rows), wv, eps);
        } else {
            let (o, xv) = s.pair(out, x, rows);
            ops::rms_norm(xv, wv, eps, o);
        }
    }

    fn add(&self, ws: &mut Workspace, x: Act, y: Act, rows: usize) {
        let (xv, yv) = self.ws(ws).pair(x, y, rows);
        ops::add_assign(xv, yv);
    }

    fn mul(&self, ws: &mut Workspace, x: Act, y: Act, rows: usize) {
        let (xv, yv) = self.ws(ws).pair(x, y, rows);
        ops::mul_assign(xv, yv);
    }

    fn scale(&self, ws: &mut Workspace, x: Act, s: f32, rows: usize) {
        ops::scale(self.ws(ws).get_mut(x, rows), s);
    }

    fn glu(&self, ws: &mut Workspace, gate: Act, up: Act, f: Activation, rows: usize) {
        let (g, u) = self.ws(ws).pair(gate, up, rows);
        match f {
            // In place: each element's gate and up are read before it is written.
            Activation::Silu => {
                for (g, &u) in g.iter_mut().zip(u) {
                    *g = ops::silu(*g) * u;
                }
            }
            Activation::Gelu => {
                ops::gelu_inplace(g, self.opts.gelu);
                ops::mul_assign(g, u);
            }
        }
    }

    fn rope(&self, ws: &mut Workspace, x: Act, head_dim: usize, rope: RopeId, rows: usize) {
        let r = &self.ropes[rope.0 as usize];
        let s = self.ws(ws);
        let width = s.width(x);
        let cache = std::mem::take(&mut s.rope[rope.0 as usize]);
        let xv = s.get_mut(x, rows);
        for (t, row) in xv.chunks_exact_mut(width).enumerate() {
            let c = &cache[t * r.n_rot..(t + 1) * r.n_rot];
            ops::rope_apply(row, head_dim, c, r.mode);
        }
        s.rope[rope.0 as usize] = cache;
    }

    fn attention(
        &self,
        ws: &mut Workspace,
        kv: &mut dyn KvStore,
        layer: usize,
        [q, k, v]: [Act; 3],
        out: Act,
        a: &Attention,
        rows: usize,
    ) {
        let kv = kv
            .as_any_mut()
            .downcast_mut::<CpuKv>()
            .expect("a KV store of another backend given to the CPU backend");
        let s = self.ws(ws);
        let bs = kv.geometry().block_size;
        let (kd, vd) = (s.width(k), s.width(v));
        for t in 0..rows {
            let (start, len) = s.ranges[t];
            let pos = s.pos[t] as usize;
            assert!(
                pos / bs < len as usize,
                "position {pos} outside its block table"
            );
            let block = s.table[start as usize + pos / bs];
            let (kr, vr) = (
                &s.get(k, rows)[t * kd..(t + 1) * kd],
                &s.get(v, rows)[t * vd..],
            );
            kv.write(layer, block, pos % bs, kr, &vr[..vd]);
        }
        let p = AttnParams {
            n_head: a.n_head,
            n_kv_head: a.n_kv_head,
            head_dim_k: a.head_dim_k,
            head_dim_v: a.head_dim_v,
            scale: a.scale,
            window: a.window,
            softcap: a.softcap,
            f16_vec_path: self.opts.llama_cpp_attention && rows < F16_ATTENTION_MAX_ROWS,
        };
        let (pos, ranges, table) = (
            std::mem::take(&mut s.pos),
            std::mem::take(&mut s.ranges),
            std::mem::take(&mut s.table),
        );
        let tabs = SeqTables {
            pos: &pos[..rows],
            ranges: &ranges[..rows],
            table: &table,
        };
        let (o, qv) = s.pair(out, q, rows);
        ops::attention(&self.pool, &p, qv, &kv.layer(layer), &tabs, o);
        (s.pos, s.ranges, s.table) = (pos, ranges, table);
    }

    fn route_top_k(
        &self,
        ws: &mut Workspace,
        scores: Act,
        k: usize,
        gating: Gating,
        ids: Act,
        weights: Act,
        rows: usize,
    ) {
        let s = self.ws(ws);
        let n = s.width(scores);
        assert!(k >= 1 && k <= n && s.width(ids) == k && s.width(weights) == k);
        assert!(k <= 64, "at most 64 experts per token");
        for t in 0..rows {
            let row = &s.get(scores, rows)[t * n..(t + 1) * n];
            let mut best = [(0usize, f32::NEG_INFINITY); 64];
            let best = &mut best[..k];
            // Insertion into a sorted top-k list: k is small (1..=16 in practice).
            for (e, &v) in row.iter().enumerate() {
                if v > best[k - 1].1 {
                    let mut i = k - 1;
                    while i > 0 && best[i - 1].1 < v {
                        best[i] = best[i - 1];
                        i -= 1;
                    }
                    best[i] = (e, v);
                }
            }
            let mut w = [0f32; 64];
            match gating {
                Gating::SoftmaxTopK { renorm } => {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let z: f32 = row.iter().map(|&v| (v - max).exp()).sum();
                    for (wi, &(_, v)) in w.iter_mut().zip(best.iter()) {
                        *wi = (v - max).exp() / z;
                    }
                    if renorm {
                        let sum: f32 = w[..k].iter().sum();
                        w[..k].iter_mut().for_each(|x| *x /= sum);
                    }
                }
                Gating::TopKSoftmax => {
                    let max = best[0].1;
                    for (wi, &(_, v)) in w.iter_mut().zip(best.iter()) {
                        *wi = (v - max).exp();
                    }
                    let sum: f32 = w[..k].iter().sum();
                    w[..k].iter_mut().for_each(|x| *x /= sum);
                }
            }
            let ids_row = &mut s.get_mut(ids, rows)[t * k..(t + 1) * k];
            for (d, &(e, _)) in ids_row.iter_mut().zip(best.iter()) {
                *d = e as f32;
            }
            s.get_mut(weights, rows)[t * k..(t + 1) * k].copy_from_slice(&w[..k]);
        }
    }

    fn select_rows(&self, ws: &mut Workspace, src: Act, dst: Act, want: &[bool]) -> usize {
        let s = self.ws(ws);
        let w = s.width(src);
        assert_eq!(
            w,
            s.width(dst),
            "select_rows between slots of different widths"
        );
        let (d, sv) = s.pair(dst, src, want.len());
        let mut n = 0;
        for (t, _) in want.iter().enumerate().filter(|(_, &w)| w) {
            d[n * w..(n + 1) * w].copy_from_slice(&sv[t * w..(t + 1) * w]);
            n += 1;
        }
        n
    }

    fn logits(
        &self,
        ws: &mut Workspace,
        head: MatrixId,
        x: Act,
        rows: usize,
        softcap: Option<f32>,
        out: &mut [f32],
    ) {
        let m = &self.matrices[head.0 as usize];
        let xv = self.ws(ws).get(x, rows);
        m.matmul(&self.pool, xv, rows, out);
        if let Some(c) = softcap {
            out.iter_mut().for_each(|v| *v = c * (*v / c).tanh());
        }
    }

    fn read(&self, ws: &mut Workspace, x: Act, rows: usize, out: &mut [f32]) {
        out.copy_from_slice(self.ws(ws).get(x, rows));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend() -> CpuBackend {
        CpuBackend::new(&BackendOptions {
            threads: 1,
            ..BackendOptions::default()
        })
    }

    #[test]
    fn routing_picks_the_top_k_and_weights_them() {
        let mut be = backend();
        let (scores, ids, weights) = (Act(0), Act(1), Act(2));
        let mut ws = be.new_workspace(&WorkspaceSpec {
            max_rows: 2,
            widths: vec![4, 2, 2],
        });
        be.begin_step(
            &mut ws,
            &StepInput {
                tokens: &[0, 0],
                positions: &[0, 1],
                ranges: &[(0, 1), (0, 1)],
                table: &[0],
            },
        );
        let w = ws.get_mut::<CpuWorkspace>();
        w.get_mut(scores, 2)
            .copy_from_slice(&[0.1, 2.0, -1.0, 1.0, 5.0, 5.0, 0.0, 4.0]);
        let mut got_ids = [0f32; 4];
        let mut got_w = [0f32; 4];
        be.route_top_k(&mut ws, scores, 2, Gating::TopKSoftmax, ids, weights, 2);
        be.read(&mut ws, ids, 2, &mut got_ids);
        be.read(&mut ws, weights, 2, &mut got_w);
        assert_eq!(
            got_ids,
            [1.0, 3.0, 0.0, 1.0],
            "ties keep the lower index first"
        );
        let e = 1f32.exp();
        assert!((got_w[0] - e / (e + 1.0)).abs() < 1e-6);
        assert!((got_w[2] - 0.5).abs() < 1e-6 && (got_w[3] - 0.5).abs() < 1e-6);
        be.route_top_k(
            &mut ws,
            scores,
            2,
            Gating::SoftmaxTopK { renorm: false },
            ids,
            weights,
            2,
        );
        be.read(&mut ws, weights, 2, &mut got_w);
        let z: f32 = [0.1f32, 2.0, -1.0, 1.0]
            .iter()
            .map(|v| (v - 2.0).exp())
            .sum();
        assert!((got_w[0] - 1.0 / z).abs() < 1e-6);
        assert!((got_w[1] - (-1f32).exp() / z).abs() < 1e-6);
        let _ = &mut be;
    }

    #[test]
    fn kv_store_round_trips_and_copies_blocks() {
        let be = backend();
        let geom = KvGeometry {
            n_layer: 2,
            n_kv_head: 2,
            head_dim_k: 4,
            head_dim_v: 2,
            block_size: 4,
            n_blocks: 3,
            dtype: nomoat_kernels::ops::KvDtype::F32,
        };
        let mut kv = be.new_kv_store(&geom).unwrap();
        assert_eq!(kv.bytes(), 3 * 2 * 4 * 2 * (4 + 2) * 4);
        let k: Vec<f32> = (0..8).map(|i| i as f32).collect();
        kv.write(1, 2, 3, &k, &[9.0, 8.0, 7.0, 6.0]);
        kv.copy_block(2, 0);
        let (mut k2, mut v2) = (vec![0.0; 8], vec![0.0; 4]);
        kv.read(1, 0, 3, &mut k2, &mut v2);
        assert_eq!((k2, v2), (k, vec![9.0, 8.0, 7.0, 6.0]));
        let huge = KvGeometry {
            n_blocks: usize::MAX / 2,
            block_size: 1 << 20,
            ..geom
        };
        assert!(be.new_kv_store(&huge).is_err());
    }
}
