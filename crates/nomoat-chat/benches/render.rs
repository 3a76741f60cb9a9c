//! Render speed of real chat templates (compile + sandboxed render per call, as the server
//! does per request) for a four-message conversation.
use criterion::{criterion_group, criterion_main, Criterion};
use nomoat_chat::{ChatTemplate, Message, RenderRequest};

fn bench(c: &mut Criterion) {
    let dir = nomoat_testkit::reference("templates");
    let req = RenderRequest {
        messages: vec![
            Message::new(
                "system",
                "You are a concise assistant. Answer in one sentence.",
            ),
            Message::new("user", "What is the capital of France?"),
            Message::new("assistant", "The capital of France is Paris."),
            Message::new("user", "And of Italy?"),
        ],
        add_generation_prompt: true,
        bos_token: "<s>".into(),
        eos_token: "</s>".into(),
        now: Some(0),
        ..RenderRequest::default()
    };
    for file in [
        "meta-llama-Llama-3.1-8B-Instruct.jinja",
        "Qwen-Qwen3-0.6B.jinja",
        "GLM-4.7-Flash.jinja",
        "openai-gpt-oss-120b.jinja",
    ] {
        let src = std::fs::read_to_string(dir.join(file)).expect("reference template");
        let t = ChatTemplate::new(&src).expect("compiles");
        c.bench_function(&format!("render {file}"), |b| {
            b.iter(|| t.render(&req).expect("renders"))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
