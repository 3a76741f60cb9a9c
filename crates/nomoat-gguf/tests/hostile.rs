//! Hostile-input suite: malformed variants of a valid tiny model, each of which must give its
//! specific error (never a panic, never an allocation sized by an untrusted count; see
//! `alloc_bounds.rs` for the allocation side).
//!
//! Model-level variants (special token ids, tokenizer array lengths, missing tensors, NaN
//! hyperparameters, unknown architecture) live with the model validation in `nomoat-models`.

mod common;

use common::*;
use nomoat_gguf::{
    encode_str, encode_value, GgmlType, Gguf, GgufError, GgufFile, GgufWriter, Limits, RawTensor,
    Value,
};

fn err(bytes: &[u8]) -> GgufError {
    match Gguf::parse(bytes) {
        Ok(_) => panic!("a malformed file parsed"),
        Err(e) => e,
    }
}

fn err_with(bytes: &[u8], limits: &Limits) -> GgufError {
    match Gguf::parse_with_limits(bytes, limits) {
        Ok(_) => panic!("a malformed file parsed"),
        Err(e) => e,
    }
}

/// Assert that `e` matches `pat`, showing the error otherwise; messages are lowercase-first.
macro_rules! assert_variant {
    ($e:expr, $pat:pat $(if $guard:expr)?) => {{
        let e = $e;
        let msg = e.to_string();
        assert!(
            matches!(e, $pat $(if $guard)?),
            "unexpected error {e:?}: {msg}"
        );
        assert!(
            !msg.starts_with(|c: char| c.is_ascii_uppercase()),
            "message should start lowercase: {msg}"
        );
        msg
    }};
}

fn raw_tensor(name: &str, dims: &[u64], ty: GgmlType, data_len: usize) -> RawTensor {
    RawTensor {
        name: name.as_bytes().to_vec(),
        n_dims: None,
        dims: dims.to_vec(),
        type_id: ty.id(),
        offset: None,
        data: vec![0u8; data_len],
    }
}

// ---- positive controls ------------------------------------------------------------------------

#[test]
fn base_model_parses_in_v3_and_v2() {
    let g = Gguf::parse(&base().to_bytes()).unwrap();
    assert_eq!(g.tensors().len(), 3);
    assert_eq!(g.get_str_array("tokenizer.ggml.tokens").unwrap(), TOKENS);
    let mut w = base();
    let mut v2 = w.to_bytes();
    put_u32(&mut v2, VERSION_AT, 2);
    assert_eq!(Gguf::parse(&v2).unwrap().version, 2);
    w.add_kv("extra", 1u8);
    assert!(Gguf::parse(&w.to_bytes()).is_ok());
}

// ---- header ---------------------------------------------------------------------------------

#[test]
fn empty_file() {
    assert_variant!(err(&[]), GgufError::BadMagic { ref found } if found.is_empty());
}

#[test]
fn shorter_than_magic() {
    assert_variant!(err(b"GGU"), GgufError::BadMagic { .. });
}

#[test]
fn wrong_magic() {
    let mut b = base().to_bytes();
    b[..4].copy_from_slice(b"GGML");
    let msg = assert_variant!(err(&b), GgufError::BadMagic { .. });
    assert!(msg.contains("not a GGUF file"), "{msg}");
}

#[test]
fn unsupported_versions() {
    for v in [0u32, 1, 4, 5, 1000, u32::MAX] {
        let mut b = base().to_bytes();
        put_u32(&mut b, VERSION_AT, v);
        let msg =
            assert_variant!(err(&b), GgufError::UnsupportedVersion { version } if version == v);
        assert!(msg.contains(&v.to_string()), "{msg}");
    }
}

#[test]
fn big_endian_file_is_named() {
    let mut b = base().to_bytes();
    b[VERSION_AT..VERSION_AT + 4].copy_from_slice(&3u32.to_be_bytes());
    let msg = assert_variant!(err(&b), GgufError::BigEndian { version: 3 });
    assert!(msg.contains("big-endian"), "{msg}");
}

#[test]
fn truncated_header_counts() {
    let b = base().to_bytes();
    for cut in 4..24 {
        assert_variant!(err(&b[..cut]), GgufError::Truncated { .. });
    }
}

/// Cut the file at every length: before the magic ends it is not GGUF, inside the header,
/// metadata or tensor infos it is truncated, inside the data section a tensor leaves the file.
#[test]
fn truncation_at_every_prefix_length() {
    let (b, marks) = base().to_bytes_with_offsets();
    let info_end = marks[marks.len() - 2] as usize;
    assert!(marks.len() > 10, "the base has many structures: {marks:?}");
    for cut in 0..b.len() {
        let e = err(&b[..cut]);
        match cut {
            0..=3 => {
                assert_variant!(e, GgufError::BadMagic { .. });
            }
            c if c < info_end => {
                assert_variant!(e, GgufError::Truncated { offset, .. } if offset <= c as u64);
            }
            _ => {
                assert_variant!(e, GgufError::TensorOutOfBounds { .. });
            }
        }
    }
    assert!(Gguf::parse(&b).is_ok());
}

/// At each structural boundary exactly (the end of the header, of each key/value pair, of each
/// tensor info), the error names the next structure.
#[test]
fn truncation_at_structure_boundaries_names_the_structure() {
    let (b, marks) = base().to_bytes_with_offsets();
    let n_kv = base().kv_count();
    for (i, &m) in marks.iter().enumerate().take(marks.len() - 2) {
        let msg = assert_variant!(
            err(&b[..m as usize]),
            GgufError::Truncated { offset, .. } if offset <= m
        );
        if i < n_kv {
            assert!(
                msg.contains("metadata") || msg.contains("key"),
                "{i}: {msg}"
            );
        } else {
            assert!(msg.contains("tensor"), "{i}: {msg}");
        }
    }
}

// ---- counts ---------------------------------------------------------------------------------

#[test]
fn huge_kv_count() {
    let mut b = base().to_bytes();
    put_u64(&mut b, N_KV_AT, u64::MAX);
    assert_variant!(
        err(&b),
        GgufError::LimitExceeded {
            value: u64::MAX,
            ..
        }
    );
}

#[test]
fn kv_count_above_what_the_file_holds() {
    let mut b = base().to_bytes();
    put_u64(&mut b, N_KV_AT, 1 << 19);
    assert_variant!(err(&b), GgufError::Truncated { .. });
}

#[test]
fn huge_tensor_count() {
    let mut b = base().to_bytes();
    put_u64(&mut b, N_TENSORS_AT, u64::MAX);
    assert_variant!(
        err(&b),
        GgufError::LimitExceeded {
            value: u64::MAX,
            ..
        }
    );
}

#[test]
fn tensor_count_above_what_the_file_holds() {
    let mut b = base().to_bytes();
    put_u64(&mut b, N_TENSORS_AT, 1 << 19);
    assert_variant!(err(&b), GgufError::Truncated { .. });
}

#[test]
fn tensor_count_one_more_than_written() {
    // The fourth info is read from the zero padding before the data: a name of length 0.
    let mut w = base();
    w.override_counts(Some(4), None);
    assert_variant!(err(&w.to_bytes()), GgufError::EmptyName { ref what, .. } if what == "name of tensor 3");
    // Without the padding, the file ends where the fourth info should be.
    let (b, marks) = w.to_bytes_with_offsets();
    let info_end = marks[marks.len() - 2] as usize;
    assert_variant!(err(&b[..info_end]), GgufError::Truncated { .. });
}

#[test]
fn kv_count_one_more_than_written_reads_tensor_infos_as_metadata() {
    // The extra "key/value" starts where the first tensor info is: its name becomes the key,
    // its n_dims (1) the value type (i8) and the first byte of its first dim the value. The
    // tensor infos are then read 5 bytes late, which lands on a zero name length.
    let mut w = base();
    w.override_counts(None, Some(w.kv_count() as u64 + 1));
    assert_variant!(err(&w.to_bytes()), GgufError::EmptyName { ref what, .. } if what == "name of tensor 0");
}

// ---- strings --------------------------------------------------------------------------------

#[test]
fn huge_string_length() {
    let mut payload = Vec::new();
    payload.extend_from_slice(&u64::MAX.to_le_bytes());
    let b = one_raw_kv(b"general.name", 8, &payload, 16);
    let msg = assert_variant!(
        err(&b),
        GgufError::LimitExceeded {
            value: u64::MAX,
            ..
        }
    );
    assert!(msg.contains("general.name"), "{msg}");
}

#[test]
fn string_longer_than_the_file() {
    let mut payload = Vec::new();
    payload.extend_from_slice(&1000u64.to_le_bytes());
    payload.extend_from_slice(b"short");
    let b = one_raw_kv(b"general.name", 8, &payload, 0);
    assert_variant!(err(&b), GgufError::Truncated { needed: 1000, .. });
}

#[test]
fn huge_key_length() {
    let mut w = GgufWriter::new(3);
    w.override_counts(None, Some(1));
    let mut b = w.to_bytes();
    b.truncate(24);
    b.extend_from_slice(&(u64::MAX - 3).to_le_bytes());
    b.extend_from_slice(&[b'a'; 32]);
    assert_variant!(err(&b), GgufError::LimitExceeded { .. });
}

#[test]
fn string_length_limit_is_configurable() {
    let b = base().to_bytes();
    let limits = Limits {
        max_string_len: 4,
        ..Limits::default()
    };
    let msg = assert_variant!(
        err_with(&b, &limits),
        GgufError::LimitExceeded { limit: 4, .. }
    );
    assert!(msg.contains("general.architecture"), "{msg}");
}

#[test]
fn invalid_utf8_in_key() {
    let b = one_raw_kv(b"general.\xff\xfename", 4, &7u32.to_le_bytes(), 0);
    let msg = assert_variant!(err(&b), GgufError::InvalidUtf8 { offset: 24, .. });
    assert!(msg.contains("key"), "{msg}");
}

#[test]
fn invalid_utf8_in_string_value() {
    let mut payload = Vec::new();
    encode_str(b"ok \xc3\x28 bad", &mut payload);
    let b = one_raw_kv(b"general.name", 8, &payload, 0);
    let msg = assert_variant!(err(&b), GgufError::InvalidUtf8 { .. });
    assert!(msg.contains("general.name"), "{msg}");
}

#[test]
fn invalid_utf8_in_string_array_element() {
    let mut payload = Vec::new();
    payload.extend_from_slice(&8u32.to_le_bytes());
    payload.extend_from_slice(&2u64.to_le_bytes());
    encode_str(b"fine", &mut payload);
    encode_str(b"\x80", &mut payload);
    let b = one_raw_kv(b"tokenizer.ggml.tokens", 9, &payload, 0);
    let msg = assert_variant!(err(&b), GgufError::InvalidUtf8 { .. });
    assert!(msg.contains("tokenizer.ggml.tokens"), "{msg}");
}

#[test]
fn invalid_utf8_in_tensor_name() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(RawTensor {
        name: b"blk.\xff.weight".to_vec(),
        ..raw_tensor("", &[32], GgmlType::F32, 128)
    });
    let msg = assert_variant!(err(&w.to_bytes()), GgufError::InvalidUtf8 { .. });
    assert!(msg.contains("tensor"), "{msg}");
}

#[test]
fn empty_key() {
    let b = one_raw_kv(b"", 4, &7u32.to_le_bytes(), 0);
    assert_variant!(err(&b), GgufError::EmptyName { offset: 24, .. });
}

#[test]
fn empty_tensor_name() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("", &[32], GgmlType::F32, 128));
    assert_variant!(err(&w.to_bytes()), GgufError::EmptyName { .. });
}

// ---- values and arrays ----------------------------------------------------------------------

#[test]
fn unknown_value_type() {
    for id in [13u32, 100, u32::MAX] {
        let b = one_raw_kv(b"general.thing", id, &[0u8; 8], 8);
        let msg = assert_variant!(
            err(&b),
            GgufError::UnknownValueType { id: got, ref key, .. } if got == id && key == "general.thing"
        );
        assert!(msg.contains("general.thing"), "{msg}");
    }
}

#[test]
fn unknown_array_element_type() {
    let mut payload = Vec::new();
    payload.extend_from_slice(&77u32.to_le_bytes());
    payload.extend_from_slice(&1u64.to_le_bytes());
    let b = one_raw_kv(b"a.list", 9, &payload, 8);
    assert_variant!(err(&b), GgufError::UnknownValueType { id: 77, .. });
}

#[test]
fn huge_array_length() {
    let mut payload = Vec::new();
    payload.extend_from_slice(&4u32.to_le_bytes());
    payload.extend_from_slice(&u64::MAX.to_le_bytes());
    let b = one_raw_kv(b"tokenizer.ggml.scores", 9, &payload, 64);
    let msg = assert_variant!(
        err(&b),
        GgufError::LimitExceeded {
            value: u64::MAX,
            ..
        }
    );
    assert!(msg.contains("tokenizer.ggml.scores"), "{msg}");
}

#[test]
fn array_longer_than_the_file() {
    // 1M u32 within the default limit, but the file holds 64 bytes after the count.
    let mut payload = Vec::new();
    payload.extend_from_slice(&4u32.to_le_bytes());
    payload.extend_from_slice(&(1u64 << 20).to_le_bytes());
    let b = one_raw_kv(b"tokenizer.ggml.token_type", 9, &payload, 64);
    assert_variant!(err(&b), GgufError::Truncated { needed, available, .. } if needed == 4 << 20 && available < 128);
}

#[test]
fn array_of_strings_longer_than_the_file() {
    let mut payload = Vec::new();
    payload.extend_from_slice(&8u32.to_le_bytes());
    payload.extend_from_slice(&(1u64 << 23).to_le_bytes());
    let b = one_raw_kv(b"tokenizer.ggml.tokens", 9, &payload, 100);
    assert_variant!(err(&b), GgufError::Truncated { .. });
}

#[test]
fn array_byte_size_overflow() {
    // With the array limit lifted, count × element size itself overflows u64.
    let mut payload = Vec::new();
    payload.extend_from_slice(&12u32.to_le_bytes());
    payload.extend_from_slice(&(u64::MAX / 4).to_le_bytes());
    let b = one_raw_kv(b"a.f64s", 9, &payload, 64);
    let limits = Limits {
        max_array_len: u64::MAX,
        ..Limits::default()
    };
    assert_variant!(err_with(&b, &limits), GgufError::Overflow { .. });
}

fn nested(depth: usize) -> Value {
    let mut v = Value::from(vec![1u8, 2, 3]);
    for _ in 1..depth {
        v = Value::Array(vec![v]);
    }
    v
}

#[test]
fn deep_nesting() {
    let b = one_raw_kv(b"deep", 9, &encode_value(&nested(1000))[..], 0);
    let msg = assert_variant!(err(&b), GgufError::TooDeep { limit: 3, .. });
    assert!(msg.contains("deep"), "{msg}");
}

#[test]
fn nesting_at_the_limit_is_accepted_one_more_is_not() {
    let mut w = GgufWriter::new(3);
    w.add_kv("ok", nested(3));
    assert_eq!(
        Gguf::parse(&w.to_bytes()).unwrap().get("ok"),
        Some(&nested(3))
    );
    let mut w = GgufWriter::new(3);
    w.add_kv("too.deep", nested(4));
    assert_variant!(err(&w.to_bytes()), GgufError::TooDeep { .. });
}

#[test]
fn bool_that_is_not_0_or_1() {
    let b = one_raw_kv(b"tokenizer.ggml.add_bos_token", 7, &[2], 0);
    assert_variant!(err(&b), GgufError::InvalidBool { value: 2, .. });
}

#[test]
fn duplicate_key() {
    let mut w = base();
    w.add_kv_raw(b"general.name", 8, &encode_value(&Value::from("again")));
    let msg = assert_variant!(err(&w.to_bytes()), GgufError::DuplicateKey { ref key, .. } if key == "general.name");
    assert!(msg.contains("general.name"), "{msg}");
}

#[test]
fn metadata_memory_limit() {
    let b = base().to_bytes();
    let limits = Limits {
        max_metadata_memory: 200,
        ..Limits::default()
    };
    assert_variant!(
        err_with(&b, &limits),
        GgufError::LimitExceeded { limit: 200, .. }
    );
}

#[test]
fn kv_count_limit_is_configurable() {
    let b = base().to_bytes();
    let limits = Limits {
        max_kv_count: 3,
        ..Limits::default()
    };
    assert_variant!(
        err_with(&b, &limits),
        GgufError::LimitExceeded { limit: 3, .. }
    );
}

// ---- alignment ------------------------------------------------------------------------------

#[test]
fn alignment_zero() {
    let mut w = base();
    w.set_alignment(0);
    assert_variant!(err(&w.to_bytes()), GgufError::BadAlignment { value: 0 });
}

#[test]
fn alignment_not_a_power_of_two() {
    for a in [3u32, 13, 48, u32::MAX] {
        let mut w = base();
        w.set_alignment(a);
        assert_variant!(err(&w.to_bytes()), GgufError::BadAlignment { value } if value == u64::from(a));
    }
}

#[test]
fn alignment_of_the_wrong_type() {
    for v in [Value::I32(32), Value::U64(32), Value::from("32")] {
        let mut w = base();
        w.add_kv("general.alignment", v);
        let msg = assert_variant!(err(&w.to_bytes()), GgufError::WrongType { ref key, .. } if key == "general.alignment");
        assert!(msg.contains("u32"), "{msg}");
    }
}

#[test]
fn larger_alignment_is_honoured() {
    let mut w = base();
    w.set_alignment(256);
    let g = Gguf::parse(&w.to_bytes()).unwrap();
    assert_eq!(g.alignment, 256);
    assert_eq!(g.data_offset % 256, 0);
    assert!(g.tensors().iter().all(|t| t.offset % 256 == 0));
}

#[test]
fn offset_aligned_to_32_but_not_to_the_declared_64() {
    let mut w = base_no_tensors();
    w.set_alignment(64);
    w.add_tensor_raw(raw_tensor("a", &[8], GgmlType::F32, 32));
    w.add_tensor_raw(RawTensor {
        offset: Some(96),
        ..raw_tensor("b", &[8], GgmlType::F32, 32)
    });
    assert_variant!(
        err(&w.to_bytes()),
        GgufError::Misaligned {
            offset: 96,
            alignment: 64,
            ..
        }
    );
}

// ---- tensor infos ---------------------------------------------------------------------------

#[test]
fn unknown_tensor_types() {
    for id in [4u32, 5, 31, 33, 36, 38, 43, 1000, u32::MAX] {
        let mut w = base_no_tensors();
        w.add_tensor_raw(RawTensor {
            type_id: id,
            ..raw_tensor("blk.0.attn_q.weight", &[32], GgmlType::F32, 128)
        });
        let msg = assert_variant!(
            err(&w.to_bytes()),
            GgufError::UnknownTensorType { id: got, ref tensor, .. } if got == id && tensor == "blk.0.attn_q.weight"
        );
        assert!(msg.contains("blk.0.attn_q.weight"), "{msg}");
    }
}

#[test]
fn zero_dims() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("scalar", &[], GgmlType::F32, 4));
    assert_variant!(err(&w.to_bytes()), GgufError::BadDims { ref tensor, .. } if tensor == "scalar");
}

#[test]
fn too_many_dims() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("t", &[1, 1, 1, 1, 32], GgmlType::F32, 128));
    let msg = assert_variant!(err(&w.to_bytes()), GgufError::BadDims { .. });
    assert!(msg.contains("n_dims is 5"), "{msg}");
}

#[test]
fn huge_n_dims_field() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(RawTensor {
        n_dims: Some(u32::MAX),
        ..raw_tensor("t", &[32], GgmlType::F32, 128)
    });
    assert_variant!(err(&w.to_bytes()), GgufError::BadDims { .. });
}

#[test]
fn a_dimension_of_zero() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("t", &[32, 0], GgmlType::F32, 0));
    let msg = assert_variant!(err(&w.to_bytes()), GgufError::BadDims { .. });
    assert!(msg.contains("dimension 1 is 0"), "{msg}");
}

#[test]
fn dims_whose_product_overflows() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor(
        "t",
        &[1 << 32, 1 << 32, 1 << 32],
        GgmlType::F32,
        128,
    ));
    assert_variant!(err(&w.to_bytes()), GgufError::Overflow { .. });
}

#[test]
fn element_count_above_i64_max() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("t", &[1 << 32, 1 << 31], GgmlType::F32, 128));
    assert_variant!(err(&w.to_bytes()), GgufError::Overflow { .. });
}

#[test]
fn dimension_above_i64_max() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("t", &[u64::MAX], GgmlType::I8, 128));
    assert_variant!(err(&w.to_bytes()), GgufError::BadDims { .. });
}

#[test]
fn byte_size_overflows() {
    // 2^62 elements fit i64, but 2^62 × 8 bytes does not fit u64.
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("t", &[1 << 62], GgmlType::F64, 128));
    assert_variant!(err(&w.to_bytes()), GgufError::Overflow { .. });
}

#[test]
fn row_not_a_multiple_of_the_block() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor(
        "blk.0.ffn_down.weight",
        &[100, 2],
        GgmlType::Q4_K,
        288,
    ));
    let msg = assert_variant!(err(&w.to_bytes()), GgufError::BadDims { .. });
    assert!(msg.contains("block size 256"), "{msg}");
}

#[test]
fn duplicate_tensor() {
    let mut w = base();
    w.add_tensor_raw(raw_tensor("output_norm.weight", &[32], GgmlType::F32, 128));
    assert_variant!(err(&w.to_bytes()), GgufError::DuplicateTensor { ref name, .. } if name == "output_norm.weight");
}

// ---- tensor data ranges ---------------------------------------------------------------------

#[test]
fn offset_beyond_the_file() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(RawTensor {
        offset: Some(1 << 40),
        ..raw_tensor("t", &[32], GgmlType::F32, 128)
    });
    assert_variant!(err(&w.to_bytes()), GgufError::TensorOutOfBounds { ref tensor, .. } if tensor == "t");
}

#[test]
fn data_end_beyond_the_file() {
    // Offset in range, but the size (1M F32) runs past the end.
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("t", &[1024, 1024], GgmlType::F32, 128));
    assert_variant!(err(&w.to_bytes()), GgufError::TensorOutOfBounds { .. });
}

#[test]
fn misaligned_offset() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(RawTensor {
        offset: Some(1),
        ..raw_tensor("t", &[8], GgmlType::F32, 64)
    });
    assert_variant!(
        err(&w.to_bytes()),
        GgufError::Misaligned {
            offset: 1,
            alignment: 32,
            ..
        }
    );
}

#[test]
fn offset_that_wraps_around() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(RawTensor {
        offset: Some(!31u64),
        ..raw_tensor("t", &[8], GgmlType::F32, 32)
    });
    assert_variant!(
        err(&w.to_bytes()),
        GgufError::TensorOutOfBounds {
            start: u64::MAX,
            ..
        }
    );
}

#[test]
fn size_that_wraps_around() {
    // start fits, start + n_bytes does not.
    let mut w = base_no_tensors();
    w.add_tensor_raw(RawTensor {
        offset: Some((u64::MAX / 2) & !31),
        ..raw_tensor("t", &[1 << 61], GgmlType::I32, 32)
    });
    assert_variant!(
        err(&w.to_bytes()),
        GgufError::TensorOutOfBounds { end: u64::MAX, .. }
    );
}

#[test]
fn overlapping_tensors() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("a", &[16], GgmlType::F32, 64));
    w.add_tensor_raw(RawTensor {
        offset: Some(32),
        ..raw_tensor("b", &[16], GgmlType::F32, 64)
    });
    let msg = assert_variant!(err(&w.to_bytes()), GgufError::Overlap { .. });
    assert!(msg.contains("`a`") && msg.contains("`b`"), "{msg}");
}

#[test]
fn two_tensors_at_the_same_offset() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor("a", &[8], GgmlType::F32, 32));
    w.add_tensor_raw(RawTensor {
        offset: Some(0),
        ..raw_tensor("b", &[8], GgmlType::F32, 32)
    });
    assert_variant!(err(&w.to_bytes()), GgufError::Overlap { .. });
}

#[test]
fn tensor_name_limit() {
    let mut w = base_no_tensors();
    w.add_tensor_raw(raw_tensor(&"x".repeat(300), &[8], GgmlType::F32, 32));
    let limits = Limits {
        max_name_len: 256,
        ..Limits::default()
    };
    assert_variant!(
        err_with(&w.to_bytes(), &limits),
        GgufError::LimitExceeded { value: 300, .. }
    );
}

// ---- files ----------------------------------------------------------------------------------

#[test]
fn open_rejects_missing_files_directories_and_devices() {
    let e = GgufFile::open("/definitely/not/here.gguf").unwrap_err();
    let msg = assert_variant!(e, GgufError::Io { .. });
    assert!(msg.contains("/definitely/not/here.gguf"), "{msg}");
    let dir = std::env::temp_dir();
    assert!(matches!(
        GgufFile::open(&dir),
        Err(GgufError::NotAFile { .. } | GgufError::Io { .. })
    ));
    if std::path::Path::new("/dev/zero").exists() {
        assert_variant!(
            GgufFile::open("/dev/zero").unwrap_err(),
            GgufError::NotAFile { .. }
        );
    }
}

#[test]
fn open_reports_parse_errors_of_small_and_large_files() {
    let dir = std::env::temp_dir().join(format!("nomoat-gguf-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert_variant!(
        GgufFile::open(&empty).unwrap_err(),
        GgufError::BadMagic { .. }
    );
    // Large enough to be memory-mapped, cut inside the data section.
    let mut w = base_no_tensors();
    w.add_tensor_f32("big", &[4096], &[0.5; 4096]).unwrap();
    let b = w.to_bytes();
    let cut = dir.join("cut.gguf");
    std::fs::write(&cut, &b[..b.len() - 1]).unwrap();
    assert_variant!(
        GgufFile::open(&cut).unwrap_err(),
        GgufError::TensorOutOfBounds { .. }
    );
    let ok = dir.join("ok.gguf");
    std::fs::write(&ok, &b).unwrap();
    let f = GgufFile::open(&ok).unwrap();
    let (t, data) = f.tensor_by_name("big").unwrap();
    assert_eq!(data.len() as u64, t.n_bytes);
    assert_eq!(&data[..4], &0.5f32.to_le_bytes());
    std::fs::remove_dir_all(&dir).unwrap();
}
