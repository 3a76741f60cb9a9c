//! Build GGUF files in memory: synthetic models for tests, hostile variants, later `quantize`.
//!
//! The typed API ([`GgufWriter::add_kv`], [`GgufWriter::add_tensor`]) writes well-formed files.
//! The raw API ([`GgufWriter::add_kv_raw`], [`GgufWriter::add_tensor_raw`],
//! [`GgufWriter::override_counts`]) writes whatever it is told, so tests can build malformed
//! files structure by structure.

use std::path::Path;

use crate::limits::DEFAULT_ALIGNMENT;
use crate::{GgmlType, GgufError, Result, Value, ValueType};

/// A tensor written exactly as given (any type id, any dims, any offset).
#[derive(Clone, Debug, Default)]
pub struct RawTensor {
    /// Name bytes (need not be UTF-8).
    pub name: Vec<u8>,
    /// The `n_dims` field; `None` writes `dims.len()`.
    pub n_dims: Option<u32>,
    pub dims: Vec<u64>,
    pub type_id: u32,
    /// The offset field; `None` writes the place the writer puts `data` at.
    pub offset: Option<u64>,
    /// Bytes placed in the data section (at the next aligned position).
    pub data: Vec<u8>,
}

#[derive(Clone, Debug)]
enum Kv {
    Typed(String, Value),
    Raw {
        key: Vec<u8>,
        type_id: u32,
        payload: Vec<u8>,
    },
}

/// An in-memory GGUF builder.
#[derive(Clone, Debug)]
pub struct GgufWriter {
    version: u32,
    alignment: u64,
    kvs: Vec<Kv>,
    tensors: Vec<RawTensor>,
    n_tensors_override: Option<u64>,
    n_kv_override: Option<u64>,
}

/// Append the encoding of `v` (without its type id) to `out`. Arrays take the element type of
/// their first element (u8 for an empty array); they must be homogeneous to parse back.
pub fn encode_value_into(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => encode_str(s.as_bytes(), out),
        Value::Array(items) => {
            let elem = items.first().map_or(ValueType::U8, Value::value_type);
            out.extend_from_slice(&elem.id().to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items {
                encode_value_into(item, out);
            }
        }
    }
}

/// The encoding of `v` without its type id (the payload for [`GgufWriter::add_kv_raw`]).
pub fn encode_value(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value_into(v, &mut out);
    out
}

/// A GGUF string: u64 length then the bytes.
pub fn encode_str(s: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s);
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

impl Default for GgufWriter {
    fn default() -> Self {
        Self::new(3)
    }
}

impl GgufWriter {
    /// An empty file of format `version` (2 or 3 parse back; other numbers are written as given).
    pub fn new(version: u32) -> Self {
        GgufWriter {
            version,
            alignment: DEFAULT_ALIGNMENT,
            kvs: Vec::new(),
            tensors: Vec::new(),
            n_tensors_override: None,
            n_kv_override: None,
        }
    }

    /// Set `general.alignment` (written as a u32 key). A value that is 0 or not a power of two
    /// is written as given, for hostile tests, while the layout keeps aligning to 32.
    pub fn set_alignment(&mut self, alignment: u32) -> &mut Self {
        let a = u64::from(alignment);
        self.alignment = if a.is_power_of_two() {
            a
        } else {
            DEFAULT_ALIGNMENT
        };
        self.add_kv("general.alignment", Value::U32(alignment))
    }

    /// Set `key` to `value`, replacing an earlier typed value of the same key (its position in
    /// the file stays where it was first added).
    pub fn add_kv(&mut self, key: &str, value: impl Into<Value>) -> &mut Self {
        let value = value.into();
        for kv in &mut self.kvs {
            if let Kv::Typed(k, v) = kv {
                if k == key {
                    *v = value;
                    return self;
                }
            }
        }
        self.kvs.push(Kv::Typed(key.to_owned(), value));
        self
    }

    /// Append a key/value pair exactly as given: any key bytes, any type id, any payload bytes
    /// (see [`encode_value`]). Never deduplicated.
    pub fn add_kv_raw(&mut self, key: &[u8], type_id: u32, payload: &[u8]) -> &mut Self {
        self.kvs.push(Kv::Raw {
            key: key.to_vec(),
            type_id,
            payload: payload.to_vec(),
        });
        self
    }

    /// Add a tensor of type `ty` with ggml-order `dims` (`dims[0]` = row length) and its raw
    /// bytes. Checks that `data` has exactly the size the type and shape need.
    pub fn add_tensor(
        &mut self,
        name: &str,
        ty: GgmlType,
        dims: &[u64],
        data: &[u8],
    ) -> Result<&mut Self> {
        if dims.is_empty() || dims.len() > 4 || dims.contains(&0) {
            return Err(GgufError::Writer(format!(
                "tensor `{name}`: dims {dims:?} must be 1 to 4 values, each at least 1"
            )));
        }
        let expected = dims
            .iter()
            .skip(1)
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .and_then(|rows| ty.row_bytes(dims[0]).and_then(|rb| rb.checked_mul(rows)));
        if expected != Some(data.len() as u64) {
            return Err(GgufError::Writer(format!(
                "tensor `{name}` {dims:?} {ty}: got {} bytes, expected {expected:?}",
                data.len()
            )));
        }
        if self.tensors.iter().any(|t| t.name == name.as_bytes()) {
            return Err(GgufError::Writer(format!("duplicate tensor `{name}`")));
        }
        self.tensors.push(RawTensor {
            name: name.as_bytes().to_vec(),
            n_dims: None,
            dims: dims.to_vec(),
            type_id: ty.id(),
            offset: None,
            data: data.to_vec(),
        });
        Ok(self)
    }

    /// Add an F32 tensor from values.
    pub fn add_tensor_f32(
        &mut self,
        name: &str,
        dims: &[u64],
        values: &[f32],
    ) -> Result<&mut Self> {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.add_tensor(name, GgmlType::F32, dims, &bytes)
    }

    /// Add a tensor exactly as given (no checks).
    pub fn add_tensor_raw(&mut self, t: RawTensor) -> &mut Self {
        self.tensors.push(t);
        self
    }

    /// Write these numbers in the header instead of the real tensor / key-value counts.
    pub fn override_counts(&mut self, n_tensors: Option<u64>, n_kv: Option<u64>) -> &mut Self {
        self.n_tensors_override = n_tensors;
        self.n_kv_override = n_kv;
        self
    }

    /// Number of key/value pairs added so far.
    pub fn kv_count(&self) -> usize {
        self.kvs.len()
    }

    /// Number of tensors added so far.
    pub fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// Serialize. Tensor data is placed in insertion order, each at the next multiple of the
    /// alignment; the file ends right after the last tensor's data.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_bytes_with_offsets().0
    }

    /// Serialize and also return the offset (within the file) where each structure starts:
    /// `[header_end, kv_0_end, ..., kv_last_end, info_0_end, ..., data_start]`. Tests use it to
    /// cut files at every structural boundary.
    pub fn to_bytes_with_offsets(&self) -> (Vec<u8>, Vec<u64>) {
        let mut out = Vec::new();
        let mut marks = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&self.version.to_le_bytes());
        let n_tensors = self.n_tensors_override.unwrap_or(self.tensors.len() as u64);
        let n_kv = self.n_kv_override.unwrap_or(self.kvs.len() as u64);
        out.extend_from_slice(&n_tensors.to_le_bytes());
        out.extend_from_slice(&n_kv.to_le_bytes());
        marks.push(out.len() as u64);

        for kv in &self.kvs {
            match kv {
                Kv::Typed(k, v) => {
                    encode_str(k.as_bytes(), &mut out);
                    out.extend_from_slice(&v.value_type().id().to_le_bytes());
                    encode_value_into(v, &mut out);
                }
                Kv::Raw {
                    key,
                    type_id,
                    payload,
                } => {
                    encode_str(key, &mut out);
                    out.extend_from_slice(&type_id.to_le_bytes());
                    out.extend_from_slice(payload);
                }
            }
            marks.push(out.len() as u64);
        }

        // Data positions relative to the data section.
        let mut pos = 0u64;
        let mut places = Vec::with_capacity(self.tensors.len());
        for t in &self.tensors {
            let at = align_up(pos, self.alignment);
            places.push(at);
            pos = at + t.data.len() as u64;
        }
        for (t, &at) in self.tensors.iter().zip(&places) {
            encode_str(&t.name, &mut out);
            let n_dims = t.n_dims.unwrap_or(t.dims.len() as u32);
            out.extend_from_slice(&n_dims.to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.type_id.to_le_bytes());
            out.extend_from_slice(&t.offset.unwrap_or(at).to_le_bytes());
            marks.push(out.len() as u64);
        }

        let data_start = align_up(out.len() as u64, self.alignment);
        out.resize(data_start as usize, 0);
        marks.push(data_start);
        for (t, &at) in self.tensors.iter().zip(&places) {
            out.resize((data_start + at) as usize, 0);
            out.extend_from_slice(&t.data);
        }
        (out, marks)
    }

    /// Serialize to a file.
    pub fn write_to(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.to_bytes()).map_err(|source| GgufError::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
