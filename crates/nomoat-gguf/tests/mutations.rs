//! Property test (a small in-CI fuzzer): random corruptions of a valid file (byte flips,
//! "interesting" 32/64-bit values written over fields, truncation) must give `Ok` or a typed
//! error, never a panic; whatever parses keeps the parser's guarantees.

mod common;

use nomoat_gguf::{Gguf, GgufError};
use proptest::prelude::*;

/// Values that tend to break size arithmetic.
const INTERESTING: [u64; 12] = [
    0,
    1,
    2,
    3,
    31,
    32,
    0x7f,
    0xffff_ffff,
    1 << 32,
    i64::MAX as u64,
    1 << 63,
    u64::MAX,
];

#[derive(Debug, Clone)]
enum Edit {
    Byte(usize, u8),
    U32(usize, u64),
    U64(usize, u64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Edit::Byte(p, b)),
        (any::<usize>(), prop::sample::select(INTERESTING.to_vec()))
            .prop_map(|(p, v)| Edit::U32(p, v)),
        (any::<usize>(), prop::sample::select(INTERESTING.to_vec()))
            .prop_map(|(p, v)| Edit::U64(p, v)),
    ]
}

fn apply(bytes: &mut [u8], e: &Edit) {
    let n = bytes.len();
    match *e {
        Edit::Byte(p, b) => bytes[p % n] = b,
        Edit::U32(p, v) => {
            let p = p % (n - 4);
            bytes[p..p + 4].copy_from_slice(&(v as u32).to_le_bytes());
        }
        Edit::U64(p, v) => {
            let p = p % (n - 8);
            bytes[p..p + 8].copy_from_slice(&v.to_le_bytes());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn corrupted_files_never_panic(
        edits in prop::collection::vec(edit(), 1..6),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let mut b = common::base().to_bytes();
        // Most edits land in the metadata and tensor infos (the interesting part).
        for e in &edits {
            apply(&mut b, e);
        }
        if let Some(c) = cut {
            let len = c.index(b.len());
            b.truncate(len);
        }
        match Gguf::parse(&b) {
            Ok(g) => {
                for t in g.tensors() {
                    let r = g.tensor_range(t);
                    prop_assert!(r.end <= b.len() as u64);
                    prop_assert_eq!(t.offset % g.alignment, 0);
                    prop_assert_eq!(Some(t.n_bytes), t.ty.row_bytes(t.row_len()).map(|rb| rb * t.n_rows()));
                }
                for (k, _) in g.metadata() {
                    prop_assert!(g.get(k).is_some());
                }
            }
            Err(e) => {
                // Typed errors only (no I/O or writer errors from parsing bytes).
                let is_io = matches!(e, GgufError::Io { .. } | GgufError::NotAFile { .. } | GgufError::Writer(_));
                prop_assert!(!is_io, "{:?}", e);
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }
}
