//! Dequantization equals gguf-py's reference (`gguf.quants.dequantize`) bit for bit:
//! - rows of every tensor type in the default model (`tests/data/model_rows.json`);
//! - random blocks of every format gguf-py supports (`tests/data/random_blocks.json`).
//!
//! Regenerate with `tests/data/make_fixtures.py`.

use nomoat_kernels::{dequantize_row, GgmlType};

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn f32s(s: &str) -> Vec<f32> {
    unhex(s)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn load(name: &str) -> Vec<serde_json::Value> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn assert_bits_eq(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(
            g.to_bits(),
            w.to_bits(),
            "{what}: element {i}: got {g}, want {w}"
        );
    }
}

#[test]
fn random_blocks_of_every_format_match_gguf_py() {
    let mut types = Vec::new();
    for case in load("random_blocks.json") {
        let ty = GgmlType::from_name(case["type"].as_str().unwrap()).unwrap();
        let blocks = unhex(case["blocks_hex"].as_str().unwrap());
        let want = f32s(case["f32_hex"].as_str().unwrap());
        let mut got = vec![0f32; want.len()];
        dequantize_row(ty, &blocks, &mut got);
        assert_bits_eq(&got, &want, ty.name());
        types.push(ty);
    }
    for ty in [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::IQ4_NL,
        GgmlType::IQ4_XS,
        GgmlType::F16,
        GgmlType::BF16,
    ] {
        assert!(types.contains(&ty), "fixture lacks {ty}");
    }
}

#[test]
fn default_model_rows_match_gguf_py() {
    let path = nomoat_testkit::gemma3_270m();
    let file = nomoat_gguf::GgufFile::open(&path).unwrap();
    let cases = load("model_rows.json");
    let mut types = std::collections::BTreeSet::new();
    for case in &cases {
        let name = case["tensor"].as_str().unwrap();
        let row = case["row"].as_u64().unwrap() as usize;
        let n = case["n"].as_u64().unwrap() as usize;
        let (info, data) = file.tensor_by_name(name).unwrap();
        assert_eq!(
            info.ty.name().to_ascii_uppercase(),
            case["type"].as_str().unwrap().to_ascii_uppercase()
        );
        let rb = info.row_bytes() as usize;
        let mut got = vec![0f32; n];
        dequantize_row(info.ty, &data[row * rb..(row + 1) * rb], &mut got);
        assert_bits_eq(
            &got,
            &f32s(case["f32_hex"].as_str().unwrap()),
            &format!("{name} row {row}"),
        );
        types.insert(info.ty.name());
    }
    // Every type the default model holds: Q5_0, Q8_0, Q4_K, Q6_K and F32.
    assert_eq!(types.len(), 5, "{types:?}");
}
