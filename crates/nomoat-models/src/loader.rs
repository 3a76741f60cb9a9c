//! [`Loader`]: how an architecture names the tensors it reads. One declaration serves twice:
//! validation runs it in check mode (every tensor present, of the expected shape and of a type
//! the backend runs; all problems collected, nothing loaded), and [`crate::Model::load`] runs it
//! in load mode (each tensor handed to the compute backend, which returns a handle).

use std::sync::Arc;

use nomoat_backend::{Backend, MatrixId, RopeId, RopeParams, VectorId};
use nomoat_gguf::{GgmlType, Gguf, GgufFile, TensorInfo};

use crate::ModelError;

enum Mode<'a> {
    Check(&'a mut Vec<ModelError>),
    Load {
        file: &'a Arc<GgufFile>,
        backend: &'a mut dyn Backend,
    },
}

/// Reads an architecture's tensors by GGUF name (see the module docs).
pub(crate) struct Loader<'a> {
    g: &'a Gguf,
    mode: Mode<'a>,
}

/// Handles given out in check mode, where nothing is loaded.
const UNLOADED: u32 = u32::MAX;

impl<'a> Loader<'a> {
    /// Check mode: problems go to `errs`.
    pub(crate) fn checking(g: &'a Gguf, errs: &'a mut Vec<ModelError>) -> Loader<'a> {
        Loader {
            g,
            mode: Mode::Check(errs),
        }
    }

    /// Load mode, for a file that passed validation.
    pub(crate) fn loading(file: &'a Arc<GgufFile>, backend: &'a mut dyn Backend) -> Loader<'a> {
        Loader {
            g: file.gguf(),
            mode: Mode::Load { file, backend },
        }
    }

    /// A required matrix of ggml shape `[n_cols, n_rows]`.
    pub(crate) fn matrix(&mut self, name: &str, dims: [usize; 2]) -> Result<MatrixId, ModelError> {
        Ok(self
            .tensor(name, &dims, Kind::Matrix, true)?
            .map_or(MatrixId(UNLOADED), |h| MatrixId(h.id)))
    }

    /// An optional matrix.
    pub(crate) fn opt_matrix(
        &mut self,
        name: &str,
        dims: [usize; 2],
    ) -> Result<Option<MatrixId>, ModelError> {
        Ok(self
            .tensor(name, &dims, Kind::Matrix, false)?
            .map(|h| MatrixId(h.id)))
    }

    /// A required F32 vector of `len` values (a norm weight, a bias).
    pub(crate) fn vector(&mut self, name: &str, len: usize) -> Result<VectorId, ModelError> {
        Ok(self
            .tensor(name, &[len], Kind::Vector, true)?
            .map_or(VectorId(UNLOADED), |h| VectorId(h.id)))
    }

    /// An F32 vector that is required when `required`, else optional.
    pub(crate) fn vector_if(
        &mut self,
        name: &str,
        len: usize,
        required: bool,
    ) -> Result<Option<VectorId>, ModelError> {
        Ok(self
            .tensor(name, &[len], Kind::Vector, required)?
            .map(|h| VectorId(h.id)))
    }

    /// An optional F32 vector read into host memory (for load-time math such as RoPE frequency
    /// factors); `None` in check mode.
    pub(crate) fn host_vector(
        &mut self,
        name: &str,
        len: usize,
    ) -> Result<Option<Vec<f32>>, ModelError> {
        if self.check(name, &[len], Kind::Vector, false).is_none() {
            return Ok(None);
        }
        Ok(match &self.mode {
            Mode::Check(_) => None,
            Mode::Load { file, .. } => Some(read_f32(file, name)?),
        })
    }

    /// Registers RoPE settings with the backend.
    pub(crate) fn rope(&mut self, p: RopeParams) -> RopeId {
        match &mut self.mode {
            Mode::Check(_) => RopeId(UNLOADED),
            Mode::Load { backend, .. } => backend.add_rope(p),
        }
    }

    /// Checks tensor `name` (check mode) and loads it (load mode). `Ok(None)`: absent (and
    /// optional), or a problem recorded in check mode.
    fn tensor(
        &mut self,
        name: &str,
        dims: &[usize],
        kind: Kind,
        required: bool,
    ) -> Result<Option<Handle>, ModelError> {
        if self.check(name, dims, kind, required).is_none() {
            return Ok(None);
        }
        match &mut self.mode {
            Mode::Check(_) => Ok(Some(Handle { id: UNLOADED })),
            Mode::Load { file, backend } => {
                let id = match kind {
                    Kind::Matrix => backend.load_matrix(file, name)?.0,
                    Kind::Vector => backend.load_vector(&read_f32(file, name)?).0,
                };
                Ok(Some(Handle { id }))
            }
        }
    }

    /// `Some(tensor)` when it is present and, in check mode, has the expected shape and type.
    fn check(
        &mut self,
        name: &str,
        dims: &[usize],
        kind: Kind,
        required: bool,
    ) -> Option<&'a TensorInfo> {
        let g = self.g;
        let t = g.tensor(name);
        let Mode::Check(errs) = &mut self.mode else {
            return t;
        };
        let Some(t) = t else {
            if required {
                errs.push(ModelError::MissingTensor { name: name.into() });
            }
            return None;
        };
        let want: Vec<u64> = dims.iter().map(|&d| d as u64).collect();
        // Trailing 1s are how some writers store vectors ([n, 1]); compare without them.
        if trim_ones(&t.dims) != trim_ones(&want) {
            errs.push(ModelError::TensorShape {
                name: name.into(),
                expected: want,
                found: t.dims.clone(),
            });
            return None;
        }
        let before = errs.len();
        check_type(t, kind, errs);
        (errs.len() == before).then_some(t)
    }
}

struct Handle {
    id: u32,
}

/// Whether a tensor holds weights for matmul / lookup (any runnable type) or a small f32 vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Matrix,
    Vector,
}

fn trim_ones(d: &[u64]) -> &[u64] {
    let mut n = d.len();
    while n > 1 && d[n - 1] == 1 {
        n -= 1;
    }
    &d[..n]
}

fn check_type(t: &TensorInfo, kind: Kind, errs: &mut Vec<ModelError>) {
    if kind == Kind::Vector {
        if t.ty != GgmlType::F32 {
            errs.push(ModelError::UnsupportedTensorType {
                name: t.name.clone(),
                ty: t.ty,
                hint: " (norm weights and biases must be F32)",
            });
        }
        return;
    }
    if !nomoat_backend::supports_type(t.ty) {
        errs.push(ModelError::UnsupportedTensorType {
            name: t.name.clone(),
            ty: t.ty,
            hint: "",
        });
        return;
    }
    let block = t.ty.block_size();
    if block == 0 || !t.row_len().is_multiple_of(block) {
        errs.push(ModelError::BadRowSize {
            name: t.name.clone(),
            ty: t.ty,
            row_len: t.row_len(),
            block,
        });
    }
}

/// An F32 tensor's values, copied out of the mapping (which gives no alignment guarantee for
/// `&[f32]`).
fn read_f32(file: &GgufFile, name: &str) -> Result<Vec<f32>, ModelError> {
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
