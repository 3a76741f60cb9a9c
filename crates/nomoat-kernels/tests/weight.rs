//! `WeightMatrix`, the crate's matmul entry point, on a real mapped GGUF file: it gives the same
//! bits as the lower-level path it picks (GGUF rows with dot kernels or R8 tiles, or the
//! repacked 8-row groups), repacks only what has a layout, and looks rows up in either form.

mod common;

use std::sync::Arc;

use common::{random_acts, random_matrix, Rng};
use nomoat_gguf::{GgufFile, GgufWriter};
use nomoat_kernels::{
    dequantize_row, matmul, matmul_packed, GgmlType, KernelError, Matrix, PackedMatrix, ThreadPool,
    WeightMatrix,
};

/// (name, type, rows, cols): packable (Q8_0, Q4_K with 8k rows) and not (Q6_K; Q4_0 with 13 rows).
const TENSORS: [(&str, GgmlType, usize, usize); 4] = [
    ("q8_0", GgmlType::Q8_0, 40, 256),
    ("q4_k", GgmlType::Q4_K, 16, 512),
    ("q6_k", GgmlType::Q6_K, 24, 256),
    ("q4_0", GgmlType::Q4_0, 13, 128),
];

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn weight_matrix_equals_the_path_it_picks() {
    let mut rng = Rng(2024);
    let data: Vec<Vec<u8>> = TENSORS
        .iter()
        .map(|&(_, ty, n, k)| random_matrix(&mut rng, ty, n, k))
        .collect();
    let mut w = GgufWriter::new(3);
    for (&(name, ty, n, k), d) in TENSORS.iter().zip(&data) {
        w.add_tensor(name, ty, &[k as u64, n as u64], d).unwrap();
    }
    let path =
        std::env::temp_dir().join(format!("nomoat-kernels-weight-{}.gguf", std::process::id()));
    w.write_to(&path).unwrap();
    let file = Arc::new(GgufFile::open(&path).unwrap());
    std::fs::remove_file(&path).unwrap();
    let pool = ThreadPool::new(2);

    for (&(name, ty, n, k), d) in TENSORS.iter().zip(&data) {
        let t = file.gguf().tensor(name).unwrap();
        let r = file.gguf().tensor_range(t);
        let range = r.start as usize..r.end as usize;
        let mut wm = WeightMatrix::new(Arc::clone(&file), ty, n, k, range.clone()).unwrap();
        assert_eq!((wm.ty(), wm.n_rows(), wm.n_cols()), (ty, n, k));
        let plain = Matrix::new(ty, n, k, d).unwrap();
        let packed = PackedMatrix::pack(&plain, &pool, |_| {});

        for m in [1usize, 3, 5, 40] {
            let x = random_acts(&mut rng, m * k);
            let (mut a, mut b) = (vec![0f32; m * n], vec![0f32; m * n]);
            wm.matmul(&pool, &x, m, &mut a);
            matmul(&pool, &plain, &x, m, &mut b);
            assert_eq!(bits(&a), bits(&b), "{name} m={m}: mapped rows");
        }

        let bytes = wm.pack(&pool);
        assert_eq!(bytes, wm.packed_bytes());
        assert_eq!(
            bytes,
            packed.as_ref().map_or(0, PackedMatrix::bytes),
            "{name}"
        );
        assert_eq!(
            bytes > 0,
            matches!(name, "q8_0" | "q4_k"),
            "{name}: {bytes} bytes"
        );
        for m in [1usize, 3, 5, 40] {
            let x = random_acts(&mut rng, m * k);
            let (mut a, mut b) = (vec![0f32; m * n], vec![0f32; m * n]);
            wm.matmul(&pool, &x, m, &mut a);
            match &packed {
                Some(p) => matmul_packed(&pool, p, &x, m, &mut b),
                None => matmul(&pool, &plain, &x, m, &mut b),
            }
            assert_eq!(bits(&a), bits(&b), "{name} m={m}: after pack");
        }

        let ids: Vec<u32> = (0..n as u32).rev().step_by(3).collect();
        let mut got = vec![0f32; ids.len() * k];
        wm.get_rows(&ids, &mut got);
        let mut all = vec![0f32; n * k];
        dequantize_row(ty, d, &mut all);
        for (i, &id) in ids.iter().enumerate() {
            let id = id as usize;
            assert_eq!(
                bits(&got[i * k..(i + 1) * k]),
                bits(&all[id * k..(id + 1) * k])
            );
        }
    }

    // A range past the file, or one that is not exactly the matrix, is refused.
    let len = file.bytes().len();
    let e = WeightMatrix::new(
        Arc::clone(&file),
        GgmlType::Q8_0,
        8,
        32,
        len - 10..len + 262,
    );
    assert!(matches!(e, Err(KernelError::BadDataLength { .. })), "{e:?}");
    let e = WeightMatrix::new(Arc::clone(&file), GgmlType::Q8_0, 8, 32, 0..100);
    assert!(matches!(e, Err(KernelError::BadDataLength { .. })), "{e:?}");
}
