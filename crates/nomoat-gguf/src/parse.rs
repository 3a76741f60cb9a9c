//! The GGUF parser: bytes in, a validated [`Gguf`] out.
//!
//! Layout (little-endian, versions 2 and 3):
//! ```text
//! "GGUF" u32 version  u64 n_tensors  u64 n_kv
//! n_kv × { string key, u32 value_type, value }
//! n_tensors × { string name, u32 n_dims, u64 dims[n_dims], u32 ggml_type, u64 offset }
//! padding to `general.alignment` (default 32), then the data section
//! string = u64 len + bytes;  array = u32 element_type + u64 count + elements
//! ```
//! Every count and length is checked against [`Limits`] and against the bytes left before
//! anything is allocated from it, and every size goes through checked arithmetic.

use std::collections::HashMap;

use crate::limits::{DEFAULT_ALIGNMENT, MAX_DIMS};
use crate::{GgmlType, Gguf, GgufError, Limits, Result, TensorInfo, Value, ValueType};

/// Fewest bytes one key/value pair takes: key length (8) + 1 key byte + type (4) + 1 value byte.
const MIN_KV_BYTES: u64 = 8 + 1 + 4 + 1;
/// Fewest bytes one tensor info takes: name length (8) + 1 byte + n_dims (4) + one dim (8)
/// + type (4) + offset (8).
const MIN_TENSOR_INFO_BYTES: u64 = 8 + 1 + 4 + 8 + 4 + 8;
/// Never pre-reserve more than this many bytes from a count read in the file; vectors grow as
/// elements are actually decoded.
const MAX_PREALLOC_BYTES: u64 = 1 << 14;

/// Element capacity to reserve for `count` items of `elem_size` bytes each.
fn prealloc(count: u64, elem_size: usize) -> usize {
    let cap = MAX_PREALLOC_BYTES / (elem_size.max(1) as u64);
    count.min(cap) as usize
}

/// A bounds-checked reader over the file bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn offset(&self) -> u64 {
        self.pos as u64
    }

    fn remaining(&self) -> u64 {
        (self.bytes.len() - self.pos) as u64
    }

    /// Take `n` bytes, or fail with `Truncated` naming `what`.
    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(GgufError::Truncated {
                what: what(),
                offset: self.offset(),
                needed: n,
                available: self.remaining(),
            });
        }
        let start = self.pos;
        // n <= remaining <= usize::MAX, so the cast is lossless.
        self.pos += n as usize;
        Ok(&self.bytes[start..self.pos])
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn u8(&mut self, what: &dyn Fn() -> String) -> Result<u8> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &dyn Fn() -> String) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A length-prefixed UTF-8 string of at most `max` bytes.
    fn string(&mut self, max: u64, what: &dyn Fn() -> String) -> Result<(String, u64)> {
        let start = self.offset();
        let len = self.u64(&|| format!("length of {}", what()))?;
        if len > max {
            return Err(GgufError::LimitExceeded {
                what: format!("length of {}", what()),
                value: len,
                limit: max,
                offset: start,
            });
        }
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok((s.to_owned(), start)),
            Err(_) => Err(GgufError::InvalidUtf8 {
                what: what(),
                offset: start,
            }),
        }
    }
}

/// Parser state shared by the value decoders.
struct Parser<'a, 'l> {
    cur: Cursor<'a>,
    limits: &'l Limits,
    /// Metadata memory left (see [`Limits::max_metadata_memory`]).
    memory_left: u64,
}

impl Parser<'_, '_> {
    fn charge(&mut self, bytes: u64, key: &str, offset: u64) -> Result<()> {
        match self.memory_left.checked_sub(bytes) {
            Some(left) => {
                self.memory_left = left;
                Ok(())
            }
            None => Err(GgufError::LimitExceeded {
                what: format!("decoded metadata size at key `{key}`"),
                value: (self.limits.max_metadata_memory - self.memory_left).saturating_add(bytes),
                limit: self.limits.max_metadata_memory,
                offset,
            }),
        }
    }

    fn value_type(&mut self, key: &str) -> Result<ValueType> {
        let offset = self.cur.offset();
        let id = self.cur.u32(&|| format!("value type of key `{key}`"))?;
        ValueType::from_id(id).ok_or_else(|| GgufError::UnknownValueType {
            id,
            key: key.to_owned(),
            offset,
        })
    }

    /// Decode one value of type `ty`; `depth` is the number of enclosing arrays.
    fn value(&mut self, ty: ValueType, key: &str, depth: u32) -> Result<Value> {
        let offset = self.cur.offset();
        let what = || format!("value of key `{key}`");
        Ok(match ty {
            ValueType::U8 => Value::U8(self.cur.u8(&what)?),
            ValueType::I8 => Value::I8(self.cur.u8(&what)? as i8),
            ValueType::U16 => Value::U16(self.cur.u16(&what)?),
            ValueType::I16 => Value::I16(self.cur.u16(&what)? as i16),
            ValueType::U32 => Value::U32(self.cur.u32(&what)?),
            ValueType::I32 => Value::I32(self.cur.u32(&what)? as i32),
            ValueType::F32 => Value::F32(f32::from_bits(self.cur.u32(&what)?)),
            ValueType::U64 => Value::U64(self.cur.u64(&what)?),
            ValueType::I64 => Value::I64(self.cur.u64(&what)? as i64),
            ValueType::F64 => Value::F64(f64::from_bits(self.cur.u64(&what)?)),
            ValueType::Bool => match self.cur.u8(&what)? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                value => {
                    return Err(GgufError::InvalidBool {
                        key: key.to_owned(),
                        value,
                        offset,
                    })
                }
            },
            ValueType::String => {
                let (s, _) = self.cur.string(self.limits.max_string_len, &what)?;
                self.charge(s.len() as u64, key, offset)?;
                Value::String(s)
            }
            ValueType::Array => self.array(key, depth + 1)?,
        })
    }

    fn array(&mut self, key: &str, depth: u32) -> Result<Value> {
        let offset = self.cur.offset();
        if depth > self.limits.max_array_depth {
            return Err(GgufError::TooDeep {
                key: key.to_owned(),
                limit: self.limits.max_array_depth,
                offset,
            });
        }
        let elem = self.value_type(key)?;
        let count_offset = self.cur.offset();
        let count = self.cur.u64(&|| format!("array length of key `{key}`"))?;
        if count > self.limits.max_array_len {
            return Err(GgufError::LimitExceeded {
                what: format!("array length of key `{key}`"),
                value: count,
                limit: self.limits.max_array_len,
                offset: count_offset,
            });
        }
        // The elements must fit in the bytes left before we reserve anything for them.
        let needed =
            count
                .checked_mul(elem.min_encoded_size())
                .ok_or_else(|| GgufError::Overflow {
                    what: format!("size of array `{key}`"),
                    offset: count_offset,
                })?;
        if needed > self.cur.remaining() {
            return Err(GgufError::Truncated {
                what: format!("{count} array elements of type {elem} for key `{key}`"),
                offset: self.cur.offset(),
                needed,
                available: self.cur.remaining(),
            });
        }
        let value_size = std::mem::size_of::<Value>() as u64;
        // count <= max_array_len (2^24 by default) so this cannot overflow for sane limits;
        // saturate for absurd ones, the charge then fails.
        self.charge(count.saturating_mul(value_size), key, count_offset)?;
        let mut items = Vec::with_capacity(prealloc(count, std::mem::size_of::<Value>()));
        for _ in 0..count {
            items.push(self.value(elem, key, depth)?);
        }
        Ok(Value::Array(items))
    }
}

fn check_count(
    cur: &Cursor<'_>,
    what: &str,
    count: u64,
    limit: u64,
    min_each: u64,
    offset: u64,
) -> Result<()> {
    if count > limit {
        return Err(GgufError::LimitExceeded {
            what: what.to_owned(),
            value: count,
            limit,
            offset,
        });
    }
    // count <= limit <= 2^20-ish and min_each is small; still use checked arithmetic.
    let needed = count
        .checked_mul(min_each)
        .ok_or_else(|| GgufError::Overflow {
            what: what.to_owned(),
            offset,
        })?;
    if needed > cur.remaining() {
        return Err(GgufError::Truncated {
            what: format!("{what} {count}"),
            offset: cur.offset(),
            needed,
            available: cur.remaining(),
        });
    }
    Ok(())
}

/// Parse and validate a whole GGUF file held in memory.
pub(crate) fn parse(bytes: &[u8], limits: &Limits) -> Result<Gguf> {
    let mut cur = Cursor { bytes, pos: 0 };
    let magic = cur.take(4.min(bytes.len() as u64), &|| "magic".to_owned())?;
    if magic != b"GGUF" {
        return Err(GgufError::BadMagic {
            found: magic.to_vec(),
        });
    }
    let version = cur.u32(&|| "version".to_owned())?;
    match version {
        2 | 3 => {}
        v if (v & 0xffff) == 0 && matches!(v.swap_bytes(), 1..=3) => {
            return Err(GgufError::BigEndian {
                version: v.swap_bytes(),
            })
        }
        v => return Err(GgufError::UnsupportedVersion { version: v }),
    }
    let n_tensors_offset = cur.offset();
    let n_tensors = cur.u64(&|| "tensor count".to_owned())?;
    let n_kv_offset = cur.offset();
    let n_kv = cur.u64(&|| "metadata key/value count".to_owned())?;
    check_count(
        &cur,
        "metadata key/value count",
        n_kv,
        limits.max_kv_count,
        MIN_KV_BYTES,
        n_kv_offset,
    )?;

    let mut p = Parser {
        cur,
        limits,
        memory_left: limits.max_metadata_memory,
    };
    let mut metadata: Vec<(String, Value)> =
        Vec::with_capacity(prealloc(n_kv, std::mem::size_of::<(String, Value)>()));
    let mut index: HashMap<String, usize> = HashMap::with_capacity(prealloc(n_kv, 64));
    for i in 0..n_kv {
        let key_offset = p.cur.offset();
        let (key, _) = p.cur.string(limits.max_name_len, &|| {
            format!("key of metadata entry {i}")
        })?;
        if key.is_empty() {
            return Err(GgufError::EmptyName {
                what: format!("key of metadata entry {i}"),
                offset: key_offset,
            });
        }
        if index.contains_key(&key) {
            return Err(GgufError::DuplicateKey {
                key,
                offset: key_offset,
            });
        }
        p.charge(key.len() as u64, &key, key_offset)?;
        let ty = p.value_type(&key)?;
        let value = p.value(ty, &key, 0)?;
        index.insert(key.clone(), metadata.len());
        metadata.push((key, value));
    }

    let alignment = match index.get("general.alignment").map(|&i| &metadata[i].1) {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(a)) => {
            let a = u64::from(*a);
            if a == 0 || !a.is_power_of_two() {
                return Err(GgufError::BadAlignment { value: a });
            }
            a
        }
        Some(other) => {
            return Err(GgufError::WrongType {
                key: "general.alignment".to_owned(),
                expected: "u32".to_owned(),
                found: other.describe_type(),
            })
        }
    };

    let mut cur = p.cur;
    check_count(
        &cur,
        "tensor count",
        n_tensors,
        limits.max_tensor_count,
        MIN_TENSOR_INFO_BYTES,
        n_tensors_offset,
    )?;
    let mut tensors: Vec<TensorInfo> =
        Vec::with_capacity(prealloc(n_tensors, std::mem::size_of::<TensorInfo>()));
    let mut tensor_index: HashMap<String, usize> = HashMap::with_capacity(prealloc(n_tensors, 64));
    for i in 0..n_tensors {
        let info_offset = cur.offset();
        let (name, _) = cur.string(limits.max_name_len, &|| format!("name of tensor {i}"))?;
        if name.is_empty() {
            return Err(GgufError::EmptyName {
                what: format!("name of tensor {i}"),
                offset: info_offset,
            });
        }
        if tensor_index.contains_key(&name) {
            return Err(GgufError::DuplicateTensor {
                name,
                offset: info_offset,
            });
        }
        let n_dims = cur.u32(&|| format!("n_dims of tensor `{name}`"))?;
        if n_dims == 0 || n_dims > MAX_DIMS {
            return Err(GgufError::BadDims {
                tensor: name,
                reason: format!("n_dims is {n_dims}, expected 1 to {MAX_DIMS}"),
                offset: info_offset,
            });
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for d in 0..n_dims {
            dims.push(cur.u64(&|| format!("dimension {d} of tensor `{name}`"))?);
        }
        let type_offset = cur.offset();
        let type_id = cur.u32(&|| format!("type of tensor `{name}`"))?;
        let data_rel = cur.u64(&|| format!("data offset of tensor `{name}`"))?;
        let ty = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType {
            id: type_id,
            tensor: name.clone(),
            offset: type_offset,
        })?;
        let n_bytes = tensor_bytes(&name, &dims, ty, info_offset)?;
        if data_rel % alignment != 0 {
            return Err(GgufError::Misaligned {
                tensor: name,
                offset: data_rel,
                alignment,
            });
        }
        tensor_index.insert(name.clone(), tensors.len());
        tensors.push(TensorInfo {
            name,
            dims,
            ty,
            offset: data_rel,
            n_bytes,
        });
    }

    // The data section starts at the next multiple of the alignment after the tensor infos.
    let info_end = cur.offset();
    let data_offset = info_end
        .checked_next_multiple_of(alignment)
        .ok_or_else(|| GgufError::Overflow {
            what: "data section offset".to_owned(),
            offset: info_end,
        })?;
    check_tensor_ranges(&tensors, data_offset, bytes.len() as u64)?;

    Ok(Gguf {
        version,
        alignment,
        data_offset,
        file_len: bytes.len() as u64,
        metadata,
        index,
        tensors,
        tensor_index,
    })
}

/// Validate a tensor's shape and return its size in bytes.
fn tensor_bytes(name: &str, dims: &[u64], ty: GgmlType, offset: u64) -> Result<u64> {
    if let Some(pos) = dims.iter().position(|&d| d == 0) {
        return Err(GgufError::BadDims {
            tensor: name.to_owned(),
            reason: format!("dimension {pos} is 0 in {dims:?}"),
            offset,
        });
    }
    // ggml stores dims as int64_t: anything above i64::MAX would turn negative there.
    if let Some(pos) = dims.iter().position(|&d| d > i64::MAX as u64) {
        return Err(GgufError::BadDims {
            tensor: name.to_owned(),
            reason: format!("dimension {pos} = {} is above i64::MAX", dims[pos]),
            offset,
        });
    }
    let overflow = || GgufError::Overflow {
        what: format!("element count of tensor `{name}` {dims:?}"),
        offset,
    };
    let mut n_elements: u64 = 1;
    for &d in dims {
        n_elements = n_elements.checked_mul(d).ok_or_else(overflow)?;
    }
    if n_elements > i64::MAX as u64 {
        return Err(overflow());
    }
    let row_len = dims[0];
    if !row_len.is_multiple_of(ty.block_size()) {
        return Err(GgufError::BadDims {
            tensor: name.to_owned(),
            reason: format!(
                "row length {row_len} is not a multiple of the {ty} block size {}",
                ty.block_size()
            ),
            offset,
        });
    }
    let row_bytes = ty.row_bytes(row_len).ok_or_else(|| GgufError::Overflow {
        what: format!("row size of tensor `{name}`"),
        offset,
    })?;
    let rows = n_elements / row_len;
    row_bytes
        .checked_mul(rows)
        .ok_or_else(|| GgufError::Overflow {
            what: format!("byte size of tensor `{name}` {dims:?} {ty}"),
            offset,
        })
}

/// Every tensor's data must lie inside the file, without overlapping another.
fn check_tensor_ranges(tensors: &[TensorInfo], data_offset: u64, file_len: u64) -> Result<()> {
    let mut ranges: Vec<(u64, u64, usize)> = Vec::with_capacity(tensors.len());
    for (i, t) in tensors.iter().enumerate() {
        let start = data_offset.checked_add(t.offset);
        let end = start.and_then(|s| s.checked_add(t.n_bytes));
        match (start, end) {
            (Some(start), Some(end)) if end <= file_len => ranges.push((start, end, i)),
            _ => {
                return Err(GgufError::TensorOutOfBounds {
                    tensor: t.name.clone(),
                    start: start.unwrap_or(u64::MAX),
                    end: end.unwrap_or(u64::MAX),
                    file_len,
                })
            }
        }
    }
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        let (a, b) = (w[0], w[1]);
        if b.0 < a.1 {
            return Err(GgufError::Overlap {
                tensor: tensors[b.2].name.clone(),
                other: tensors[a.2].name.clone(),
                start: b.0,
                end: b.1,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{GgmlType, Gguf, GgufError, GgufWriter, Value};

    fn sample() -> GgufWriter {
        let mut w = GgufWriter::new(3);
        w.add_kv("general.architecture", "llama")
            .add_kv("llama.block_count", 2u32)
            .add_kv("llama.rope.freq_base", 10000.0f32)
            .add_kv("tokenizer.ggml.tokens", vec!["a", "b", "c"])
            .add_kv("tokenizer.ggml.scores", vec![0.0f32, -1.0, -2.0])
            .add_kv(
                "nested",
                Value::Array(vec![Value::from(vec![1u8, 2]), Value::from(vec![3u8])]),
            );
        w.add_tensor_f32("a", &[4, 2], &[0.0; 8]).unwrap();
        w.add_tensor("b", GgmlType::Q8_0, &[32], &[0u8; 34])
            .unwrap();
        w
    }

    #[test]
    fn round_trip_small_file() {
        let bytes = sample().to_bytes();
        let g = Gguf::parse(&bytes).unwrap();
        assert_eq!(g.version, 3);
        assert_eq!(g.alignment, 32);
        assert_eq!(g.architecture().unwrap(), "llama");
        assert_eq!(g.get_u32("llama.block_count").unwrap(), 2);
        assert_eq!(
            g.get_str_array("tokenizer.ggml.tokens").unwrap(),
            ["a", "b", "c"]
        );
        assert_eq!(g.get_f32_array("tokenizer.ggml.scores").unwrap()[2], -2.0);
        assert_eq!(g.metadata()[0].0, "general.architecture");
        let a = g.tensor("a").unwrap();
        assert_eq!(
            (a.n_elements(), a.n_rows(), a.row_len(), a.n_bytes),
            (8, 2, 4, 32)
        );
        let b = g.tensor("b").unwrap();
        assert_eq!(b.offset % 32, 0);
        assert_eq!(g.data_offset % 32, 0);
        assert_eq!(g.data_offset + b.offset + 34, bytes.len() as u64);
    }

    #[test]
    fn typed_getters_name_key_and_types() {
        let bytes = sample().to_bytes();
        let g = Gguf::parse(&bytes).unwrap();
        match g.get_str("llama.block_count") {
            Err(GgufError::WrongType {
                key,
                expected,
                found,
            }) => {
                assert_eq!(
                    (key.as_str(), expected.as_str(), found.as_str()),
                    ("llama.block_count", "string", "u32")
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            g.get_u32("missing"),
            Err(GgufError::MissingKey { .. })
        ));
        assert_eq!(g.opt_u32("missing").unwrap(), None);
        assert!(g.opt_u32("general.architecture").is_err());
        assert!(matches!(
            g.get_f32_array("tokenizer.ggml.tokens"),
            Err(GgufError::WrongType { .. })
        ));
        let msg = g
            .get_u32_array("tokenizer.ggml.scores")
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("tokenizer.ggml.scores") && msg.contains("array of f32"),
            "{msg}"
        );
    }
}
