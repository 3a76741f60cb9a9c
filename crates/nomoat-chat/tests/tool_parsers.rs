//! Tool-call and reasoning parsers on model outputs per format (`tests/data/tool_calls`), on
//! every split of them into stream deltas, and on random text; the grammar builder's output.
use std::collections::HashMap;
use std::path::PathBuf;

use nomoat_chat::reasoning::ThinkTags;
use nomoat_chat::tools::{
    call_id, parse_output, tool_defs, tool_grammar, Delta, GrammarOptions, OutputParser,
    ParsedOutput, ParserConfig, ToolChoice, ToolError, ToolFormat,
};
use proptest::prelude::*;
use serde_json::{json, Value};

struct Case {
    name: String,
    config: ParserConfig,
    text: String,
    expect: Value,
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tool_calls")
}

fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(data_dir().join("cases.jsonl")).expect("cases.jsonl");
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, line)| {
            let j: Value = serde_json::from_str(line).expect("case is JSON");
            let format = ToolFormat::from_name(j["format"].as_str().unwrap()).expect("format");
            let reasoning = match j["think"].as_str() {
                None => None,
                Some("think") => Some(ThinkTags::think()),
                Some("mistral") => Some(ThinkTags::mistral()),
                Some(other) => panic!("unknown think tags {other}"),
            };
            Case {
                name: j["name"].as_str().unwrap().to_owned(),
                config: ParserConfig {
                    format,
                    tools: true,
                    reasoning,
                    starts_in_reasoning: j["starts_in_reasoning"].as_bool().unwrap(),
                    id_seed: i as u64,
                },
                text: j["text"].as_str().unwrap().to_owned(),
                expect: j["expect"].clone(),
            }
        })
        .collect()
}

/// Streams `text` cut at `cuts` (byte offsets, moved to char boundaries), checking every
/// delta's shape, and returns what a client accumulates.
fn stream(config: &ParserConfig, text: &str, cuts: &[usize]) -> ParsedOutput {
    let mut bounds: Vec<usize> = cuts
        .iter()
        .map(|&c| {
            let mut c = c.min(text.len());
            while !text.is_char_boundary(c) {
                c -= 1;
            }
            c
        })
        .collect();
    bounds.push(0);
    bounds.push(text.len());
    bounds.sort_unstable();
    let mut parser = OutputParser::new(config);
    let mut out = ParsedOutput::default();
    let mut deltas = Vec::new();
    for w in bounds.windows(2) {
        deltas.extend(parser.feed(&text[w[0]..w[1]]));
    }
    deltas.extend(parser.finish());
    for d in &deltas {
        if let Delta::ToolCall(tc) = d {
            let first = tc.index == out.tool_calls.len();
            assert_eq!(
                tc.id.is_some(),
                first,
                "id only on a call's first delta: {d:?}"
            );
            assert_eq!(
                tc.name.is_some(),
                first,
                "name only on a call's first delta: {d:?}"
            );
            assert!(tc.index <= out.tool_calls.len(), "indices in order: {d:?}");
        }
        out.apply(d);
    }
    out
}

#[test]
fn recorded_outputs_parse_as_expected() {
    let cases = cases();
    assert!(cases.len() >= 50, "the case file is complete");
    for c in &cases {
        let got = parse_output(&c.config, &c.text);
        let e = &c.expect;
        assert_eq!(
            got.reasoning_content,
            e["reasoning_content"].as_str().unwrap(),
            "{}",
            c.name
        );
        assert_eq!(got.content, e["content"].as_str().unwrap(), "{}", c.name);
        let want: Vec<(String, String)> = e["tool_calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["name"].as_str().unwrap().into(),
                    t["arguments"].as_str().unwrap().into(),
                )
            })
            .collect();
        let calls: Vec<(String, String)> = got
            .tool_calls
            .iter()
            .map(|t| (t.name.clone(), t.arguments.clone()))
            .collect();
        assert_eq!(calls, want, "{}", c.name);
        for (i, t) in got.tool_calls.iter().enumerate() {
            assert_eq!(
                t.id,
                call_id(c.config.format, c.config.id_seed, i),
                "{}",
                c.name
            );
        }
        assert_eq!(
            got.finish_reason().is_some(),
            !want.is_empty(),
            "{}",
            c.name
        );
    }
}

#[test]
fn every_single_split_streams_the_same() {
    for c in cases() {
        let whole = parse_output(&c.config, &c.text);
        let chars: Vec<usize> = c.text.char_indices().map(|(i, _)| i).collect();
        for &cut in &chars {
            assert_eq!(
                stream(&c.config, &c.text, &[cut]),
                whole,
                "{} cut at {cut}",
                c.name
            );
        }
        // One character per delta, the finest a tokenizer can cut.
        assert_eq!(
            stream(&c.config, &c.text, &chars),
            whole,
            "{} char by char",
            c.name
        );
    }
}

#[test]
fn content_is_streamed_before_the_reply_ends() {
    let config = ParserConfig {
        format: ToolFormat::Hermes,
        tools: true,
        reasoning: Some(ThinkTags::think()),
        starts_in_reasoning: false,
        id_seed: 0,
    };
    let mut p = OutputParser::new(&config);
    assert_eq!(
        p.feed("<think>\nplan"),
        vec![Delta::Reasoning("plan".into())]
    );
    assert_eq!(
        p.feed(" more</think>\n\nHello <tool"),
        vec![
            Delta::Reasoning(" more".into()),
            Delta::Content("Hello".into())
        ]
    );
    // `<tool` could still become `<tool_call>`: held back until it cannot; the space before
    // it waits too (whitespace before a call is no content).
    assert_eq!(p.feed("box>"), vec![Delta::Content(" <toolbox>".into())]);
    let d = p.feed("<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": 1}}</tool_call>");
    assert_eq!(d.len(), 2, "{d:?}");
    match (&d[0], &d[1]) {
        (Delta::ToolCall(a), Delta::ToolCall(b)) => {
            assert_eq!(
                (a.index, a.name.as_deref(), a.arguments.as_str()),
                (0, Some("f"), "")
            );
            assert_eq!(
                a.id.as_deref(),
                Some(call_id(ToolFormat::Hermes, 0, 0).as_str())
            );
            assert_eq!(
                (b.index, b.id.as_ref(), b.arguments.as_str()),
                (0, None, "{\"a\":1}")
            );
        }
        other => panic!("two call deltas expected, got {other:?}"),
    }
    assert!(p.finish().is_empty());
}

#[test]
fn tools_off_means_content() {
    let config = ParserConfig {
        format: ToolFormat::Hermes,
        tools: false,
        reasoning: None,
        starts_in_reasoning: false,
        id_seed: 0,
    };
    let text = "<tool_call>{\"name\": \"f\", \"arguments\": {}}</tool_call>";
    let got = parse_output(&config, text);
    assert_eq!((got.content.as_str(), got.tool_calls.len()), (text, 0));
}

#[test]
fn ids_are_deterministic_and_shaped() {
    let a = call_id(ToolFormat::Hermes, 7, 0);
    assert_eq!(a, call_id(ToolFormat::Hermes, 7, 0));
    assert_ne!(a, call_id(ToolFormat::Hermes, 7, 1));
    assert_ne!(a, call_id(ToolFormat::Hermes, 8, 0));
    assert!(a.starts_with("call_") && a.len() == 29, "{a}");
    let m = call_id(ToolFormat::Mistral, 7, 0);
    assert!(
        m.len() == 9 && m.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{m}"
    );
}

#[test]
fn detects_the_reference_templates() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/reference/templates");
    let dir = if dir.exists() {
        dir
    } else {
        nomoat_testkit::reference("templates")
    };
    let want = [
        ("Qwen-Qwen2.5-7B-Instruct", ToolFormat::Hermes),
        ("Qwen-Qwen3-0.6B", ToolFormat::Hermes),
        ("Qwen-QwQ-32B", ToolFormat::Hermes),
        (
            "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use",
            ToolFormat::Hermes,
        ),
        (
            "NousResearch-Hermes-3-Llama-3.1-8B-tool_use",
            ToolFormat::Hermes,
        ),
        ("meta-llama-Llama-3.1-8B-Instruct", ToolFormat::Llama3),
        ("meta-llama-Llama-3.2-3B-Instruct", ToolFormat::Llama3),
        ("meta-llama-Llama-3.3-70B-Instruct", ToolFormat::Llama3),
        ("mistralai-Mistral-Nemo-Instruct-2407", ToolFormat::Mistral),
        (
            "Mistral-Small-3.2-24B-Instruct-2506",
            ToolFormat::MistralArgs,
        ),
        (
            "mistralai-Ministral-3-14B-Reasoning-2512",
            ToolFormat::MistralArgs,
        ),
        ("openai-gpt-oss-120b", ToolFormat::Harmony),
        ("Qwen3-Coder", ToolFormat::Generic),
        ("GLM-4.6", ToolFormat::Generic),
        ("google-gemma-2-2b-it", ToolFormat::Generic),
        ("microsoft-Phi-3.5-mini-instruct", ToolFormat::Generic),
    ];
    for (name, format) in want {
        let src = std::fs::read_to_string(dir.join(format!("{name}.jinja"))).expect(name);
        assert_eq!(ToolFormat::detect(&src), format, "{name}");
    }
    let qwen3 = std::fs::read_to_string(dir.join("Qwen-Qwen3-0.6B.jinja")).unwrap();
    assert_eq!(ThinkTags::detect(&qwen3), Some(ThinkTags::think()));
    let qwen25 = std::fs::read_to_string(dir.join("Qwen-Qwen2.5-7B-Instruct.jinja")).unwrap();
    assert_eq!(ThinkTags::detect(&qwen25), None);
    for f in ToolFormat::ALL {
        assert_eq!(ToolFormat::from_name(f.name()), Some(f));
    }
    assert_eq!(ToolFormat::from_name("nope"), None);
}

fn config_for(format: ToolFormat, think: bool, opened: bool) -> ParserConfig {
    ParserConfig {
        format,
        tools: true,
        reasoning: think.then(ThinkTags::think),
        starts_in_reasoning: opened,
        id_seed: 1,
    }
}

/// Text made of the pieces tool-call syntax is built from, so random strings hit the markers.
fn markup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("<tool_call>".to_owned()),
        Just("</tool_call>".to_owned()),
        Just("<|python_tag|>".to_owned()),
        Just("[TOOL_CALLS]".to_owned()),
        Just("[ARGS]".to_owned()),
        Just("[CALL_ID]".to_owned()),
        Just("<|channel|>".to_owned()),
        Just("<|message|>".to_owned()),
        Just("<|start|>".to_owned()),
        Just("<|end|>".to_owned()),
        Just("<|call|>".to_owned()),
        Just(" to=functions.f ".to_owned()),
        Just("analysis".to_owned()),
        Just("<think>".to_owned()),
        Just("</think>".to_owned()),
        Just("```".to_owned()),
        Just("{\"name\": \"f\", \"arguments\": {\"a\": [1, \"}\"]}}".to_owned()),
        Just("{\"tool_calls\": [".to_owned()),
        Just("; ".to_owned()),
        Just("f".to_owned()),
        "[{}\\[\\]\":,;<>|/ a-z\n`é☃]{0,6}",
    ];
    prop::collection::vec(piece, 0..14).prop_map(|v| v.concat())
}

fn any_format() -> impl Strategy<Value = ToolFormat> {
    prop::sample::select(ToolFormat::ALL.to_vec())
}

fn check_sensible(config: &ParserConfig, text: &str, got: &ParsedOutput) {
    for t in &got.tool_calls {
        assert!(!t.name.is_empty());
        let args: Value = serde_json::from_str(&t.arguments).expect("arguments are JSON");
        assert!(args.is_object(), "arguments are an object: {}", t.arguments);
    }
    // Without reasoning tags and without calls, a marker format loses nothing: the reply is
    // its content (harmony drops headers, generic unwraps {"response"}: not lossless).
    let lossless = matches!(
        config.format,
        ToolFormat::Hermes | ToolFormat::Llama3 | ToolFormat::Mistral | ToolFormat::MistralArgs
    );
    if lossless && config.reasoning.is_none() && got.tool_calls.is_empty() {
        assert_eq!(got.content, text);
    }
    if config.reasoning.is_none() && config.format != ToolFormat::Harmony {
        assert!(got.reasoning_content.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn recorded_outputs_stream_the_same_at_random_splits(
        idx in 0usize..1000,
        cuts in prop::collection::vec(0usize..4096, 0..24),
    ) {
        let cases = cases();
        let c = &cases[idx % cases.len()];
        let whole = parse_output(&c.config, &c.text);
        let cuts: Vec<usize> = cuts.iter().map(|x| x % (c.text.len() + 1)).collect();
        prop_assert_eq!(stream(&c.config, &c.text, &cuts), whole, "{}", &c.name);
    }

    #[test]
    fn random_markup_never_panics_and_streams_the_same(
        text in markup(),
        format in any_format(),
        think in any::<bool>(),
        opened in any::<bool>(),
        cuts in prop::collection::vec(0usize..256, 0..16),
    ) {
        let config = config_for(format, think, opened);
        let whole = parse_output(&config, &text);
        check_sensible(&config, &text, &whole);
        prop_assert_eq!(stream(&config, &text, &cuts), whole);
    }

    #[test]
    fn random_strings_never_panic(
        text in "\\PC{0,200}",
        format in any_format(),
        think in any::<bool>(),
        cuts in prop::collection::vec(0usize..256, 0..8),
    ) {
        let config = config_for(format, think, false);
        let whole = parse_output(&config, &text);
        check_sensible(&config, &text, &whole);
        prop_assert_eq!(stream(&config, &text, &cuts), whole);
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), format in any_format()) {
        let text = String::from_utf8_lossy(&bytes);
        let config = config_for(format, true, false);
        let got = parse_output(&config, &text);
        check_sensible(&config, &text, &got);
    }
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {
            "name": "get_weather",
            "description": "Weather at a place",
            "parameters": {"type": "object", "properties": {
                "location": {"type": "string"},
                "unit": {"enum": ["celsius", "fahrenheit"]}
            }, "required": ["location"]}
        }},
        {"type": "function", "function": {"name": "get_time"}}
    ])
}

fn opts(parallel: bool) -> GrammarOptions {
    GrammarOptions {
        parallel_tool_calls: parallel,
        special_tokens: HashMap::new(),
    }
}

#[test]
fn tool_definitions_are_checked() {
    let defs = tool_defs(&weather_tools()).unwrap();
    assert_eq!(defs.len(), 2);
    assert_eq!(
        defs[1].parameters,
        json!({"type": "object", "properties": {}})
    );
    let bad = |v: Value| tool_defs(&v).unwrap_err().0;
    assert!(bad(json!({})).contains("`tools`"));
    assert!(bad(json!([{"type": "retrieval"}])).contains("`tools[0].type`"));
    assert!(
        bad(json!([{"type": "function", "function": {"name": "a b"}}])).contains("function.name")
    );
    let twice = json!([{"type": "function", "function": {"name": "a"}}, {"type": "function", "function": {"name": "a"}}]);
    assert!(bad(twice).contains("twice"));
    assert!(
        bad(json!([{"type": "function", "function": {"name": "a", "parameters": 3}}]))
            .contains("parameters")
    );
}

#[test]
fn tool_choice_is_read() {
    assert_eq!(ToolChoice::from_openai(None, true), Ok(ToolChoice::Auto));
    assert_eq!(ToolChoice::from_openai(None, false), Ok(ToolChoice::None));
    assert_eq!(
        ToolChoice::from_openai(Some(&json!("required")), true),
        Ok(ToolChoice::Required)
    );
    let named = json!({"type": "function", "function": {"name": "get_time"}});
    assert_eq!(
        ToolChoice::from_openai(Some(&named), true),
        Ok(ToolChoice::Function("get_time".into()))
    );
    assert!(ToolChoice::from_openai(Some(&json!("always")), true).is_err());
    assert!(ToolChoice::from_openai(Some(&json!({"function": {"name": "x"}})), true).is_err());
}

#[test]
fn grammars_per_family() {
    let defs = tool_defs(&weather_tools()).unwrap();
    let g = |f, c: &ToolChoice, p| tool_grammar(f, &defs, c, &opts(p)).unwrap().unwrap();

    let hermes = g(ToolFormat::Hermes, &ToolChoice::Required, true);
    assert!(!hermes.lazy && hermes.triggers.is_empty());
    assert!(
        hermes.lark.contains("calls: call (\"\\n\" call)*"),
        "{}",
        hermes.lark
    );
    assert!(hermes.lark.contains(r#"call_0: "<tool_call>" "\n" %json{"type":"object","properties":{"name":{"const":"get_weather"},"arguments":{"type":"object""#), "{}", hermes.lark);
    assert!(hermes.lark.contains(r#"{"const":"get_time"}"#));

    let single = g(ToolFormat::Hermes, &ToolChoice::Required, false);
    assert!(single.lark.contains("calls: call\n"), "{}", single.lark);

    let named = g(
        ToolFormat::Hermes,
        &ToolChoice::Function("get_time".into()),
        true,
    );
    assert!(
        named.lark.contains("get_time") && !named.lark.contains("get_weather"),
        "{}",
        named.lark
    );

    let auto = g(ToolFormat::Hermes, &ToolChoice::Auto, true);
    assert!(auto.lazy);
    assert_eq!(auto.triggers[0].text, "<tool_call>");

    let llama = g(ToolFormat::Llama3, &ToolChoice::Auto, false);
    assert!(
        llama.lark.starts_with("start: <|python_tag|>? calls"),
        "{}",
        llama.lark
    );
    assert!(llama.lark.contains(r#""parameters":"#));
    assert!(llama.triggers.iter().any(|t| t.text == "{" && t.at_start));

    let mut special = opts(true);
    special.special_tokens.insert("[TOOL_CALLS]".into(), 5);
    special.special_tokens.insert("[ARGS]".into(), 32);
    let mistral = tool_grammar(ToolFormat::Mistral, &defs, &ToolChoice::Required, &special)
        .unwrap()
        .unwrap();
    assert!(
        mistral
            .lark
            .starts_with("start: <[5]> %json{\"type\":\"array\""),
        "{}",
        mistral.lark
    );
    assert!(!mistral.lark.contains("maxItems"));
    let args = tool_grammar(
        ToolFormat::MistralArgs,
        &defs,
        &ToolChoice::Required,
        &special,
    )
    .unwrap()
    .unwrap();
    assert!(
        args.lark
            .contains(r#"call_1: <[5]> "get_time" <[32]> %json{"type":"object","properties":{},"additionalProperties":false,"x-guidance""#),
        "{}",
        args.lark
    );

    let harmony = g(ToolFormat::Harmony, &ToolChoice::Required, true);
    assert!(
        harmony.lark.contains("calls: call\n"),
        "one call per harmony turn: {}",
        harmony.lark
    );
    assert!(harmony.lark.contains(r#"<|channel|> "commentary to=functions.get_time " <|constrain|> "json" <|message|> %json{"type":"object","properties":{},"additionalProperties":false,"x-guidance":{"whitespace_flexible":false,"item_separator":", ","key_separator":": "}} <|call|>"#), "{}", harmony.lark);

    let generic = g(ToolFormat::Generic, &ToolChoice::Required, false);
    assert!(
        generic.lark.contains(r#""tool_calls":{"type":"array""#)
            && generic.lark.contains(r#""maxItems":1"#),
        "{}",
        generic.lark
    );
    let auto = tool_grammar(ToolFormat::Generic, &defs, &ToolChoice::Auto, &opts(true))
        .unwrap()
        .expect("generic auto is enforced");
    assert!(!auto.lazy && auto.triggers.is_empty());
    assert!(
        auto.lark.contains(r#""response":{"type":"string"}"#),
        "{}",
        auto.lark
    );
    assert_eq!(
        tool_grammar(ToolFormat::Hermes, &defs, &ToolChoice::None, &opts(true)),
        Ok(None)
    );
}

#[test]
fn grammar_refusals_name_the_field() {
    let defs = tool_defs(&weather_tools()).unwrap();
    let err = tool_grammar(
        ToolFormat::Hermes,
        &defs,
        &ToolChoice::Function("nope".into()),
        &opts(true),
    );
    assert_eq!(
        err,
        Err(ToolError(
            "`tool_choice` names function `nope`, which is not in `tools`".into()
        ))
    );
    let empty = tool_grammar(ToolFormat::Hermes, &[], &ToolChoice::Required, &opts(true));
    assert!(matches!(empty, Err(ToolError(m)) if m.contains("`tools` is empty")));
}

/// A long call or reasoning block streamed a byte at a time stays linear: each delta is
/// looked at once, not the whole buffer again.
#[test]
fn long_outputs_stream_in_linear_time() {
    let big = "x".repeat(300_000);
    let args = format!("{{\"text\": \"{big}\"}}");
    let replies = [
        (
            ToolFormat::Hermes,
            format!("<tool_call>{{\"name\": \"f\", \"arguments\": {args}}}</tool_call>"),
        ),
        (
            ToolFormat::Llama3,
            format!("{{\"name\": \"f\", \"parameters\": {args}}}"),
        ),
        (
            ToolFormat::MistralArgs,
            format!("[TOOL_CALLS]f[ARGS]{args}"),
        ),
        (
            ToolFormat::Harmony,
            format!(
                "<|channel|>commentary to=functions.f <|constrain|>json<|message|>{args}<|call|>"
            ),
        ),
        (
            ToolFormat::Generic,
            format!("{{\"tool_calls\": [{{\"name\": \"f\", \"arguments\": {args}}}]}}"),
        ),
        (ToolFormat::Hermes, format!("<think>{big}</think>{big}")),
    ];
    for (format, text) in replies {
        let config = config_for(format, true, false);
        let start = std::time::Instant::now();
        let mut parser = OutputParser::new(&config);
        let mut out = ParsedOutput::default();
        for (i, c) in text.char_indices() {
            for d in parser.feed(&text[i..i + c.len_utf8()]) {
                out.apply(&d);
            }
        }
        for d in parser.finish() {
            out.apply(&d);
        }
        let secs = start.elapsed().as_secs_f64();
        assert!(
            secs < 20.0,
            "{format}: {secs:.1} s for {} bytes",
            text.len()
        );
        if out.tool_calls.is_empty() {
            assert_eq!(
                (out.reasoning_content.len(), out.content.len()),
                (big.len(), big.len())
            );
        } else {
            assert_eq!(
                out.tool_calls[0].arguments.len(),
                args.len() - 1,
                "{format}"
            );
        }
    }
}

#[test]
fn grammar_defaults_are_openai_defaults() {
    assert!(GrammarOptions::default().parallel_tool_calls);
}

#[test]
fn newlines_between_calls_are_no_content() {
    let config = ParserConfig {
        format: ToolFormat::Hermes,
        tools: true,
        reasoning: Some(ThinkTags::think()),
        starts_in_reasoning: false,
        id_seed: 0,
    };
    let one = "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>";
    let text = format!("{one}\n{one}\n\n{one}\n");
    let mut p = OutputParser::new(&config);
    let mut got = ParsedOutput::default();
    // Token-sized pieces, the way the server feeds it.
    for piece in text.split_inclusive(['\n', '>']) {
        for d in p.feed(piece) {
            got.apply(&d);
        }
    }
    for d in p.finish() {
        got.apply(&d);
    }
    assert_eq!((got.content.as_str(), got.tool_calls.len()), ("", 3));
}
