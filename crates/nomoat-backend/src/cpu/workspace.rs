//! The CPU backend's workspace: one host vector per activation slot, sized for `max_rows` rows
//! at creation (zeroed pages are only made resident when first written), plus the step's tokens,
//! positions, block tables and RoPE cos/sin rows, whose capacity is kept across steps so the
//! token loop does not allocate once warm.

use crate::backend::{Act, WorkspaceSpec};

pub(crate) struct CpuWorkspace {
    pub max_rows: usize,
    widths: Vec<usize>,
    acts: Vec<Vec<f32>>,
    /// The step's inputs (see [`crate::StepInput`]).
    pub tokens: Vec<u32>,
    pub pos: Vec<u32>,
    pub ranges: Vec<(u32, u32)>,
    pub table: Vec<u32>,
    /// Per registered RoPE: `max_rows × n_rot` interleaved (cos, sin).
    pub rope: Vec<Vec<f32>>,
}

impl CpuWorkspace {
    pub(crate) fn new(spec: &WorkspaceSpec, rope_widths: &[usize]) -> CpuWorkspace {
        let r = spec.max_rows.max(1);
        CpuWorkspace {
            max_rows: r,
            widths: spec.widths.clone(),
            acts: spec.widths.iter().map(|&w| vec![0.0; r * w]).collect(),
            tokens: Vec::with_capacity(r),
            pos: Vec::with_capacity(r),
            ranges: Vec::with_capacity(r),
            table: Vec::new(),
            rope: rope_widths.iter().map(|&n| vec![0.0; r * n]).collect(),
        }
    }

    /// Bytes of the activation and RoPE buffers.
    pub(crate) fn bytes(&self) -> usize {
        4 * (self.acts.iter().map(Vec::len).sum::<usize>()
            + self.rope.iter().map(Vec::len).sum::<usize>())
    }

    pub(crate) fn width(&self, a: Act) -> usize {
        self.widths[a.0 as usize]
    }

    /// The first `rows` rows of slot `a`.
    pub(crate) fn get(&self, a: Act, rows: usize) -> &[f32] {
        let w = self.width(a);
        &self.acts[a.0 as usize][..rows * w]
    }

    pub(crate) fn get_mut(&mut self, a: Act, rows: usize) -> &mut [f32] {
        let w = self.width(a);
        &mut self.acts[a.0 as usize][..rows * w]
    }

    /// Two different slots, the first mutable.
    pub(crate) fn pair(&mut self, a: Act, b: Act, rows: usize) -> (&mut [f32], &[f32]) {
        let (wa, wb) = (self.width(a), self.width(b));
        let [x, y] = self
            .acts
            .get_disjoint_mut([a.0 as usize, b.0 as usize])
            .expect("an op's input and output slots must differ");
        (&mut x[..rows * wa], &y[..rows * wb])
    }
}
