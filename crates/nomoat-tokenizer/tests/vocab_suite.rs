//! llama.cpp's own tokenizer test suite (`../shared/reference/vocab`): every case of every
//! vocabulary must give exactly the expected ids (no BOS/EOS, special text not parsed).

mod common;

fn cases(inp: &[u8]) -> Vec<&[u8]> {
    const SEP: &[u8] = b"\n__ggml_vocab_test__\n";
    let mut out = Vec::new();
    let mut rest = inp;
    loop {
        match rest.windows(SEP.len()).position(|w| w == SEP) {
            Some(p) => {
                out.push(&rest[..p]);
                rest = &rest[p + SEP.len()..];
            }
            None => {
                if !rest.is_empty() {
                    out.push(rest);
                }
                break;
            }
        }
    }
    out
}

fn run(name: &str) {
    let path = common::vocab_path(name);
    let tok = common::load(&path);
    let inp = std::fs::read(path.with_extension("gguf.inp")).expect("read .inp");
    let out = std::fs::read_to_string(path.with_extension("gguf.out")).expect("read .out");
    let cases = cases(&inp);
    let expected: Vec<Vec<u32>> = out
        .lines()
        .map(|l| {
            l.split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().expect("id"))
                .collect()
        })
        .collect();
    assert_eq!(cases.len(), expected.len(), "{name}: case count");
    let mut failures = Vec::new();
    for (case, want) in cases.iter().zip(&expected) {
        let text = std::str::from_utf8(case).expect("cases are UTF-8");
        let got = tok.encode(text, false, false);
        if &got != want {
            failures.push(format!("  {text:?}\n    want {want:?}\n    got  {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

macro_rules! vocab_tests {
    ($($test:ident => $file:literal,)*) => {
        $(#[test] fn $test() { run($file); })*
    };
}

vocab_tests! {
    command_r => "ggml-vocab-command-r.gguf",
    deepseek_coder => "ggml-vocab-deepseek-coder.gguf",
    deepseek_llm => "ggml-vocab-deepseek-llm.gguf",
    falcon => "ggml-vocab-falcon.gguf",
    gemma_4 => "ggml-vocab-gemma-4.gguf",
    gpt_2 => "ggml-vocab-gpt-2.gguf",
    llama_bpe => "ggml-vocab-llama-bpe.gguf",
    llama_spm => "ggml-vocab-llama-spm.gguf",
    mpt => "ggml-vocab-mpt.gguf",
    phi_3 => "ggml-vocab-phi-3.gguf",
    qwen2 => "ggml-vocab-qwen2.gguf",
    qwen35 => "ggml-vocab-qwen35.gguf",
    refact => "ggml-vocab-refact.gguf",
    starcoder => "ggml-vocab-starcoder.gguf",
}

#[test]
fn case_splitting_follows_the_readme() {
    assert_eq!(
        cases(b"a\n__ggml_vocab_test__\n\n__ggml_vocab_test__\n"),
        [b"a" as &[u8], b""]
    );
    assert_eq!(cases(b"a\n__ggml_vocab_test__\nb"), [b"a" as &[u8], b"b"]);
}
