//! Weight handles: where each tensor lives in the mapped file. Matrices stay in the mapping and are
//! borrowed per forward pass; only the small F32 vectors (norm weights, biases: a few KB per layer)
//! are copied out at load, because the mapping gives no alignment guarantee for `&[f32]` and this
//! crate has no `unsafe`.

use std::sync::Arc;

use nomoat_gguf::{GgmlType, GgufFile, TensorInfo};
use nomoat_kernels::{Matrix, PackedMatrix, ThreadPool};

use crate::ModelError;

/// A matrix in the mapped file: `n_rows` output features of `n_cols` inputs each.
#[derive(Clone, Debug)]
pub(crate) struct MatrixRef {
    pub ty: GgmlType,
    pub n_rows: usize,
    pub n_cols: usize,
    pub start: usize,
    pub end: usize,
    /// The row-interleaved copy made at load when the layout applies (then the kernels and
    /// embedding lookups read it, and the mapping's pages of this tensor are released).
    pub packed: Option<Arc<PackedMatrix>>,
}

impl MatrixRef {
    pub(crate) fn from_info(file: &GgufFile, t: &TensorInfo) -> Result<MatrixRef, ModelError> {
        let range = file.gguf().tensor_range(t);
        let conv = |v: u64| {
            usize::try_from(v)
                .map_err(|_| ModelError::Unsupported(format!("tensor `{}` too large", t.name)))
        };
        let m = MatrixRef {
            ty: t.ty,
            n_rows: conv(t.n_rows())?,
            n_cols: conv(t.row_len())?,
            start: conv(range.start)?,
            end: conv(range.end)?,
            packed: None,
        };
        // Check once that the kernels accept it, so `matrix` cannot fail later.
        Matrix::new(m.ty, m.n_rows, m.n_cols, m.bytes(file))
            .map_err(|e| ModelError::Unsupported(format!("tensor `{}`: {e}", t.name)))?;
        Ok(m)
    }

    pub(crate) fn bytes<'a>(&self, file: &'a GgufFile) -> &'a [u8] {
        &file.bytes()[self.start..self.end]
    }

    /// Repack into the row-interleaved layout if it applies, releasing the source pages from the
    /// resident set as each slice is done. Returns the bytes of the copy (0 if not packed).
    pub(crate) fn pack(&mut self, file: &GgufFile, pool: &ThreadPool) -> usize {
        if self.packed.is_some() {
            return 0;
        }
        let m = self.matrix(file);
        let row_bytes = m.row_bytes();
        let start = self.start;
        self.packed = PackedMatrix::pack(&m, pool, |rows| {
            file.release(start + rows.start * row_bytes..start + rows.end * row_bytes);
        })
        .map(Arc::new);
        self.packed.as_ref().map_or(0, |p| p.bytes())
    }

    /// The kernels' view of this matrix (checked at load, so this does not fail).
    pub(crate) fn matrix<'a>(&self, file: &'a GgufFile) -> Matrix<'a> {
        Matrix::new(self.ty, self.n_rows, self.n_cols, self.bytes(file))
            .expect("matrix checked at load")
    }
}

/// Reads an F32 vector tensor into an owned `Vec<f32>`.
pub(crate) fn f32_vector(file: &GgufFile, name: &str) -> Result<Vec<f32>, ModelError> {
    let t = file
        .gguf()
        .tensor(name)
        .ok_or_else(|| ModelError::MissingTensor { name: name.into() })?;
    if t.ty != GgmlType::F32 {
        return Err(ModelError::UnsupportedTensorType {
            name: name.into(),
            ty: t.ty,
            hint: " (norm weights and biases must be F32)",
        });
    }
    Ok(file
        .tensor_data(t)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

pub(crate) fn opt_f32_vector(file: &GgufFile, name: &str) -> Result<Option<Vec<f32>>, ModelError> {
    if file.gguf().tensor(name).is_none() {
        return Ok(None);
    }
    f32_vector(file, name).map(Some)
}

pub(crate) fn matrix(file: &GgufFile, name: &str) -> Result<MatrixRef, ModelError> {
    let t = file
        .gguf()
        .tensor(name)
        .ok_or_else(|| ModelError::MissingTensor { name: name.into() })?;
    MatrixRef::from_info(file, t)
}

/// One transformer block's weights. Optional parts depend on the architecture.
#[derive(Clone, Debug)]
pub(crate) struct LayerWeights {
    pub attn_norm: Vec<f32>,
    pub wq: MatrixRef,
    pub wk: MatrixRef,
    pub wv: MatrixRef,
    pub wo: MatrixRef,
    pub bq: Option<Vec<f32>>,
    pub bk: Option<Vec<f32>>,
    pub bv: Option<Vec<f32>>,
    pub q_norm: Option<Vec<f32>>,
    pub k_norm: Option<Vec<f32>>,
    pub post_attn_norm: Option<Vec<f32>>,
    pub ffn_norm: Vec<f32>,
    pub gate: MatrixRef,
    pub up: MatrixRef,
    pub down: MatrixRef,
    pub post_ffw_norm: Option<Vec<f32>>,
}

impl LayerWeights {
    pub(crate) fn load(file: &GgufFile, il: usize) -> Result<LayerWeights, ModelError> {
        let n = |s: &str| format!("blk.{il}.{s}");
        Ok(LayerWeights {
            attn_norm: f32_vector(file, &n("attn_norm.weight"))?,
            wq: matrix(file, &n("attn_q.weight"))?,
            wk: matrix(file, &n("attn_k.weight"))?,
            wv: matrix(file, &n("attn_v.weight"))?,
            wo: matrix(file, &n("attn_output.weight"))?,
            bq: opt_f32_vector(file, &n("attn_q.bias"))?,
            bk: opt_f32_vector(file, &n("attn_k.bias"))?,
            bv: opt_f32_vector(file, &n("attn_v.bias"))?,
            q_norm: opt_f32_vector(file, &n("attn_q_norm.weight"))?,
            k_norm: opt_f32_vector(file, &n("attn_k_norm.weight"))?,
            post_attn_norm: opt_f32_vector(file, &n("post_attention_norm.weight"))?,
            ffn_norm: f32_vector(file, &n("ffn_norm.weight"))?,
            gate: matrix(file, &n("ffn_gate.weight"))?,
            up: matrix(file, &n("ffn_up.weight"))?,
            down: matrix(file, &n("ffn_down.weight"))?,
            post_ffw_norm: opt_f32_vector(file, &n("post_ffw_norm.weight"))?,
        })
    }

    /// Bytes copied out of the mapping for this layer (its F32 vectors).
    pub(crate) fn owned_bytes(&self) -> usize {
        let v = |o: &Option<Vec<f32>>| o.as_ref().map_or(0, Vec::len);
        4 * (self.attn_norm.len()
            + self.ffn_norm.len()
            + v(&self.bq)
            + v(&self.bk)
            + v(&self.bv)
            + v(&self.q_norm)
            + v(&self.k_norm)
            + v(&self.post_attn_norm)
            + v(&self.post_ffw_norm))
    }
}
