//! jinja2-on-Python behaviours that real templates rely on and the public goldens do not all
//! exercise: printing, `tojson`, Python methods, tests, undefined values, request variables.
use nomoat_chat::{ChatTemplate, Content, Message, RenderRequest, TemplateError};
use proptest::prelude::*;
use serde_json::json;

fn req() -> RenderRequest {
    RenderRequest {
        messages: vec![Message::new("user", "hi")],
        bos_token: "<s>".into(),
        eos_token: "</s>".into(),
        now: Some(1_768_469_400),
        ..RenderRequest::default()
    }
}

fn r(src: &str) -> String {
    r_with(src, &req())
}

fn r_with(src: &str, req: &RenderRequest) -> String {
    ChatTemplate::new(src)
        .and_then(|t| t.render(req))
        .unwrap_or_else(|e| panic!("{src}: {e}"))
}

#[test]
fn prints_values_as_python_str() {
    assert_eq!(
        r("{{ none }}|{{ true }}|{{ [1, 'a', none, 2.5] }}|{{ {'k': false} }}|{{ 1e16 }}"),
        "None|True|[1, 'a', None, 2.5]|{'k': False}|1e+16"
    );
    assert_eq!(
        r("{{ 'x' ~ none ~ true ~ undefined_var ~ 3 }}"),
        "xNoneTrue3"
    );
    assert_eq!(
        r("{{ [1] + [2] }}{{ 'ab' * 2 }}{{ 2 * 3 }}{{ 7 // 2 }}{{ 1 + 0.5 }}"),
        "[1, 2]abab631.5"
    );
    assert_eq!(r("{{ true + 1 }}"), "2");
    let two = "{% set n = 2 %}";
    assert_eq!(
        r(&format!(
            "{two}{{{{ n ** -1 }}}} {{{{ n ** 10 }}}} {{{{ n ** 0.5 }}}} {{{{ 2.0 ** n }}}}"
        )),
        "0.5 1024 1.4142135623730951 4.0"
    );
}

#[test]
fn tojson_is_python_json_dumps() {
    let mut q = req();
    q.tools = Some(
        json!([{"type": "function", "function": {"name": "météo", "parameters": {"b": 1, "a": [true, null]}}}]),
    );
    assert_eq!(
        r_with("{{ tools|tojson }}", &q),
        r#"[{"type": "function", "function": {"name": "météo", "parameters": {"b": 1, "a": [true, null]}}}]"#
    );
    assert_eq!(
        r_with(
            "{{ tools[0].function.parameters|tojson(indent=2, sort_keys=true) }}",
            &q
        ),
        "{\n  \"a\": [\n    true,\n    null\n  ],\n  \"b\": 1\n}"
    );
    assert_eq!(r("{{ '<a&b>'|tojson }}"), "\"<a&b>\"");
    assert_eq!(r("{{ 'é'|tojson(ensure_ascii=true) }}"), "\"\\u00e9\"");
    assert_eq!(
        r("{{ {'a': 1}|tojson(separators=(',', ':')) }}"),
        "{\"a\":1}"
    );
    assert!(ChatTemplate::new("{{ nope|tojson }}")
        .unwrap()
        .render(&req())
        .is_err());
}

#[test]
fn tools_none_vs_given_and_extra_variables() {
    assert_eq!(
        r("{{ tools is defined }} {{ tools is none }} {{ documents is none }}"),
        "True True True"
    );
    let mut q = req();
    q.extra.insert("enable_thinking".into(), json!(false));
    q.extra.insert("bos_token".into(), json!("EVIL"));
    assert_eq!(
        r_with("{{ enable_thinking }} {{ bos_token }}", &q),
        "False <s>"
    );
}

#[test]
fn python_methods_and_jinja_tests() {
    assert_eq!(
        r("{{ ' a b '.strip().split(' ') }}{{ 'x</think>y'.split('</think>')[-1] }}{{ 'ab'.startswith(('x', 'a')) }}"),
        "['a', 'b']yTrue"
    );
    assert_eq!(
        r("{% set m = messages[0] %}{{ m.get('content') }}|{{ m.get('nope') is none }}|{% for k, v in m.items() %}{{ k }}={{ v }};{% endfor %}"),
        "hi|True|role=user;content=hi;"
    );
    assert_eq!(
        r("{{ 'abc' is sequence }}{{ {} is sequence }}{{ none is iterable }}{{ true is number }}{{ 'a' is string }}"),
        "TrueTrueFalseTrueTrue"
    );
    assert_eq!(
        r("{{ 'Hello World'|title }} {{ 'hello-world x'|title }}"),
        "Hello World Hello-World X"
    );
    assert_eq!(
        r("{{ 'a\nb\n\nc'|indent(2) }}|{{ 'a\nb'|indent(2, true) }}"),
        "a\n  b\n\n  c|  a\n  b"
    );
    assert_eq!(r("{{ '{}-{name}'.format(1, name='n') }}"), "1-n");
    assert_eq!(
        r("{{ [3, 1, 2]|sort|join(',') }}{{ messages|map(attribute='role')|list }}"),
        "1,2,3['user']"
    );
}

#[test]
fn slices_markup_and_generators_behave_as_in_python() {
    assert_eq!(
        r("{{ [1,2,3,4][1:] }}{{ [1,2,3,4][::-1] }}{{ [1,2,3,4][-2:] }}{{ 'héllo'[1:3] }}{{ 'abc'[::-1] }}{{ ([1,2,3][1:])|length }}"),
        "[2, 3, 4][4, 3, 2, 1][3, 4]élcba2"
    );
    // `Markup + str` escapes the plain side (markupsafe); `~` does not.
    assert_eq!(
        r("{{ '<b>'|safe + '\"x\" & <y>' }}|{{ '<b>'|safe ~ '<i>' }}"),
        "<b>&#34;x&#34; &amp; &lt;y&gt;|<b><i>"
    );
    // select/map give generators: iterable and true, but no len() and no JSON.
    assert_eq!(
        r("{{ messages|map(attribute='role')|join(',') }}{{ messages|selectattr('role', 'equalto', 'x') is iterable }}{% if messages|selectattr('role', 'equalto', 'x') %}T{% endif %}{{ messages|selectattr('role')|list|length }}"),
        "userTrueT1"
    );
    for bad in [
        "{{ messages|map(attribute='role')|tojson }}",
        "{{ messages|selectattr('role')|length }}",
    ] {
        assert!(
            ChatTemplate::new(bad).unwrap().render(&req()).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn undefined_is_lenient_like_jinja2() {
    assert_eq!(
        r("[{{ nope }}]{{ nope|length }}{% for x in nope %}x{% endfor %}{{ nope is defined }}"),
        "[]0False"
    );
    for bad in [
        "{{ nope.attr }}",
        "{{ nope + 1 }}",
        "{{ 'a' + nope }}",
        "{% for x in none %}{% endfor %}",
        "{{ 'a' + 1 }}",
    ] {
        assert!(
            matches!(
                ChatTemplate::new(bad).unwrap().render(&req()),
                Err(TemplateError::Render { .. })
            ),
            "{bad}"
        );
    }
}

#[test]
fn content_shapes_reach_the_template() {
    let mut q = req();
    q.messages = vec![
        Message {
            role: "user".into(),
            content: Content::Parts(vec![json!({"type": "text", "text": "a"}), json!({"type": "image"})]),
            extra: Default::default(),
        },
        Message {
            role: "assistant".into(),
            content: Content::Null,
            extra: serde_json::from_value(json!({"tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}], "name": null})).unwrap(),
        },
    ];
    assert_eq!(
        r_with(
            "{% for m in messages %}{{ m.role }}:{{ m.content is defined }}:{{ m.content is string }}:{{ m.name is defined }}:{{ m.tool_calls|tojson if m.tool_calls else m.content|length }};{% endfor %}",
            &q
        ),
        "user:True:False:False:2;assistant:False:False:False:[{\"function\": {\"name\": \"f\", \"arguments\": {\"x\": 1}}}];"
    );
}

#[test]
fn whitespace_control_matches_hf() {
    // trim_blocks + lstrip_blocks, and the final newline of the source dropped.
    assert_eq!(r("  {% if true %}\nA\n  {% endif %}\nB\n"), "A\nB");
    assert_eq!(r("{{ strftime_now('%d %b %Y') }}"), "15 Jan 2026");
}

const FRAGMENTS: &[&str] = &[
    "{{",
    "}}",
    "{%",
    "%}",
    "{#",
    "#}",
    " for x in messages ",
    " endfor ",
    " if ",
    " endif ",
    " set a = ",
    "a ~ a",
    "x.content",
    "|tojson",
    "|join(', ')",
    ".split()",
    "[0]",
    "[1:]",
    " * 3",
    " + ",
    "'s'",
    "1",
    "none",
    "raise_exception('e')",
    "loop.index",
    " macro m(a) ",
    " endmacro ",
    "m(1)",
    "\n",
    "-",
    "é",
    "(",
    ")",
    " recursive ",
    "loop(x)",
    " generation ",
    "|indent(4)",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]
    /// Random template soup from Jinja fragments never panics.
    #[test]
    fn render_never_panics(parts in proptest::collection::vec(prop_oneof![
        proptest::sample::select(FRAGMENTS).prop_map(String::from),
        "[a-z{}%#()'|.~ ]{0,6}",
    ], 0..40)) {
        let src: String = parts.concat();
        let _ = nomoat_chat::render_str(&src, &req());
    }
}
