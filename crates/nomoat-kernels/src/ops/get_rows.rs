//! Embedding lookup: dequantize selected rows of a matrix of any supported type.

use nomoat_gguf::GgmlType;

/// For each id, dequantizes row `id` of `data` (rows of `row_len` elements of type `ty`) into the
/// matching row of `out` (n_ids × row_len). Panics on an id out of range (callers check ids against
/// the vocabulary first) or an unsupported type (rejected at load time).
pub fn get_rows(ty: GgmlType, data: &[u8], row_len: usize, ids: &[u32], out: &mut [f32]) {
    let row_bytes = ty
        .row_bytes(row_len as u64)
        .expect("get_rows: row length is whole blocks") as usize;
    assert_eq!(out.len(), ids.len() * row_len);
    let n_rows = data.len() / row_bytes.max(1);
    for (&id, o) in ids.iter().zip(out.chunks_exact_mut(row_len)) {
        let id = id as usize;
        assert!(id < n_rows, "get_rows: row {id} of {n_rows}");
        crate::dequantize_row(ty, &data[id * row_bytes..(id + 1) * row_bytes], o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use half::f16;

    #[test]
    fn f32_f16_and_q8_0_rows() {
        let rows: Vec<f32> = (0..96).map(|i| (i as f32 - 40.0) / 8.0).collect();
        // F32: 3 rows of 32.
        let bytes: Vec<u8> = rows.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = vec![0.0; 64];
        get_rows(GgmlType::F32, &bytes, 32, &[2, 0], &mut out);
        assert_eq!(&out[..32], &rows[64..96]);
        assert_eq!(&out[32..], &rows[..32]);
        // F16: exact for these values.
        let bytes: Vec<u8> = rows
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect();
        get_rows(GgmlType::F16, &bytes, 32, &[1, 1], &mut out);
        assert_eq!(&out[..32], &rows[32..64]);
        assert_eq!(&out[32..], &rows[32..64]);
        // Q8_0: one block per row, scale d = max|x| / 127 as f16, then 32 int8.
        let mut bytes = vec![];
        for r in rows.chunks(32) {
            let amax = r.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let d = f16::from_f32(amax / 127.0);
            bytes.extend(d.to_le_bytes());
            bytes.extend(r.iter().map(|&v| ((v / d.to_f32()).round() as i8) as u8));
        }
        get_rows(GgmlType::Q8_0, &bytes, 32, &[1], &mut out[..32]);
        for (a, b) in out[..32].iter().zip(&rows[32..64]) {
            assert!((a - b).abs() < 0.03, "{a} vs {b}");
        }
    }
}
