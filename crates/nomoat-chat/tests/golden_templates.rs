//! Every case of `../shared/reference/templates/golden-public.jsonl` (renders by jinja2 in
//! Hugging Face's environment) must render byte-identically, or fail where the reference fails.
use std::collections::BTreeSet;

use nomoat_chat::{clock, ChatTemplate, Limit, Limits, Message, RenderRequest, TemplateError};
use serde_json::Value as Json;

struct Case {
    template: String,
    conversation: String,
    req: RenderRequest,
    output: Option<String>,
    error: Option<String>,
}

fn cases() -> Vec<Case> {
    let dir = nomoat_testkit::reference("templates");
    cases_from(&dir.join("golden-public.jsonl"))
}

fn cases_from(path: &std::path::Path) -> Vec<Case> {
    let text = std::fs::read_to_string(path).expect("golden file");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let j: Json = serde_json::from_str(line).expect("golden line is JSON");
            let s = |k: &str| j[k].as_str().map(str::to_owned);
            let messages: Vec<Message> =
                serde_json::from_value(j["messages"].clone()).expect("messages");
            Case {
                template: s("template").expect("template"),
                conversation: s("conversation").expect("conversation"),
                req: RenderRequest {
                    messages,
                    add_generation_prompt: j["add_generation_prompt"].as_bool().expect("agp"),
                    bos_token: s("bos_token").expect("bos"),
                    eos_token: s("eos_token").expect("eos"),
                    tools: Some(j["tools"].clone()).filter(|t| !t.is_null()),
                    extra: j["extra"].as_object().cloned().unwrap_or_default(),
                    now: Some(clock::parse_iso8601(&s("now").expect("now")).expect("iso time")),
                },
                output: s("output"),
                error: s("error"),
            }
        })
        .collect()
}

#[test]
fn every_golden_case_renders_like_jinja2() {
    let cases = cases();
    assert!(
        cases.len() >= 210,
        "expected 210 golden cases, found {}",
        cases.len()
    );
    check_all("public", &cases);
}

/// Renders made with `tests/data/make_golden_extra.py` (jinja2 3.1.6 in transformers' setup) for
/// conversations the public file lacks: tools, tool calls (dict and string arguments), tool
/// results, list content, reasoning, template kwargs, a trailing assistant turn.
#[test]
fn extra_golden_cases_render_like_jinja2() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/golden-extra.jsonl");
    let cases = cases_from(&path);
    assert!(
        cases.len() >= 420,
        "expected 420 extra cases, found {}",
        cases.len()
    );
    check_all("extra", &cases);
}

/// A differential run on any file in the golden format, e.g. thousands of random conversations
/// from `tests/data/make_golden_random.py` (needs Python with jinja2, so not part of CI).
#[test]
#[ignore = "set NOMOAT_CHAT_GOLDEN to a file made by tests/data/make_golden_random.py"]
fn golden_file_from_env_renders_like_jinja2() {
    let path = std::env::var_os("NOMOAT_CHAT_GOLDEN").expect("NOMOAT_CHAT_GOLDEN is not set");
    let cases = cases_from(std::path::Path::new(&path));
    assert!(!cases.is_empty(), "no cases in the file");
    check_all("env", &cases);
}

fn check_all(label: &str, cases: &[Case]) {
    let dir = nomoat_testkit::reference("templates");
    let mut failures = Vec::new();
    let mut failed_templates = BTreeSet::new();
    let mut templates = BTreeSet::new();
    for case in cases {
        templates.insert(case.template.clone());
        let source = std::fs::read_to_string(dir.join(&case.template)).expect("template file");
        // Real templates must fit in a tenth of the default budget (reliability.md's margin).
        let d = Limits::default();
        let tenth = Limits {
            fuel: d.fuel / 10,
            max_output_bytes: d.max_output_bytes / 10,
            max_value_bytes: d.max_value_bytes / 10,
            ..d
        };
        let result = ChatTemplate::with_limits(&source, tenth).and_then(|t| t.render(&case.req));
        let verdict = match (&result, &case.output, &case.error) {
            (Ok(got), Some(want), _) if got == want => None,
            (Ok(got), Some(want), _) => Some(format!(
                "output differs at byte {}:\n  want: {:?}\n  got:  {:?}",
                first_diff(got, want),
                want,
                got
            )),
            (Err(e), Some(_), _) => Some(format!("failed, reference renders: {e}")),
            (Err(e), None, Some(want)) => raise_mismatch(e, want),
            (Ok(got), None, Some(want)) => {
                Some(format!("rendered, reference fails with {want}: {got:?}"))
            }
            (_, None, None) => Some("golden line has neither output nor error".into()),
        };
        if let Some(v) = verdict {
            failed_templates.insert(case.template.clone());
            failures.push(format!("{} / {}: {v}", case.template, case.conversation));
        }
    }
    eprintln!(
        "{label} golden templates: {}/{} templates, {}/{} cases pass",
        templates.len() - failed_templates.len(),
        templates.len(),
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A template's own `raise_exception` message must match; other errors need only fail.
fn raise_mismatch(e: &TemplateError, want: &str) -> Option<String> {
    match (e, want.strip_prefix("TemplateError: ")) {
        (TemplateError::Raised(got), Some(msg)) if got != msg => {
            Some(format!("raised {got:?}, reference raised {msg:?}"))
        }
        (TemplateError::Raised(_), Some(_)) => None,
        (_, Some(msg)) => Some(format!("failed with {e}, reference raised {msg:?}")),
        // Python's own recursion limit is our recursion limit.
        (TemplateError::Limit(Limit::Recursion), None) if want.starts_with("RecursionError") => {
            None
        }
        (TemplateError::Limit(_), None) => Some(format!("hit a limit ({e}), reference: {want}")),
        (_, None) => None,
    }
}

fn first_diff(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

/// The built-in templates produce what the official templates in the reference folder produce
/// for the same plain conversations.
#[test]
fn builtins_match_official_templates() {
    use nomoat_chat::Builtin;
    let pairs = [
        (
            Builtin::Phi3,
            "microsoft-Phi-3.5-mini-instruct.jinja",
            &[][..],
        ),
        // Gemma 2 refuses system messages; Gemma 3 (the built-in) folds them in instead.
        (
            Builtin::Gemma,
            "google-gemma-2-2b-it.jinja",
            &["system_user_assistant_user"][..],
        ),
        // Qwen 2.5 adds its own default system prompt when there is none.
        (
            Builtin::ChatMl,
            "Qwen-Qwen2.5-7B-Instruct.jinja",
            &["single_user", "non_ascii_newline"][..],
        ),
    ];
    let mut compared = 0;
    for (builtin, file, skip) in pairs {
        let ours = ChatTemplate::new(builtin.source()).expect("builtin compiles");
        for case in cases().iter().filter(|c| c.template == file) {
            if skip.contains(&case.conversation.as_str()) {
                continue;
            }
            let want = case.output.as_ref().expect("reference renders");
            let got = ours.render(&case.req).expect("builtin renders");
            assert_eq!(&got, want, "{builtin:?} vs {file} / {}", case.conversation);
            compared += 1;
        }
    }
    assert!(compared >= 6, "compared only {compared} renders");
}
