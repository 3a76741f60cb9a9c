//! The default model's configuration matches the reference metadata dump
//! (`../shared/reference/gemma3-270m-metadata.txt`) and llama.cpp's gemma3 defaults.

use nomoat_gguf::GgufFile;
use nomoat_models::{validate, Arch};

#[test]
fn default_model_config() {
    let f = GgufFile::open(nomoat_testkit::default_model()).unwrap();
    let c = validate(&f).expect("default model validates");
    assert_eq!(c.arch, Arch::Gemma3);
    assert_eq!(
        (c.n_layer, c.n_embd, c.n_ff, c.n_vocab),
        (18, 640, 2048, 262144)
    );
    assert_eq!(
        (c.n_head, c.n_head_kv, c.head_dim_k, c.head_dim_v),
        (4, 1, 256, 256)
    );
    assert_eq!((c.n_ctx_train, c.norm_eps), (32768, 1e-6));
    assert_eq!(
        (c.rope.n_rot, c.rope.freq_base, c.rope.freq_base_swa),
        (256, 1e6, 1e4)
    );
    assert_eq!(c.sliding_window, 512);
    let global: Vec<usize> = (0..18).filter(|&i| !c.swa_layers[i]).collect();
    assert_eq!(global, [5, 11, 17], "5 local : 1 global");
    assert_eq!(c.attn_scale, 1.0 / 16.0);
    assert!(c.tied_output);
    assert_eq!(
        (c.special.bos, c.special.eos, c.special.unk, c.special.pad),
        (Some(2), Some(1), Some(3), Some(0))
    );
}
