//! Fuzz the GGUF parser: any bytes must give `Ok` or a typed error, never a panic, an abort or
//! an allocation sized by an untrusted count. On success, every getter is exercised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nomoat_gguf::{Gguf, Limits, Value};

fuzz_target!(|data: &[u8]| {
    // Small limits too, so limit checks themselves get exercised on short inputs.
    let small = Limits {
        max_string_len: 64,
        max_array_len: 64,
        max_array_depth: 2,
        max_kv_count: 16,
        max_tensor_count: 16,
        max_metadata_memory: 4096,
        ..Limits::default()
    };
    let _ = Gguf::parse_with_limits(data, &small).map(|g| touch(&g));
    if let Ok(g) = Gguf::parse(data) {
        touch(&g);
    }
});

fn touch(g: &Gguf) {
    let _ = g.architecture();
    for (key, value) in g.metadata() {
        assert!(g.get(key).is_some());
        let _ = value.to_string();
        let _ = value.describe_type();
        let _ = (
            value.as_u64(),
            value.as_i64(),
            value.as_f64(),
            value.as_bool(),
        );
        let _ = (value.as_str(), value.as_array().map(<[Value]>::len));
        let _ = g.get_str(key);
        let _ = g.get_u32(key);
        let _ = g.get_u64(key);
        let _ = g.get_i64(key);
        let _ = g.get_f32(key);
        let _ = g.get_bool(key);
        let _ = g.get_array(key);
        let _ = g.get_str_array(key);
        let _ = g.get_f32_array(key);
        let _ = g.get_i32_array(key);
        let _ = g.get_u32_array(key);
        let _ = g.opt_u32(key);
        let _ = g.opt_str_array(key);
    }
    let _ = g.opt_u32("missing.key");
    for t in g.tensors() {
        assert!(g.tensor(&t.name).is_some());
        let r = g.tensor_range(t);
        assert!(r.end <= g.file_len && r.start >= g.data_offset);
        assert_eq!(r.end - r.start, t.n_bytes);
        assert_eq!(t.offset % g.alignment, 0);
        let _ = (
            t.n_elements(),
            t.n_rows(),
            t.row_len(),
            t.row_bytes(),
            t.shape_string(),
        );
        let _ = t.ty.to_string();
    }
}
