//! One chat-template policy: `nomoat run --chat`, `nomoat serve` and `nomoat template` render the
//! same prompt for the same file and messages — with the file's own template, with an explicit
//! choice, and they refuse alike when the file has no template and no built-in fits.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use nomoat_chat::{Message, TemplateChoice};
use nomoat_engine::generate::LoadedModel;
use nomoat_server::{ModelText, TokenizerText};

const SYSTEM: &str = "Be brief.";
const USER: &str = "Hi there";

fn nomoat() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nomoat"))
}

fn messages_file() -> PathBuf {
    let dir = nomoat_testkit::testdata_dir().join("cli-one-policy");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("msgs.json");
    let msgs = serde_json::json!([
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER},
    ]);
    std::fs::write(&p, msgs.to_string()).unwrap();
    p
}

/// `nomoat template`'s stdout, or its error.
fn via_template(model: &Path, builtin: Option<&str>) -> Result<String, String> {
    let mut c = nomoat();
    c.arg("template")
        .arg(model)
        .arg("--messages")
        .arg(messages_file());
    if let Some(b) = builtin {
        c.args(["--builtin", b]);
    }
    let out = c.output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The prompt `nomoat run --chat --print-prompt` reports (it generates nothing with `-n 0`).
fn via_run(model: &Path, builtin: Option<&str>) -> Result<String, String> {
    let mut c = nomoat();
    c.arg("run")
        .arg(model)
        .arg(USER)
        .args(["--chat", "--system", SYSTEM, "--print-prompt", "-n", "0"])
        .args(["-t", "1", "-c", "512", "--temp", "0"]);
    if let Some(b) = builtin {
        c.args(["--chat-template", b]);
    }
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        return Err(err);
    }
    let start = err.find("----- prompt -----\n").expect("prompt header") + 19;
    let end = err.rfind("\n------------------").expect("prompt footer");
    Ok(err[start..end].to_string())
}

/// What the server renders for a chat request with these messages.
fn via_serve(model: &Path, builtin: Option<&str>) -> Result<String, String> {
    let lm = Arc::new(LoadedModel::load(model, 1).expect("load"));
    let choice = builtin.map(|b| TemplateChoice::builtin(b).unwrap());
    let text = TokenizerText::new(lm, choice.as_ref()).map_err(|e| e.to_string())?;
    text.render_chat(&[Message::new("system", SYSTEM), Message::new("user", USER)])
        .map(|p| p.text)
        .map_err(|e| e.to_string())
}

fn all_three(model: &Path, builtin: Option<&str>) -> [Result<String, String>; 3] {
    [
        via_run(model, builtin),
        via_serve(model, builtin),
        via_template(model, builtin),
    ]
}

#[test]
fn the_default_model_gets_the_same_prompt_everywhere() {
    let [run, serve, template] = all_three(&nomoat_testkit::gemma3_270m(), None);
    let template = template.expect("template");
    assert!(
        template.contains(USER) && template.contains(SYSTEM),
        "{template}"
    );
    assert_eq!(run.expect("run"), template);
    assert_eq!(serve.expect("serve"), template);
}

#[test]
fn a_file_without_template_is_refused_alike_and_an_explicit_choice_applies_alike() {
    let tiny = nomoat_testkit::synthetic_spec(nomoat_testkit::synthetic::TINY_LLAMA);
    for r in all_three(&tiny, None) {
        let e = r.expect_err("no template, no family: an error");
        assert!(e.contains("no chat template"), "{e}");
    }
    let [run, serve, template] = all_three(&tiny, Some("chatml"));
    let template = template.expect("template");
    assert!(
        template.starts_with("<|im_start|>system\nBe brief."),
        "{template}"
    );
    assert_eq!(run.expect("run"), template);
    assert_eq!(serve.expect("serve"), template);
}
