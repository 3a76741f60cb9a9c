//! Property test: whatever metadata and tensors the writer is given, the parser reads back
//! exactly the same keys (in order), values, tensor infos and tensor bytes.

use nomoat_gguf::{GgmlType, Gguf, GgufWriter, Value};
use proptest::prelude::*;

/// Bitwise equality (NaN payloads included).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        _ => a == b,
    }
}

fn scalar_array(kind: u8) -> BoxedStrategy<Value> {
    let n = 0..6usize;
    match kind {
        0 => prop::collection::vec(any::<u8>(), n)
            .prop_map(Value::from)
            .boxed(),
        1 => prop::collection::vec(any::<i8>(), n)
            .prop_map(Value::from)
            .boxed(),
        2 => prop::collection::vec(any::<u16>(), n)
            .prop_map(Value::from)
            .boxed(),
        3 => prop::collection::vec(any::<i16>(), n)
            .prop_map(Value::from)
            .boxed(),
        4 => prop::collection::vec(any::<u32>(), n)
            .prop_map(Value::from)
            .boxed(),
        5 => prop::collection::vec(any::<i32>(), n)
            .prop_map(Value::from)
            .boxed(),
        6 => prop::collection::vec(any::<f32>(), n)
            .prop_map(Value::from)
            .boxed(),
        7 => prop::collection::vec(any::<bool>(), n)
            .prop_map(Value::from)
            .boxed(),
        8 => prop::collection::vec(".{0,12}", n)
            .prop_map(Value::from)
            .boxed(),
        9 => prop::collection::vec(any::<u64>(), n)
            .prop_map(Value::from)
            .boxed(),
        10 => prop::collection::vec(any::<i64>(), n)
            .prop_map(Value::from)
            .boxed(),
        _ => prop::collection::vec(any::<f64>(), n)
            .prop_map(Value::from)
            .boxed(),
    }
}

fn value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        any::<u8>().prop_map(Value::U8),
        any::<i8>().prop_map(Value::I8),
        any::<u16>().prop_map(Value::U16),
        any::<i16>().prop_map(Value::I16),
        any::<u32>().prop_map(Value::U32),
        any::<i32>().prop_map(Value::I32),
        any::<u64>().prop_map(Value::U64),
        any::<i64>().prop_map(Value::I64),
        any::<f32>().prop_map(Value::F32),
        any::<f64>().prop_map(Value::F64),
        any::<bool>().prop_map(Value::Bool),
        ".{0,40}".prop_map(Value::String),
    ];
    let array = (0u8..12).prop_flat_map(scalar_array);
    // Arrays of arrays (one level of nesting, inner element types may differ).
    let nested =
        prop::collection::vec((0u8..12).prop_flat_map(scalar_array), 0..4).prop_map(Value::Array);
    prop_oneof![4 => scalar, 2 => array, 1 => nested]
}

fn tensor() -> impl Strategy<Value = (GgmlType, Vec<u64>, Vec<u8>)> {
    (
        prop::sample::select(GgmlType::ALL.to_vec()),
        1u64..4,
        prop::collection::vec(1u64..4, 0..3),
    )
        .prop_flat_map(|(ty, blocks, rest)| {
            let mut dims = vec![blocks * ty.block_size()];
            dims.extend(rest);
            let rows: u64 = dims[1..].iter().product();
            let len = (blocks * ty.type_size() * rows) as usize;
            (
                Just(ty),
                Just(dims),
                prop::collection::vec(any::<u8>(), len..=len),
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn writer_then_parser_round_trips(
        version in 2u32..=3,
        align_log2 in prop::option::of(0u32..9),
        kvs in prop::collection::vec(("[a-z]{1,6}(\\.[a-z_]{1,6}){0,2}", value()), 0..12),
        tensors in prop::collection::vec(tensor(), 0..6),
    ) {
        let mut w = GgufWriter::new(version);
        if let Some(l) = align_log2 {
            w.set_alignment(1 << l);
        }
        let mut expected: Vec<(String, Value)> = Vec::new();
        if let Some(l) = align_log2 {
            expected.push(("general.alignment".into(), Value::U32(1 << l)));
        }
        for (k, v) in kvs {
            if k == "general.alignment" || expected.iter().any(|(e, _)| *e == k) {
                continue;
            }
            w.add_kv(&k, v.clone());
            expected.push((k, v));
        }
        for (i, (ty, dims, data)) in tensors.iter().enumerate() {
            w.add_tensor(&format!("t{i}.{ty}"), *ty, dims, data).unwrap();
        }
        let bytes = w.to_bytes();
        let g = Gguf::parse(&bytes).unwrap();

        prop_assert_eq!(g.version, version);
        prop_assert_eq!(g.alignment, align_log2.map_or(32, |l| 1u64 << l));
        prop_assert_eq!(g.metadata().len(), expected.len());
        for ((k, v), (ek, ev)) in g.metadata().iter().zip(&expected) {
            prop_assert_eq!(k, ek);
            prop_assert!(same(v, ev), "{}: {:?} != {:?}", k, v, ev);
            prop_assert!(same(g.get(k).unwrap(), ev));
        }
        prop_assert_eq!(g.tensors().len(), tensors.len());
        for (t, (ty, dims, data)) in g.tensors().iter().zip(&tensors) {
            prop_assert_eq!(t.ty, *ty);
            prop_assert_eq!(&t.dims, dims);
            prop_assert_eq!(t.n_bytes, data.len() as u64);
            let r = g.tensor_range(t);
            prop_assert_eq!(&bytes[r.start as usize..r.end as usize], &data[..]);
            prop_assert_eq!(r.start % g.alignment, 0);
        }
    }
}
