//! The sandbox: template injection probes render inert or fail clearly; resource bombs stop on
//! a small, fixed budget (fuel, output, value size, recursion, template size) with a typed error.
use nomoat_chat::{ChatTemplate, Limit, Limits, Message, RenderRequest, TemplateError};

fn req() -> RenderRequest {
    RenderRequest {
        messages: vec![Message::new("user", "hi")],
        add_generation_prompt: true,
        bos_token: "<s>".into(),
        eos_token: "</s>".into(),
        now: Some(0),
        ..RenderRequest::default()
    }
}

/// Small bounds: every bomb must trip one of them quickly.
fn small() -> Limits {
    Limits {
        fuel: 50_000,
        max_output_bytes: 1 << 20,
        max_value_bytes: 1 << 20,
        ..Limits::default()
    }
}

fn render(src: &str) -> Result<String, TemplateError> {
    ChatTemplate::with_limits(src, small())?.render(&req())
}

const SSTI_PROBES: &[&str] = &[
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ ''|attr('__class__') }}",
    "{{ 'a'.__add__('b') }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ lipsum.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ self._TemplateReference__context }}",
    "{{ self }}",
    "{{ config }}",
    "{{ config.items() }}",
    "{{ request }}",
    "{{ request.application.__globals__ }}",
    "{{ namespace.__init__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ range.__globals__ }}",
    "{{ raise_exception.__globals__ }}",
    "{{ strftime_now.__globals__ }}",
    "{{ dict.__call__ }}",
    "{{ messages.__class__ }}",
    "{{ messages[0].__dict__ }}",
    "{{ messages.pop() }}",
    "{{ messages[0].update({'role': 'system'}) }}",
    "{% set x = messages.append(1) %}{{ messages|length }}",
    "{{ debug() }}",
    "{% import 'os' as os %}{{ os }}",
    "{% from 'os' import system %}{{ system('id') }}",
    "{% include '/etc/passwd' %}",
    "{% extends '/etc/passwd' %}",
    "{% include '../../../../etc/passwd' ignore missing %}x",
];

/// Text that would only appear if a probe reached Python/Rust internals or a file.
const LEAKS: &[&str] = &[
    "class",
    "function",
    "module",
    "builtin",
    "root:",
    "uid=",
    "object at",
    "os.",
    "Environment",
];

#[test]
fn injection_probes_are_inert_or_fail_clearly() {
    assert!(SSTI_PROBES.len() >= 20);
    for probe in SSTI_PROBES {
        match render(probe) {
            Ok(out) => {
                assert!(
                    LEAKS.iter().all(|l| !out.contains(l)) && out.len() < 64,
                    "{probe} rendered {out:?}"
                );
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty(), "{probe}: empty error");
                assert!(!msg.contains("root:"), "{probe}: error leaks a file: {msg}");
            }
        }
    }
}

#[test]
fn mutation_and_file_access_are_errors() {
    for probe in [
        "{{ messages.pop() }}",
        "{% set x = messages.append(1) %}",
        "{{ messages[0].update({}) }}",
        "{% include '/etc/passwd' %}",
        "{% import 'os' as os %}",
        "{% extends '/etc/passwd' %}",
        "{{ 'a'.__add__('b') }}",
    ] {
        assert!(render(probe).is_err(), "{probe} should fail");
    }
}

/// Which limit a bomb is expected to hit.
type LimitCheck = fn(Limit) -> bool;

fn limit_of(src: &str) -> Limit {
    match render(src) {
        Err(TemplateError::Limit(l)) => l,
        other => panic!("{src}: expected a limit, got {other:?}"),
    }
}

#[test]
fn resource_bombs_stop_on_a_small_budget() {
    let bombs: &[(&str, LimitCheck)] = &[
        (
            "{% for a in range(100000) %}{% for b in range(100000) %}{% for c in range(100000) %}{% endfor %}{% endfor %}{% endfor %}",
            |l| matches!(l, Limit::Fuel { .. }),
        ),
        ("{{ 'a' * 10**9 }}", |l| matches!(l, Limit::ValueSize { .. })),
        ("{{ 10**9 * 'a' }}", |l| matches!(l, Limit::ValueSize { .. })),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
            |l| matches!(l, Limit::ValueSize { .. }),
        ),
        (
            "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
            |l| matches!(l, Limit::ValueSize { .. }),
        ),
        (
            "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}",
            |l| matches!(l, Limit::ValueSize { .. }),
        ),
        ("{{ messages * 10**7 }}", |l| matches!(l, Limit::ValueSize { .. })),
        ("{{ (['x' * 100000] * 1000) | tojson }}", |l| {
            matches!(l, Limit::ValueSize { .. })
        }),
        ("{{ (['x' * 100000] * 1000) | join }}", |l| {
            matches!(l, Limit::ValueSize { .. })
        }),
        ("{{ ['x' * 100000] * 1000 }}", |l| {
            matches!(l, Limit::Output { .. } | Limit::ValueSize { .. })
        }),
        ("{{ (['x' * 100000] * 1000) | sum(start='') }}", |l| {
            matches!(l, Limit::ValueSize { .. })
        }),
        ("{{ 'x'.center(10**9) }}", |l| matches!(l, Limit::ValueSize { .. })),
        ("{{ 'x'|indent(10**9) }}", |l| matches!(l, Limit::ValueSize { .. })),
        ("{{ ('x' * 1000000).replace('x', 'xx') }}", |l| {
            matches!(l, Limit::ValueSize { .. })
        }),
        ("{{ ('{0}' * 300000).format('xxxxx') }}", |l| {
            matches!(l, Limit::ValueSize { .. })
        }),
        (
            "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
            |l| matches!(l, Limit::Output { .. }),
        ),
        (
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            |l| matches!(l, Limit::Recursion),
        ),
        (
            "{% macro f(n) %}{{ f(n) ~ f(n) }}{% endmacro %}{{ f(0) }}",
            |l| matches!(l, Limit::Recursion | Limit::Fuel { .. }),
        ),
        (
            "{% for m in messages recursive %}{{ loop([m]) }}{% endfor %}",
            |l| matches!(l, Limit::Recursion | Limit::Fuel { .. }),
        ),
    ];
    assert!(bombs.len() >= 10);
    for (src, ok) in bombs {
        let l = limit_of(src);
        assert!(ok(l), "{src}: unexpected limit {l:?}");
    }
}

/// minijinja folds constant expressions while compiling; those that would build huge values are
/// refused before any allocation.
#[test]
fn constant_folding_bombs_are_refused_at_compile_time() {
    let chain = vec!["'a' * 10**7"; 200].join(" ~ ");
    for src in [
        "{{ 'a' * 100000000 }}".to_string(),
        "{{ 'ab' * 10**8 }}".to_string(),
        format!("{{{{ {chain} }}}}"),
        "{{ ([1] * 10**9) ~ '' }}".to_string(),
        "{% if false %}{{ 'x' * 10**8 }}{% endif %}".to_string(),
        "{% macro m(a='x' * 10**8) %}{% endmacro %}".to_string(),
    ] {
        assert!(
            matches!(
                ChatTemplate::with_limits(&src, small()),
                Err(TemplateError::Limit(Limit::ValueSize { .. }))
            ),
            "{src}"
        );
    }
    // Small constant folds are fine.
    assert_eq!(
        render("{{ 'ab' * 3 ~ '-' ~ 2 ** 10 }}").unwrap(),
        "ababab-1024"
    );
}

#[test]
fn raw_text_counts_towards_the_output_cap() {
    let src = format!(
        "{{% for i in range(100000) %}}{}{{% endfor %}}",
        "y".repeat(1000)
    );
    assert!(matches!(limit_of(&src), Limit::Output { .. }));
}

#[test]
fn other_bombs_fail_with_clear_errors() {
    // jinja2's sandbox has the same 100000-item cap on `range`.
    let e = render("{% for i in range(10**9) %}{% endfor %}").unwrap_err();
    assert!(e.to_string().contains("range"), "{e}");
    // Parser nesting limit.
    let deep = "{% if true %}".repeat(1000) + &"{% endif %}".repeat(1000);
    assert!(matches!(render(&deep), Err(TemplateError::Syntax { .. })));
    // A 10 MB template is refused before parsing.
    let big = "x".repeat(10 << 20);
    assert!(matches!(
        ChatTemplate::new(&big),
        Err(TemplateError::Limit(Limit::TemplateSize { .. }))
    ));
    // preallocation-sized arguments do not allocate
    assert!(render("{{ [1, 2]|batch(10**12)|list|length }}").is_ok());
    assert!(render("{{ '%999999999s'|format(1) }}").is_err());
}

#[test]
fn raise_exception_carries_the_template_message() {
    let e = render("{{ raise_exception('Conversation roles must alternate') }}").unwrap_err();
    assert_eq!(
        e,
        TemplateError::Raised("Conversation roles must alternate".into())
    );
}

#[test]
fn syntax_and_render_errors_have_lines() {
    match ChatTemplate::new("ok\n{% if %}") {
        Err(TemplateError::Syntax { line, .. }) => assert_eq!(line, Some(2)),
        other => panic!("{other:?}"),
    }
    match render("a\nb\n{{ nothing.attr }}") {
        Err(TemplateError::Render { line, .. }) => assert_eq!(line, Some(3)),
        other => panic!("{other:?}"),
    }
}
