//! [`WeightMatrix`]: the crate's matmul entry point, the one handle through which a weight matrix
//! is multiplied or looked up.
//!
//! A matrix starts as rows in GGUF layout inside the memory-mapped file (borrowed in place) and
//! may be repacked at load into 8-row interleaved groups ([`crate::packed`]). Callers only say
//! `matmul(pool, x, m, y)`; the handle picks the form and the drivers the kernels:
//! - repacked groups: [`crate::packed::matmul_packed`] (llama.cpp-order group kernels below
//!   [`crate::packed::EXACT_BELOW_TOKENS`] tokens, block-sum ones from it);
//! - GGUF rows: [`crate::matmul::matmul`] (dot kernels below [`crate::matmul::R8_MIN_TOKENS`]
//!   tokens, per-call R8 tiles of [`crate::repack`] from it, for the types that have them).

use std::ops::Range;
use std::sync::Arc;

use nomoat_gguf::{GgmlType, GgufFile};

use crate::matmul::{matmul, Matrix};
use crate::packed::{matmul_packed, PackedMatrix};
use crate::pool::ThreadPool;
use crate::KernelError;

/// A weight matrix of `n_rows` output features × `n_cols` input features, stored in a mapped
/// GGUF file or repacked at load.
pub struct WeightMatrix {
    file: Arc<GgufFile>,
    ty: GgmlType,
    n_rows: usize,
    n_cols: usize,
    /// Byte range of the tensor in the file.
    range: Range<usize>,
    /// The row-interleaved copy, when [`WeightMatrix::pack`] made one.
    packed: Option<PackedMatrix>,
}

impl std::fmt::Debug for WeightMatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WeightMatrix")
            .field("ty", &self.ty)
            .field("n_rows", &self.n_rows)
            .field("n_cols", &self.n_cols)
            .field("packed", &self.packed)
            .finish()
    }
}

impl WeightMatrix {
    /// The matrix stored at `range` of `file`. Checks the type is supported, the rows are whole
    /// blocks and the range holds exactly the matrix.
    pub fn new(
        file: Arc<GgufFile>,
        ty: GgmlType,
        n_rows: usize,
        n_cols: usize,
        range: Range<usize>,
    ) -> Result<WeightMatrix, KernelError> {
        let len = file.bytes().len();
        if range.start > range.end || range.end > len {
            return Err(KernelError::BadDataLength {
                ty,
                n_rows,
                n_cols,
                expected: range.end.saturating_sub(range.start),
                got: len.saturating_sub(range.start),
            });
        }
        Matrix::new(ty, n_rows, n_cols, &file.bytes()[range.clone()])?;
        Ok(WeightMatrix {
            file,
            ty,
            n_rows,
            n_cols,
            range,
            packed: None,
        })
    }

    /// The source type (the GGUF tensor type, also after repacking).
    pub fn ty(&self) -> GgmlType {
        self.ty
    }
    /// Output features (N).
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }
    /// Input features (K).
    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    /// Bytes of the repacked copy (0 while the matrix is read from the file).
    pub fn packed_bytes(&self) -> usize {
        self.packed.as_ref().map_or(0, PackedMatrix::bytes)
    }

    /// The GGUF-layout view in the mapped file.
    fn mapped(&self) -> Matrix<'_> {
        Matrix::new(
            self.ty,
            self.n_rows,
            self.n_cols,
            &self.file.bytes()[self.range.clone()],
        )
        .expect("checked by WeightMatrix::new")
    }

    /// Repacks into the row-interleaved layout when one applies to this type and shape (in
    /// parallel on `pool`), releasing the file's pages of each finished slice from the resident
    /// set. Returns the bytes of the copy (0 when nothing was packed).
    pub fn pack(&mut self, pool: &ThreadPool) -> usize {
        if self.packed.is_none() {
            let m = self.mapped();
            let (file, start, row_bytes) = (&self.file, self.range.start, m.row_bytes());
            let packed = PackedMatrix::pack(&m, pool, |rows| {
                file.release(start + rows.start * row_bytes..start + rows.end * row_bytes);
            });
            self.packed = packed;
        }
        self.packed_bytes()
    }

    /// `y = x · Wᵀ`: `x` is `m × n_cols` row-major, `y` is `m × n_rows` row-major.
    pub fn matmul(&self, pool: &ThreadPool, x: &[f32], m: usize, y: &mut [f32]) {
        match &self.packed {
            Some(p) => matmul_packed(pool, p, x, m, y),
            None => matmul(pool, &self.mapped(), x, m, y),
        }
    }

    /// Dequantizes rows `ids` into `out` (`ids.len() × n_cols`): embedding lookups.
    pub fn get_rows(&self, ids: &[u32], out: &mut [f32]) {
        match &self.packed {
            Some(p) => p.get_rows(ids, out),
            None => crate::ops::get_rows(
                self.ty,
                &self.file.bytes()[self.range.clone()],
                self.n_cols,
                ids,
                out,
            ),
        }
    }
}
