//! `nomoat template`: byte-exact prompts on stdout, from the default model (Gemma's built-in turn
//! format, BOS text from the vocabulary) and from template files.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn nomoat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nomoat"))
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = nomoat_testkit::testdata_dir().join("cli-template");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn ok_stdout(out: Output) -> String {
    assert!(
        out.status.success(),
        "nomoat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn default_model_uses_gemma_turns_with_system_folded_in() {
    let msgs = scratch(
        "gemma.json",
        r#"[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},
            {"role":"assistant","content":"Hello."},{"role":"user","content":"Bye"}]"#,
    );
    let out = nomoat()
        .arg("template")
        .arg(nomoat_testkit::gemma3_270m())
        .arg("--messages")
        .arg(&msgs)
        .output()
        .unwrap();
    assert_eq!(
        ok_stdout(out),
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n\
         <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
    );
}

/// A reference template and its golden render, through the CLI: same bytes, no newline added.
#[test]
fn template_file_matches_the_golden_render() {
    let dir = nomoat_testkit::reference("templates");
    let golden = nomoat_testkit::read_jsonl(&dir.join("golden-public.jsonl"));
    let case = golden
        .iter()
        .find(|c| {
            c["template"] == "microsoft-Phi-3.5-mini-instruct.jinja"
                && c["conversation"] == "non_ascii_newline"
        })
        .expect("golden case");
    assert_eq!(case["add_generation_prompt"], false);
    let msgs = scratch("phi.json", &case["messages"].to_string());
    let out = nomoat()
        .args(["template", "--template"])
        .arg(dir.join("microsoft-Phi-3.5-mini-instruct.jinja"))
        .arg("--messages")
        .arg(&msgs)
        .args(["--no-generation-prompt", "--bos", "<s>", "--eos", "</s>"])
        .output()
        .unwrap();
    assert_eq!(ok_stdout(out), case["output"].as_str().unwrap());
}

#[test]
fn messages_from_stdin_tools_vars_and_source_date_epoch() {
    let tmpl = scratch(
        "t.jinja",
        "{{ strftime_now('%Y-%m-%d') }}|{{ tools|tojson }}|{{ enable_thinking }}|{{ messages[0].content }}|{{ add_generation_prompt }}\n",
    );
    let tools = scratch("tools.json", r#"[{"name":"f"}]"#);
    let mut child = nomoat()
        .args(["template", "--template"])
        .arg(&tmpl)
        .args(["--messages", "-", "--tools"])
        .arg(&tools)
        .args(["--var", "enable_thinking=false"])
        .env("SOURCE_DATE_EPOCH", "86400")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(br#"{"messages":[{"role":"user","content":"q"}]}"#)
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(ok_stdout(out), r#"1970-01-02|[{"name": "f"}]|False|q|True"#);
}

fn err_of(args: &[&str], extra: &[&Path]) -> String {
    let out = nomoat().args(args).args(extra).output().unwrap();
    assert!(!out.status.success(), "should fail: {args:?}");
    assert!(out.stdout.is_empty());
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn errors_are_clear() {
    let msgs = scratch("one.json", r#"[{"role":"user","content":"x"}]"#);
    let e = err_of(&["template", "--messages"], &[&msgs]);
    assert!(e.contains("--template"), "{e}");

    let raising = scratch(
        "raise.jinja",
        "{{ raise_exception('only user turns, please') }}",
    );
    let e = err_of(
        &["template", "--messages"],
        &[&msgs, Path::new("--template"), &raising],
    );
    assert!(e.contains("only user turns, please"), "{e}");

    let bad = scratch("bad.json", r#"[{"content":"no role"}]"#);
    let e = err_of(&["template", "--builtin", "chatml", "--messages"], &[&bad]);
    assert!(e.contains("role"), "{e}");

    let e = err_of(&["template", "--builtin", "nope", "--messages"], &[&msgs]);
    assert!(e.contains("gemma"), "{e}");
}

/// A vocab-only GGUF without a template or a known name: the family comes from its special
/// tokens (Llama 3 here), BOS text from its vocabulary.
#[test]
fn vocab_only_gguf_gets_a_builtin_from_its_special_tokens() {
    let vocab = nomoat_testkit::reference("vocab").join("ggml-vocab-llama-bpe.gguf");
    let msgs = scratch("bpe.json", r#"[{"role":"user","content":" x "}]"#);
    let out = nomoat()
        .arg("template")
        .arg(&vocab)
        .arg("--messages")
        .arg(&msgs)
        .output()
        .unwrap();
    assert_eq!(
        ok_stdout(out),
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>\
         <|start_header_id|>assistant<|end_header_id|>\n\n"
    );
}
