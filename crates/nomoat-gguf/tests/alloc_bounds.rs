//! Allocation bounds: a hostile count (of keys, tensors, array elements, string bytes) must never
//! size an allocation. A counting global allocator records the peak bytes live while parsing
//! each huge-count variant; the peak must stay below the file size plus a small constant.
//!
//! This file holds one test so that no other test thread allocates while it measures.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use nomoat_gguf::{Gguf, GgufWriter, RawTensor};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only updates counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let live = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(live, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes the parser may allocate beyond the file size: a few small pre-reserved vectors and
/// hash maps (each capped at 16 KiB by design) and error messages.
const SLACK: usize = 128 * 1024;

/// Peak bytes allocated while parsing `bytes` (the file itself is already allocated).
fn peak_parse(bytes: &[u8]) -> usize {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let r = Gguf::parse(bytes);
    assert!(r.is_err(), "variant parsed");
    drop(r);
    PEAK.load(Ordering::SeqCst) - base
}

fn raw_array(elem_type: u32, count: u64, tail: usize) -> Vec<u8> {
    let mut payload = Vec::new();
    payload.extend_from_slice(&elem_type.to_le_bytes());
    payload.extend_from_slice(&count.to_le_bytes());
    one_raw_kv(b"tokenizer.ggml.tokens", 9, &payload, tail)
}

#[test]
fn huge_counts_never_size_an_allocation() {
    let mut variants: Vec<(&str, Vec<u8>)> = Vec::new();

    let mut b = base().to_bytes();
    put_u64(&mut b, N_KV_AT, (1 << 20) - 1);
    variants.push(("kv count just under the limit", b));
    let mut b = base().to_bytes();
    put_u64(&mut b, N_KV_AT, u64::MAX);
    variants.push(("kv count u64::MAX", b));
    let mut b = base().to_bytes();
    put_u64(&mut b, N_TENSORS_AT, (1 << 20) - 1);
    variants.push(("tensor count just under the limit", b));
    let mut b = base().to_bytes();
    put_u64(&mut b, N_TENSORS_AT, u64::MAX);
    variants.push(("tensor count u64::MAX", b));

    variants.push(("u8 array of 16M", raw_array(0, (1 << 24) - 1, 4096)));
    variants.push(("string array of 16M", raw_array(8, (1 << 24) - 1, 4096)));
    variants.push(("nested array of 16M", raw_array(9, (1 << 24) - 1, 4096)));
    variants.push(("u64 array of u64::MAX", raw_array(10, u64::MAX, 4096)));

    let mut payload = Vec::new();
    payload.extend_from_slice(&((1u64 << 24) - 1).to_le_bytes());
    variants.push((
        "string of 16M",
        one_raw_kv(b"tokenizer.chat_template", 8, &payload, 4096),
    ));

    let mut w = GgufWriter::new(3);
    w.override_counts(None, Some(1));
    let mut b = w.to_bytes();
    b.truncate(24);
    b.extend_from_slice(&((1u64 << 16) - 1).to_le_bytes());
    b.extend_from_slice(&[b'k'; 100]);
    variants.push(("key of 64K", b));

    let mut w = base_no_tensors();
    w.add_tensor_raw(RawTensor {
        name: b"t".to_vec(),
        n_dims: Some(u32::MAX),
        dims: vec![32],
        type_id: 0,
        offset: None,
        data: vec![0; 128],
    });
    variants.push(("n_dims u32::MAX", w.to_bytes()));

    for (what, bytes) in &variants {
        let peak = peak_parse(bytes);
        assert!(
            peak <= bytes.len() + SLACK,
            "{what}: parsing a {}-byte file allocated {peak} bytes at peak",
            bytes.len()
        );
    }
}
