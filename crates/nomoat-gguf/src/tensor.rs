//! Tensor descriptions read from the tensor-info section.

use crate::GgmlType;

/// One tensor's name, shape, type and place in the data section (already validated: the byte
/// range lies inside the file, is aligned and overlaps no other tensor).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the number of elements per row (`ne0`), `dims[1]` the number of
    /// rows of a matrix, and so on. 1 to 4 entries, each at least 1.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
    /// Byte offset relative to the start of the data section ([`crate::Gguf::data_offset`]).
    pub offset: u64,
    /// Size of the data in bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Total number of elements (the product of `dims`; checked at parse time, saturating for
    /// a hand-made info).
    pub fn n_elements(&self) -> u64 {
        saturating_product(&self.dims)
    }

    /// Number of rows: the product of `dims[1..]` (1 for a vector).
    pub fn n_rows(&self) -> u64 {
        saturating_product(self.dims.get(1..).unwrap_or(&[]))
    }

    /// Elements per row (`dims[0]`).
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Bytes per row (`row_len` elements of `ty`; a multiple of the block, checked at parse time).
    pub fn row_bytes(&self) -> u64 {
        self.ty.row_bytes(self.row_len()).unwrap_or(0)
    }

    /// The shape written the way llama.cpp prints it, e.g. `[640, 262144]`.
    pub fn shape_string(&self) -> String {
        let parts: Vec<String> = self.dims.iter().map(|d| d.to_string()).collect();
        format!("[{}]", parts.join(", "))
    }
}

fn saturating_product(dims: &[u64]) -> u64 {
    dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
}
