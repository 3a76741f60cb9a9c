//! `nomoat tokenize` on the default model and on a vocab-only GGUF.
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn nomoat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nomoat"))
}

fn ok_stdout(out: Output) -> String {
    assert!(
        out.status.success(),
        "nomoat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn tokenize(args: &[&str]) -> String {
    ok_stdout(
        nomoat()
            .arg("tokenize")
            .arg(nomoat_testkit::gemma3_270m())
            .args(args)
            .output()
            .unwrap(),
    )
}

#[test]
fn ids_match_llama_cpp_on_the_default_model() {
    assert_eq!(tokenize(&["Hello world", "--ids"]), "[2, 9259, 1902]\n");
    assert_eq!(
        tokenize(&["Hello world", "--ids", "--no-bos"]),
        "[9259, 1902]\n"
    );
    let special = "<start_of_turn>user\nHi<end_of_turn>\n";
    assert_eq!(
        tokenize(&[special, "--ids", "--no-bos"]),
        "[105, 2364, 107, 10979, 106, 107]\n"
    );
    let plain = tokenize(&[special, "--ids", "--no-bos", "--no-special"]);
    assert!(!plain.contains("105"), "{plain}");
}

#[test]
fn json_lists_ids_and_pieces() {
    let out = tokenize(&["a\u{a0}b", "--json", "--no-bos"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = v.as_array().unwrap();
    assert_eq!(rows[0]["id"], 236746);
    assert_eq!(rows[0]["piece"], "a");
    // U+00A0 is two byte tokens; each piece alone is not UTF-8.
    assert_eq!(rows[1]["bytes"], serde_json::json!([194]));
    assert_eq!(rows[2]["bytes"], serde_json::json!([160]));
}

#[test]
fn table_shows_every_piece_escaped() {
    let out = tokenize(&["Hi\n"]);
    assert!(out.starts_with("     id  piece\n"), "{out}");
    assert!(out.contains("      2  '<bos>'\n"), "{out}");
    assert!(out.contains("    107  '\\n'\n"), "{out}");
    assert!(out.ends_with("(3 tokens)\n"), "{out}");
}

#[test]
fn file_and_stdin_are_read_byte_exact() {
    let dir = nomoat_testkit::testdata_dir().join("cli-tokenize");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("text.txt");
    std::fs::write(&p, "line one\nline two\n\n").unwrap();
    let from_file = tokenize(&["--file", p.to_str().unwrap(), "--ids", "--no-bos"]);
    assert_eq!(from_file, "[1257, 886, 107, 1257, 1156, 108]\n");

    let mut child = nomoat()
        .args(["tokenize"])
        .arg(nomoat_testkit::gemma3_270m())
        .args(["--file", "-", "--ids", "--no-bos"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two\n\n")
        .unwrap();
    assert_eq!(ok_stdout(child.wait_with_output().unwrap()), from_file);
}

#[test]
fn vocab_only_gguf_works() {
    let vocab = nomoat_testkit::reference("vocab").join("ggml-vocab-llama-bpe.gguf");
    let out = ok_stdout(
        nomoat()
            .arg("tokenize")
            .arg(&vocab)
            .args(["Hello world", "--ids"])
            .output()
            .unwrap(),
    );
    assert_eq!(out, "[128000, 9906, 1917]\n");
}

#[test]
fn bad_input_gives_a_clear_error() {
    let out = nomoat()
        .arg("tokenize")
        .arg(nomoat_testkit::gemma3_270m())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("give the text to tokenize"));

    let dir = nomoat_testkit::testdata_dir().join("cli-tokenize");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("bad.txt");
    std::fs::write(&p, b"ok\xff").unwrap();
    let out = nomoat()
        .arg("tokenize")
        .arg(nomoat_testkit::gemma3_270m())
        .args(["--file", p.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("not valid UTF-8 (first bad byte at offset 2)"));
}
