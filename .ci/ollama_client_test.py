#!/usr/bin/env python3
"""Drive `nomoat serve` with the official `ollama` Python client (pip install ollama), unchanged.

Usage: python3 .ci/ollama_client_test.py [NOMOAT_BINARY] [--skip-gemma] [--npm]

1. The tiny synthetic llama (`--chat-template chatml`) as `tiny`, with a model cache in a
   temporary folder ($NOMOAT_HOME) holding a second copy, and a fake Hugging Face
   ($HF_ENDPOINT=file://...) to pull from: chat and generate, streamed and not (the streamed text
   equals the non-streamed one at temperature 0), `context` sent back, list, show, ps, pull (a
   cached model, then a real download with progress), copy, delete, load / unload with an empty
   prompt, and errors as `ollama.ResponseError` with Ollama's statuses.
   With --npm, the official `ollama` npm client (.ci/ollama-js, installed with `npm ci` there)
   streams a chat and a generate and lists the models against the same server.
2. Gemma 3 270M from the real cache (`-m gemma3-270m`): text comes back.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

import ollama

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverkit import Server, check, default_binary, tiny_model  # noqa: E402

GREEDY = {"temperature": 0, "num_predict": 12, "seed": 7}
MSGS = [{"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say something."}]


def expect_error(fn, status, word, what):
    try:
        fn()
    except ollama.ResponseError as e:
        check(e.status_code == status and word in e.error,
              f"{what}: ResponseError {e.status_code} naming {word!r} ({e.error})")
        return
    raise AssertionError(f"{what}: no error raised")


def names(client):
    return {m.model for m in client.list().models}


def tiny_checks(binary):
    model = tiny_model()
    home = tempfile.mkdtemp(prefix="nomoat-ollama-")
    try:
        os.makedirs(os.path.join(home, "models"))
        shutil.copy(model, os.path.join(home, "models", "tiny-cached.gguf"))
        hub = os.path.join(home, "hub")
        dest = os.path.join(hub, "test-org", "tiny-repo", "resolve", "main")
        os.makedirs(dest)
        shutil.copy(model, os.path.join(dest, "tiny-pulled.gguf"))
        env = dict(os.environ, NOMOAT_HOME=home, HF_ENDPOINT="file://" + hub)
        args = ["-m", f"tiny={model}", "--chat-template", "chatml", "--ctx", "512",
                "--threads", "1", "--parallel", "2", "--max-loaded", "3"]
        with Server(binary, args, env=env) as srv:
            run_tiny(srv.base, model)
            if "--npm" in sys.argv:
                js = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ollama-js")
                subprocess.run(["node", "check.mjs", srv.base, "tiny"], cwd=js, check=True)
                check(True, "the npm ollama client check passed")
    finally:
        shutil.rmtree(home, ignore_errors=True)


def run_tiny(base, model_path):
    req = urllib.request.Request(base + "/", method="HEAD")
    with urllib.request.urlopen(req, timeout=10) as r:
        check(r.status == 200, "HEAD / answers 200 (the clients' liveness check)")
    c = ollama.Client(host=base)

    # Chat: one object, then the same answer streamed.
    r = c.chat(model="tiny", messages=MSGS, options=GREEDY, stream=False)
    check(r.message.role == "assistant" and r.done and r.done_reason in ("stop", "length"),
          f"chat answers as the assistant, done ({r.done_reason})")
    check(r.model == "tiny", "the answer names the model as the request did")
    check(r.prompt_eval_count > 5 and 1 <= r.eval_count <= 12, "token counts in the final object")
    check(r.total_duration >= r.eval_duration > 0 and r.load_duration >= 0,
          "durations in nanoseconds")
    parts = list(c.chat(model="tiny:latest", messages=MSGS, options=GREEDY, stream=True))
    check(len(parts) >= 2 and all(not p.done for p in parts[:-1]) and parts[-1].done,
          f"streamed chat: {len(parts) - 1} chunks then a done object")
    streamed = "".join(p.message.content or "" for p in parts)
    check(streamed == r.message.content, "streamed text equals the non-streamed text (greedy)")
    check(parts[-1].eval_count == r.eval_count, "same eval_count streamed")

    # Generate, with context sent back.
    g = c.generate(model="tiny", prompt="Once upon a time", options=GREEDY)
    check(isinstance(g.response, str) and g.done and g.context and len(g.context) > g.prompt_eval_count - 1,
          f"generate returns text and context ({len(g.context)} tokens)")
    g2 = c.generate(model="tiny", prompt="And then?", context=g.context, options=GREEDY)
    check(g2.prompt_eval_count > len(g.context), "context is accepted back before the new prompt")
    gs = list(c.generate(model="tiny", prompt="Once upon a time", options=GREEDY, stream=True))
    check("".join(p.response for p in gs) == g.response and gs[-1].done,
          "streamed generate equals non-streamed")
    raw = c.generate(model="tiny", prompt="<|im_start|>user\nhi<|im_end|>\n", raw=True,
                     options=GREEDY)
    check(raw.done and raw.context is None, "raw generate: no template, no context")

    # Models.
    have = names(c)
    check({"tiny:latest", "tiny-cached:latest"} <= have, f"list shows the models: {sorted(have)}")
    m = next(m for m in c.list().models if m.model == "tiny:latest")
    check(m.details.format == "gguf" and m.details.family == "llama" and m.size == os.path.getsize(model_path),
          f"list details: {m.details.family}, {m.details.parameter_size}, {m.details.quantization_level}")
    s = c.show("tiny")
    check(s.modelinfo["general.architecture"] == "llama" and "llama.context_length" in s.modelinfo,
          "show: model_info from the GGUF header")
    check("<|im_start|>" in (s.template or ""), "show: the chat template in use (chatml)")
    check(s.details.family == "llama" and "completion" in s.capabilities, "show: details, capabilities")
    p = c.ps()
    loaded = {m.model: m for m in p.models}
    check("tiny:latest" in loaded and loaded["tiny:latest"].size_vram == 0
          and loaded["tiny:latest"].context_length == 512 and loaded["tiny:latest"].expires_at,
          "ps: the loaded model, its context, no VRAM")

    # Load and unload with an empty prompt.
    r = c.generate(model="tiny-cached", prompt="", keep_alive="1m")
    check(r.done_reason == "load" and "tiny-cached:latest" in {m.model for m in c.ps().models},
          "an empty prompt loads the model")
    r = c.generate(model="tiny-cached", prompt="", keep_alive=0)
    check(r.done_reason == "unload" and "tiny-cached:latest" not in {m.model for m in c.ps().models},
          "keep_alive 0 with an empty prompt unloads it")

    # Pull: one already cached, then a download from the fake hub with progress.
    st = c.pull("tiny-cached")
    check(st.status == "success", "pull of a cached model: success")
    before = names(c)
    events = list(c.pull("hf:test-org/tiny-repo/tiny-pulled.gguf", stream=True))
    statuses = [e.status for e in events]
    size = os.path.getsize(model_path)
    check(statuses[0] == "pulling manifest" and statuses[-1] == "success",
          f"pull streams progress: {statuses[0]!r} … {statuses[-1]!r}")
    check(any(e.total == size and e.completed == size for e in events),
          "pull progress reaches total == completed == the file size")
    new = names(c) - before
    check(len(new) == 1, f"the pulled model is listed: {sorted(new)}")
    pulled = new.pop()
    r = c.chat(model=pulled, messages=MSGS, options=GREEDY, stream=False)
    check(r.done, f"the pulled model {pulled} chats")

    # Copy, delete.
    check(c.copy("tiny-cached", "tiny-copy").status == "success", "copy")
    check("tiny-copy:latest" in names(c), "the copy is listed")
    check(c.delete("tiny-copy").status == "success", "delete")
    check("tiny-copy:latest" not in names(c), "the deleted model is gone")

    # Errors, as ollama.ResponseError with Ollama's statuses.
    expect_error(lambda: c.chat(model="no-such-model", messages=MSGS), 404, "not found",
                 "unknown model")
    expect_error(lambda: c.show("no-such-model"), 404, "not found", "show of an unknown model")
    expect_error(lambda: c.delete("no-such-model"), 404, "not found", "delete of an unknown model")
    expect_error(lambda: c.chat(model="tiny", messages=MSGS, format="json", stream=False), 400,
                 "format", "format is refused by name")
    expect_error(lambda: c.chat(model="tiny", messages=MSGS, options={"mirostat": 2}, stream=False),
                 400, "mirostat", "an output-changing unsupported option is refused by name")
    expect_error(lambda: c.chat(model="tiny", messages=MSGS, options={"no_such_option": 1}, stream=False),
                 400, "no_such_option", "an unknown option is refused by name")
    expect_error(lambda: c.chat(model="tiny", messages=MSGS, think=True, stream=False), 400,
                 "does not support thinking", "think on a model without reasoning")
    expect_error(lambda: c.chat(model="tiny", messages=MSGS, options={"num_ctx": 100000}, stream=False),
                 400, "num_ctx", "num_ctx above the server's context")
    # Options with no effect are accepted.
    r = c.chat(model="tiny", messages=MSGS, stream=False,
               options={**GREEDY, "num_thread": 4, "num_gpu": 0, "use_mmap": True, "num_ctx": 256})
    check(r.done, "no-effect options (num_thread, num_gpu, use_mmap) are accepted")

    # Ollama's OpenAI-side quirk: api_key="ollama" on a server without a key.
    try:
        import openai
    except ImportError:
        openai = None
    if openai is not None:
        oc = openai.OpenAI(base_url=base + "/v1", api_key="ollama")
        cc = oc.chat.completions.create(model="tiny", messages=MSGS, max_tokens=4, temperature=0)
        check(cc.choices[0].message.role == "assistant", "openai client with api_key='ollama' works")


def gemma_checks(binary):
    with Server(binary, ["-m", "gemma3-270m", "--ctx", "512", "--parallel", "1"]) as srv:
        c = ollama.Client(host=srv.base)
        r = c.generate(model="gemma3-270m", prompt="The capital of France is", raw=True,
                       options={"temperature": 0, "num_predict": 8})
        check(r.response.strip() != "", f"gemma3-270m generates text: {r.response!r}")
        parts = list(c.chat(model="gemma3-270m", messages=[{"role": "user", "content": "Hello!"}],
                            options={"temperature": 0, "num_predict": 8}, stream=True))
        check(parts[-1].done and "".join(p.message.content for p in parts).strip() != "",
              "gemma3-270m chats (streamed)")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    binary = args[0] if args else default_binary()
    tiny_checks(binary)
    if "--skip-gemma" not in sys.argv:
        gemma_checks(binary)
    print("ollama client test passed")


if __name__ == "__main__":
    main()
