#!/usr/bin/env python3
"""Two models in one `nomoat serve`, driven with the official openai client, plus a browser-style
CORS preflight and the no-effect header.

Usage: python3 .ci/multi_model_test.py [NOMOAT_BINARY]
Serves gemma3-270m (the default, from the cache) and the tiny synthetic llama (named `tiny`, with
a short keep-alive) from a --config file; interleaves requests to both from threads; checks that
`/v1/models` shows both loaded, that tiny unloads when its keep-alive runs out and loads again on
the next request, that an unknown model is a NotFoundError, and that the answers of one model do
not depend on requests to the other (greedy, the same prompt twice).
"""
import concurrent.futures
import json
import os
import sys
import tempfile
import time
import urllib.error
import urllib.request

import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverkit import Server, check, default_binary, tiny_model  # noqa: E402

KEY = "multi-key"


def states(client):
    return {m.id: m.model_extra["status"]["value"] for m in client.models.list().data}


def ask(client, model, text, n=8):
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": text}],
                                       max_tokens=n, temperature=0)
    return r.model, r.choices[0].message.content


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else default_binary()
    tiny = tiny_model()
    with tempfile.TemporaryDirectory() as d:
        cfg = os.path.join(d, "serve.toml")
        with open(cfg, "w") as f:
            f.write(f'''api-key = "{KEY}"
max-loaded = 2
[[model]]
model = "gemma3-270m"
aliases = ["gpt-4o-mini"]
ctx = 1024
[[model]]
model = "{tiny}"
name = "tiny"
chat-template = "chatml"
ctx = 512
parallel = 2
keep-alive = "3s"
''')
        with Server(binary, ["--config", cfg, "--threads", "1"],
                    health_headers={"Authorization": f"Bearer {KEY}"}) as srv:
            client = openai.OpenAI(base_url=srv.base + "/v1", api_key=KEY, max_retries=0)
            st = states(client)
            check(st.get("gemma3-270m") == "loaded" and st.get("tiny") == "unloaded",
                  f"at start the default is loaded and tiny is not: {st}")

            solo = {m: ask(client, m, "Say hello") for m in ["tiny", "gemma3-270m"]}
            jobs = [("tiny", "Say hello"), ("gemma3-270m", "Say hello"), ("gpt-4o-mini", "Say hello"),
                    ("tiny", "Say hello"), ("gemma3-270m", "Say hello"), ("tiny", "Say hello")]
            with concurrent.futures.ThreadPoolExecutor(4) as ex:
                got = list(ex.map(lambda j: ask(client, *j), jobs))
            for (m, _), (served_by, text) in zip(jobs, got):
                want = "gemma3-270m" if m == "gpt-4o-mini" else m
                check(served_by == want, f"{m} answered by {served_by}")
                check(text == solo[want][1], f"{m}: interleaved answer equals its solo answer ({text!r})")
            ask(client, "tiny", "Say hello", n=1)
            st = states(client)
            check(st["gemma3-270m"] == "loaded" and st["tiny"] == "loaded", f"both loaded: {st}")

            t0 = time.time()
            while states(client)["tiny"] != "unloaded":
                if time.time() - t0 > 30:
                    raise AssertionError("tiny did not unload within 30 s of a 3 s keep-alive")
                time.sleep(0.5)
            check(True, f"tiny unloaded after {time.time() - t0:.1f} s idle")
            check(ask(client, "tiny", "Say hello") == solo["tiny"], "tiny loads again on the next request")

            try:
                ask(client, "no-such-model", "hi")
                check(False, "an unknown model fails")
            except openai.NotFoundError as e:
                check("no-such-model" in str(e), f"unknown model is a 404 naming it: {e}")

            # A browser page on localhost: preflight without the key, then the real call.
            pre = urllib.request.Request(srv.base + "/v1/chat/completions", method="OPTIONS", headers={
                "Origin": "http://localhost:5173",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type"})
            with urllib.request.urlopen(pre) as r:
                h = r.headers
                check(r.status in (200, 204), f"preflight answered ({r.status})")
                check(h["Access-Control-Allow-Origin"] == "http://localhost:5173", "origin allowed")
                check("authorization" in h["Access-Control-Allow-Headers"].lower(), "authorization header allowed")
            pre.headers["Origin"] = "http://evil.example"
            try:
                with urllib.request.urlopen(pre) as r:
                    foreign = r.headers
            except urllib.error.HTTPError as e:
                foreign = e.headers
            check(foreign.get("Access-Control-Allow-Origin") is None, "a foreign origin is not allowed")
            body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
                               "max_tokens": 2, "user": "u-1", "cache_prompt": True}).encode()
            req = urllib.request.Request(srv.base + "/v1/chat/completions", data=body, headers={
                "Origin": "http://localhost:5173", "Content-Type": "application/json",
                "Authorization": f"Bearer {KEY}"})
            with urllib.request.urlopen(req) as r:
                check(r.headers["Access-Control-Allow-Origin"] == "http://localhost:5173", "CORS on the answer")
                check(r.headers["x-nomoat-no-effect"] == "user, cache_prompt",
                      f"no-effect fields listed: {r.headers['x-nomoat-no-effect']}")
                check("x-nomoat-no-effect" in r.headers.get("Access-Control-Expose-Headers", ""),
                      "the header is exposed to pages")


if __name__ == "__main__":
    main()
