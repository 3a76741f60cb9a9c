#!/usr/bin/env python3
"""Drive `nomoat serve` with the official `openai` Python client (a client no one here wrote).

Usage: python3 .ci/openai_client_test.py [NOMOAT_BINARY] [MODEL.gguf]
Defaults: target/debug/nomoat and the tiny synthetic llama (target/testdata/tiny-llama-f32.gguf,
built with ../shared/reference/make_synthetic_gguf.py if missing). Starts the server on a free
loopback port (--port 0, address parsed from its first line), runs chat, streaming chat with
usage, completions with echo + logprobs, models, an auth failure, a 400 and a 503, asserting on
content, then stops it with SIGTERM and checks that it exits cleanly.
"""
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import openai

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "test-key-123"
TINY_ARGS = ["--dim", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
             "--ffn", "192", "--vocab", "512", "--dtype", "f32"]


def tiny_model():
    path = os.path.join(ROOT, "target", "testdata", "tiny-llama-f32.gguf")
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        script = os.path.join(ROOT, "..", "shared", "reference", "make_synthetic_gguf.py")
        subprocess.run([sys.executable, script, path] + TINY_ARGS, check=True)
    return path


def start_server(binary, model):
    # The synthetic model has no chat template: name one, as a user of such a file must.
    cmd = [binary, "serve", "-m", model, "--port", "0", "--api-key", KEY, "--chat-template", "chatml",
           "--parallel", "1", "--queue", "0", "--ctx", "2048", "--batch", "8", "--threads", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.match(r"listening on (http://\S+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"unexpected first line from the server: {line!r}\n{proc.stderr.read()}")
    base = m.group(1)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    break
        except Exception:
            pass
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("server did not become healthy")
        time.sleep(0.2)
    return proc, base


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "debug", "nomoat")
    model = sys.argv[2] if len(sys.argv) > 2 else tiny_model()
    proc, base = start_server(binary, model)
    try:
        run_checks(base, model)
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    check(code == 0, f"server exits cleanly on SIGTERM (code {code})")
    print("all openai client checks passed")


def run_checks(base, model_path):
    client = openai.OpenAI(base_url=base + "/v1", api_key=KEY, max_retries=0, timeout=60)
    model_id = os.path.splitext(os.path.basename(model_path))[0]

    models = client.models.list()
    ids = [m.id for m in models.data]
    # The served model first; the server also lists the models of its cache (loaded on demand).
    check(ids[0] == model_id, f"models.list() lists {model_id} first: {ids}")

    messages = [{"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Say something."}]
    a = client.chat.completions.create(model=model_id, messages=messages, max_tokens=12,
                                       temperature=0)
    b = client.chat.completions.create(model=model_id, messages=messages, max_tokens=12,
                                       temperature=0)
    c0 = a.choices[0]
    check(a.object == "chat.completion" and c0.message.role == "assistant",
          "chat completion shape")
    check(isinstance(c0.message.content, str) and c0.finish_reason in ("stop", "length"),
          f"chat answer {c0.message.content!r} ({c0.finish_reason})")
    check(c0.message.content == b.choices[0].message.content, "greedy chat is deterministic")
    check(a.usage.completion_tokens >= 1
          and a.usage.total_tokens == a.usage.prompt_tokens + a.usage.completion_tokens,
          f"chat usage {a.usage}")

    stream = client.chat.completions.create(model=model_id, messages=messages, max_tokens=12,
                                            temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    text, usage, finish = "", None, None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for ch in chunk.choices:
            text += ch.delta.content or ""
            finish = ch.finish_reason or finish
    check(text == c0.message.content, "streamed chat text equals the non-streamed answer")
    check(finish == c0.finish_reason, "streamed finish_reason")
    check(usage is not None and usage.prompt_tokens == a.usage.prompt_tokens
          and usage.completion_tokens == a.usage.completion_tokens,
          f"stream_options.include_usage gives the usage ({usage})")

    prompt = "The quick brown fox jumps over the lazy dog"
    cmp = client.completions.create(model=model_id, prompt=prompt, max_tokens=0, echo=True,
                                    logprobs=1)
    ch = cmp.choices[0]
    lp = ch.logprobs
    check(ch.text == prompt, "echo returns the prompt")
    check(len(lp.tokens) == cmp.usage.prompt_tokens == len(lp.token_logprobs),
          f"one log-prob per prompt token ({cmp.usage.prompt_tokens})")
    check(lp.token_logprobs[0] is None
          and all(isinstance(x, float) and x <= 0 for x in lp.token_logprobs[1:]),
          "prompt log-probs: first null, then finite and <= 0")
    check(all(len(t) == 1 for t in lp.top_logprobs[1:]), "top_logprobs has 1 entry per position")
    gen = client.completions.create(model=model_id, prompt=prompt, max_tokens=5, temperature=0,
                                    logprobs=3)
    g = gen.choices[0]
    check(gen.usage.completion_tokens == 5 == len(g.logprobs.tokens) and g.finish_reason == "length",
          f"completion of 5 tokens: {g.text!r}")
    check(all(g.logprobs.tokens[i] == max(g.logprobs.top_logprobs[i], key=g.logprobs.top_logprobs[i].get)
              for i in range(5)), "greedy tokens are the top-1 of their log-probs")

    bad = openai.OpenAI(base_url=base + "/v1", api_key="wrong", max_retries=0)
    try:
        bad.models.list()
        raise AssertionError("a wrong key was accepted")
    except openai.AuthenticationError as e:
        check(e.status_code == 401 and "API key" in str(e)
              and e.response.headers.get("www-authenticate") == "Bearer",
              "wrong key: 401 with WWW-Authenticate")

    try:
        client.chat.completions.create(model=model_id, messages=messages, temperature=5)
        raise AssertionError("temperature 5 was accepted")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.body.get("param") == "temperature"
              and "temperature" in e.body.get("message", ""),
              "invalid temperature: 400 naming the field")
    try:
        client.completions.create(model=model_id, prompt=prompt, max_tokens=100000)
        raise AssertionError("an over-long request was accepted")
    except openai.BadRequestError as e:
        check(e.body.get("code") == "context_length_exceeded", "context length: 400 with the code")

    # One slot, no queue: hold it with a long stream, then a second request is refused with 503.
    long_prompt = " ".join(["fox"] * 150)
    hold = client.completions.create(model=model_id, prompt=long_prompt, max_tokens=1400,
                                     stream=True, temperature=0)
    first = next(iter(hold))
    check(first.choices is not None, "long stream started")
    try:
        client.completions.create(model=model_id, prompt="hi", max_tokens=2)
        raise AssertionError("a request beyond the queue was accepted")
    except openai.APIStatusError as e:
        check(e.status_code == 503 and e.response.headers.get("retry-after") is not None
              and "busy" in str(e), "full queue: 503 with Retry-After")
    hold.close()
    # The disconnected stream frees its slot: requests are accepted again.
    deadline = time.time() + 10
    while True:
        try:
            r = client.completions.create(model=model_id, prompt="hi", max_tokens=2)
            break
        except openai.APIStatusError as e:
            if e.status_code != 503 or time.time() > deadline:
                raise
            time.sleep(0.1)
    check(len(r.choices) == 1, "slot freed after the client disconnected")
    metrics = urllib.request.urlopen(urllib.request.Request(
        base + "/metrics", headers={"Authorization": f"Bearer {KEY}"})).read().decode()
    check(re.search(r"^nomoat_cancelled_total [1-9]", metrics, re.M) is not None,
          "metrics count the cancelled stream")
    check('status="503"' in metrics and 'status="401"' in metrics, "metrics count 503 and 401")


if __name__ == "__main__":
    main()
