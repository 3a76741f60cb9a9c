//! Errors of the kernel layer (shape and type checks made when a model is loaded).

use crate::GgmlType;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KernelError {
    #[error("unsupported tensor type {ty} in tensor {tensor}")]
    UnsupportedType { ty: GgmlType, tensor: String },
    #[error("unsupported tensor type {0} for a matrix")]
    UnsupportedMatrixType(GgmlType),
    #[error("matrix of type {ty}: {n_cols} columns is not a multiple of the block size {block}")]
    BadColumns {
        ty: GgmlType,
        n_cols: usize,
        block: usize,
    },
    #[error(
        "matrix of type {ty}, {n_rows}×{n_cols}: expected {expected} bytes of data, got {got}"
    )]
    BadDataLength {
        ty: GgmlType,
        n_rows: usize,
        n_cols: usize,
        expected: usize,
        got: usize,
    },
    #[error("matrix of type {ty}: size {n_rows}×{n_cols} overflows")]
    Overflow {
        ty: GgmlType,
        n_rows: usize,
        n_cols: usize,
    },
}
