//! A parsed GGUF file: metadata in file order, tensor infos, layout, and typed getters.

use std::collections::HashMap;

use crate::{GgufError, Limits, Result, TensorInfo, Value};

/// A parsed and validated GGUF file (owned: it does not borrow the bytes it was parsed from).
#[derive(Clone, Debug)]
pub struct Gguf {
    /// Format version (2 or 3).
    pub version: u32,
    /// Data alignment in bytes (`general.alignment`, default 32).
    pub alignment: u64,
    /// Absolute byte offset of the data section; tensor offsets are relative to it.
    pub data_offset: u64,
    /// Length of the bytes parsed.
    pub file_len: u64,
    pub(crate) metadata: Vec<(String, Value)>,
    pub(crate) index: HashMap<String, usize>,
    pub(crate) tensors: Vec<TensorInfo>,
    pub(crate) tensor_index: HashMap<String, usize>,
}

fn wrong_type(key: &str, expected: &str, found: &Value) -> GgufError {
    GgufError::WrongType {
        key: key.to_owned(),
        expected: expected.to_owned(),
        found: found.describe_type(),
    }
}

fn out_of_range(key: &str, value: &Value, expected: &str) -> GgufError {
    GgufError::OutOfRange {
        key: key.to_owned(),
        value: value.to_string(),
        expected: expected.to_owned(),
    }
}

impl Gguf {
    /// Parse `bytes` with the default [`Limits`].
    pub fn parse(bytes: &[u8]) -> Result<Gguf> {
        Self::parse_with_limits(bytes, &Limits::default())
    }

    /// Parse `bytes` with explicit limits.
    pub fn parse_with_limits(bytes: &[u8], limits: &Limits) -> Result<Gguf> {
        crate::parse::parse(bytes, limits)
    }

    /// All key/value pairs, in file order.
    pub fn metadata(&self) -> &[(String, Value)] {
        &self.metadata
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.index.get(key).map(|&i| &self.metadata[i].1)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// The value of a required `key`.
    pub fn require(&self, key: &str) -> Result<&Value> {
        self.get(key).ok_or_else(|| GgufError::MissingKey {
            key: key.to_owned(),
        })
    }

    /// All tensor infos, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`, if present.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// Absolute byte range of a tensor's data in the file (validated at parse time for this
    /// file's infos; saturating for a foreign or hand-made one).
    pub fn tensor_range(&self, t: &TensorInfo) -> std::ops::Range<u64> {
        let start = self.data_offset.saturating_add(t.offset);
        start..start.saturating_add(t.n_bytes)
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str> {
        self.get_str("general.architecture")
    }

    // ---- typed getters: required keys -------------------------------------------------------

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str> {
        let v = self.require(key)?;
        v.as_str().ok_or_else(|| wrong_type(key, "string", v))
    }

    /// Any integer value that fits in `u32` (files use u32, but some writers use i32 or u64).
    pub fn get_u32(&self, key: &str) -> Result<u32> {
        let v = self.require(key)?;
        int_as::<u32>(key, v, "u32")
    }

    /// Any non-negative integer value, as `u64`.
    pub fn get_u64(&self, key: &str) -> Result<u64> {
        let v = self.require(key)?;
        int_as::<u64>(key, v, "u64")
    }

    /// Any integer value that fits in `i64`.
    pub fn get_i64(&self, key: &str) -> Result<i64> {
        let v = self.require(key)?;
        if !v.is_integer() {
            return Err(wrong_type(key, "integer", v));
        }
        v.as_i64().ok_or_else(|| out_of_range(key, v, "i64"))
    }

    /// An `f32` value (an `f64` is narrowed; integers are not accepted).
    pub fn get_f32(&self, key: &str) -> Result<f32> {
        let v = self.require(key)?;
        match *v {
            Value::F32(f) => Ok(f),
            Value::F64(f) => Ok(f as f32),
            _ => Err(wrong_type(key, "f32", v)),
        }
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<bool> {
        let v = self.require(key)?;
        v.as_bool().ok_or_else(|| wrong_type(key, "bool", v))
    }

    /// The elements of an array value, whatever their type.
    pub fn get_array(&self, key: &str) -> Result<&[Value]> {
        let v = self.require(key)?;
        v.as_array().ok_or_else(|| wrong_type(key, "array", v))
    }

    /// An array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<Vec<&str>> {
        let v = self.require(key)?;
        let items = v
            .as_array()
            .ok_or_else(|| wrong_type(key, "array of string", v))?;
        items
            .iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| wrong_type(key, "array of string", v))
            })
            .collect()
    }

    /// An array of `f32` (element type must be f32: PR #26690 in llama.cpp is what happens when a
    /// reader trusts the declared type of an array).
    pub fn get_f32_array(&self, key: &str) -> Result<Vec<f32>> {
        let v = self.require(key)?;
        let items = v
            .as_array()
            .ok_or_else(|| wrong_type(key, "array of f32", v))?;
        items
            .iter()
            .map(|x| match *x {
                Value::F32(f) => Ok(f),
                _ => Err(wrong_type(key, "array of f32", v)),
            })
            .collect()
    }

    /// An array of integers that all fit in `i32`.
    pub fn get_i32_array(&self, key: &str) -> Result<Vec<i32>> {
        int_array::<i32>(self, key, "array of i32")
    }

    /// An array of integers that all fit in `u32`.
    pub fn get_u32_array(&self, key: &str) -> Result<Vec<u32>> {
        int_array::<u32>(self, key, "array of u32")
    }

    // ---- typed getters: optional keys (absent = Ok(None), wrong type = Err) -----------------

    pub fn opt_str(&self, key: &str) -> Result<Option<&str>> {
        self.opt(key, Self::get_str)
    }
    pub fn opt_u32(&self, key: &str) -> Result<Option<u32>> {
        self.opt(key, Self::get_u32)
    }
    pub fn opt_u64(&self, key: &str) -> Result<Option<u64>> {
        self.opt(key, Self::get_u64)
    }
    pub fn opt_i64(&self, key: &str) -> Result<Option<i64>> {
        self.opt(key, Self::get_i64)
    }
    pub fn opt_f32(&self, key: &str) -> Result<Option<f32>> {
        self.opt(key, Self::get_f32)
    }
    pub fn opt_bool(&self, key: &str) -> Result<Option<bool>> {
        self.opt(key, Self::get_bool)
    }
    pub fn opt_array(&self, key: &str) -> Result<Option<&[Value]>> {
        self.opt(key, Self::get_array)
    }
    pub fn opt_str_array(&self, key: &str) -> Result<Option<Vec<&str>>> {
        self.opt(key, Self::get_str_array)
    }
    pub fn opt_f32_array(&self, key: &str) -> Result<Option<Vec<f32>>> {
        self.opt(key, Self::get_f32_array)
    }
    pub fn opt_i32_array(&self, key: &str) -> Result<Option<Vec<i32>>> {
        self.opt(key, Self::get_i32_array)
    }
    pub fn opt_u32_array(&self, key: &str) -> Result<Option<Vec<u32>>> {
        self.opt(key, Self::get_u32_array)
    }

    fn opt<'a, T>(
        &'a self,
        key: &str,
        get: impl FnOnce(&'a Self, &str) -> Result<T>,
    ) -> Result<Option<T>> {
        if self.contains_key(key) {
            get(self, key).map(Some)
        } else {
            Ok(None)
        }
    }
}

fn int_as<T: TryFrom<i64> + TryFrom<u64>>(key: &str, v: &Value, name: &str) -> Result<T> {
    if !v.is_integer() {
        return Err(wrong_type(key, name, v));
    }
    let converted = match v.as_u64() {
        Some(u) => T::try_from(u).ok(),
        None => v.as_i64().and_then(|i| T::try_from(i).ok()),
    };
    converted.ok_or_else(|| out_of_range(key, v, name))
}

fn int_array<T: TryFrom<i64> + TryFrom<u64>>(g: &Gguf, key: &str, name: &str) -> Result<Vec<T>> {
    let v = g.require(key)?;
    let items = v.as_array().ok_or_else(|| wrong_type(key, name, v))?;
    let elem_name = name.trim_start_matches("array of ");
    items
        .iter()
        .map(|x| {
            if !x.is_integer() {
                return Err(wrong_type(key, name, v));
            }
            int_as::<T>(key, x, elem_name)
        })
        .collect()
}
