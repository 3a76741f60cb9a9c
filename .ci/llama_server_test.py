"""llama-server's native routes against a real `nomoat serve` over synthetic llamas: /completion
(text, token and mixed prompts, n_probs, streaming, stop words), /infill on vocabularies whose
fill-in-the-middle tokens come from the GGUF keys or from their text (as llama.cpp finds them),
/props, /slots and /tokenizer_info. The FIM models are copies of a tiny llama with new metadata
(the gguf package's copy_with_new_metadata).

    python3 .ci/llama_server_test.py [BINARY]
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverkit import ROOT, TINY_ARGS, Server, check, default_binary  # noqa: E402

TESTDATA = os.path.join(ROOT, "target", "testdata")
CONTROL = 3  # llama.cpp's token type for control tokens


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def post_json(base, path, body):
    status, raw = post(base, path, body)
    if status != 200:
        raise AssertionError(f"POST {path} {body} → {status}: {raw[:300]!r}")
    return json.loads(raw)


def get_json(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read())


def tiny_long_context():
    """The tiny llama with an 8k training context, so /infill has room for extra chunks beyond
    llama-server's 2,048-token batch."""
    path = os.path.join(TESTDATA, "tiny-llama-ctx8k-f32.gguf")
    if not os.path.exists(path):
        os.makedirs(TESTDATA, exist_ok=True)
        script = os.path.join(ROOT, "..", "shared", "reference", "make_synthetic_gguf.py")
        subprocess.run([sys.executable, script, path, "--ctx", "8192"] + TINY_ARGS, check=True)
    return path


def with_metadata(src, dst, edit):
    """A copy of `src` whose metadata `edit(tokens, types)` changes; returns new keys to add."""
    import gguf
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf.GGUFReader(src, "r")
    tokens = list(reader.get_field("tokenizer.ggml.tokens").contents())
    types = list(reader.get_field("tokenizer.ggml.token_type").contents())
    extra = edit(tokens, types)
    arch = reader.get_field("general.architecture").contents()
    meta = {
        "tokenizer.ggml.tokens": MetadataDetails(gguf.GGUFValueType.ARRAY, tokens,
                                                 sub_type=gguf.GGUFValueType.STRING),
        "tokenizer.ggml.token_type": MetadataDetails(gguf.GGUFValueType.ARRAY, types,
                                                     sub_type=gguf.GGUFValueType.INT32),
    }
    for k, v in extra.items():
        meta[k] = MetadataDetails(gguf.GGUFValueType.UINT32, v)
    writer = gguf.GGUFWriter(dst + ".tmp", arch=arch, endianess=reader.endianess)
    copy_with_new_metadata(reader, writer, meta, [])
    os.replace(dst + ".tmp", dst)
    return dst


def fim_by_text(src):
    """Qwen-style FIM tokens found by their text (no GGUF keys), with FIM_REP and FIM_SEP."""
    names = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|fim_repo|>", "<|file_sep|>"]

    def edit(tokens, types):
        for i, name in enumerate(names):
            at = len(tokens) - len(names) + i
            tokens[at] = name
            types[at] = CONTROL
        return {}
    return with_metadata(src, os.path.join(TESTDATA, "tiny-llama-fim-text.gguf"), edit)


def fim_by_keys(src):
    """FIM prefix/suffix/middle named by tokenizer.ggml.fim_*_token_id, no FIM_SEP."""
    def edit(tokens, types):
        n = len(tokens)
        return {"tokenizer.ggml.fim_pre_token_id": n - 3, "tokenizer.ggml.fim_suf_token_id": n - 2,
                "tokenizer.ggml.fim_mid_token_id": n - 1}
    return with_metadata(src, os.path.join(TESTDATA, "tiny-llama-fim-keys.gguf"), edit)


def tok(base, text):
    """How /infill tokenizes prefix, suffix and extra chunks: no BOS, special text not parsed."""
    return post_json(base, "/tokenize", {"content": text, "parse_special": False})["tokens"]


def greedy(base, prompt, n=8):
    return post_json(base, "/completion", {"prompt": prompt, "n_predict": n, "temperature": 0,
                                           "return_tokens": True})


def check_infill(base, fim, sep_layout):
    """/infill's prompt, rebuilt here from /tokenize, must give the same greedy tokens as the
    same ids sent to /completion."""
    add_bos = get_json(base, "/tokenizer_info")["add_bos_token"]
    bos = post_json(base, "/tokenize", {"content": "", "add_special": True})["tokens"]
    pre, suf, mid, rep, sep = fim
    prefix, suffix, prompt = "def add(a, b):\n    ret", "\n\nprint(add(1, 2))\n", "urn"
    chunks = [{"filename": "util.py", "text": "import os\n"}, {"text": "x = 1\n"}]
    body = {"input_prefix": prefix, "input_suffix": suffix, "prompt": prompt,
            "input_extra": chunks, "n_predict": 8, "temperature": 0, "return_tokens": True}
    got = post_json(base, "/infill", body)

    extra = []
    if rep is not None:
        extra += [rep] + tok(base, "myproject\n")
    for c in chunks:
        if sep_layout:
            extra += [sep] + tok(base, c.get("filename", "tmp") + "\n")
        else:
            extra += tok(base, "\n\n--- snippet ---\n\n")
        extra += tok(base, c["text"])
    if sep_layout:
        extra += [sep] + tok(base, "filename\n")
    ids = (extra + (bos if add_bos else []) + [pre] + tok(base, prefix)
           + post_json(base, "/tokenize", {"content": prompt})["tokens"]
           + [suf] + tok(base, suffix) + [mid])
    want = greedy(base, ids)
    check(got["tokens_evaluated"] == len(ids), f"/infill's prompt has the expected {len(ids)} tokens")
    check(got["tokens"] == want["tokens"] and got["content"] == want["content"],
          f"/infill generates what /completion does on the FIM layout ({got['content']!r})")


def completion_checks(base):
    v = get_json(base, "/v1/models")["data"][0]["id"]
    a = greedy(base, "Hello there", 12)
    b = post_json(base, "/v1/completions", {"model": v, "prompt": "Hello there", "max_tokens": 12,
                                            "temperature": 0})
    check(a["content"] == b["choices"][0]["text"], "/completion and /v1/completions agree (greedy)")
    check(a["stop"] is True and a["stop_type"] in ("limit", "eos"), f"stop_type {a['stop_type']}")
    ids = post_json(base, "/tokenize", {"content": "Hello there", "add_special": True})["tokens"]
    check(greedy(base, ids, 12)["content"] == a["content"], "token-id prompt = its text with BOS")
    mixed = greedy(base, [ids[0], "Hello there"], 12)
    check(mixed["tokens_evaluated"] == len(ids), "mixed prompt: BOS id then text (no second BOS)")

    p = post_json(base, "/completion", {"prompt": "Hello", "n_predict": 4, "temperature": 0,
                                        "n_probs": 3})
    probs = p["completion_probabilities"]
    check(len(probs) == p["tokens_predicted"] and all(
        len(e["top_logprobs"]) == 3 and e["top_logprobs"][0]["id"] == e["id"]
        and bytes(e["bytes"]).decode("utf-8", "replace") == e["token"] for e in probs),
        "n_probs: id/token/bytes/logprob/top_logprobs per token, greedy pick first")

    status, raw = post(base, "/completion", {"prompt": "Hello", "n_predict": 6, "temperature": 0,
                                             "stream": True})
    lines = [ln[6:] for ln in raw.decode().splitlines() if ln.startswith("data: ")]
    chunks = [json.loads(ln) for ln in lines]
    streamed = "".join(c["content"] for c in chunks)
    whole = greedy(base, "Hello", 6)["content"]
    check(status == 200 and chunks[-1]["stop"] is True and "[DONE]" not in lines,
          "stream: data chunks ending with stop: true, no [DONE]")
    check(streamed == whole, "streamed content = non-streamed content")

    if len(whole) > 2:
        word = whole[1:3]
        s = post_json(base, "/completion", {"prompt": "Hello", "n_predict": 6, "temperature": 0,
                                            "stop": [word]})
        check(s["stop_type"] == "word" and s["stopping_word"] == word
              and s["content"] == whole[:whole.find(word)], f"stop word {word!r}")

    status, raw = post(base, "/completion", {"prompt": "Hello", "mirostat": 2})
    check(status == 400 and json.loads(raw)["error"]["param"] == "mirostat", "mirostat refused by name")

    props = get_json(base, "/props")
    check(props["total_slots"] == 2 and props["default_generation_settings"]["params"]["top_k"] == 40,
          "/props: slots = --parallel, llama-server's defaults")
    check(props["model_path"].endswith(".gguf"), "/props: model_path")
    # The engine frees a finished request's place just after its last event: poll briefly.
    for _ in range(50):
        slots = get_json(base, "/slots")
        if not any(s["is_processing"] for s in slots):
            break
        time.sleep(0.1)
    check(len(slots) == 2 and not any(s["is_processing"] for s in slots), "/slots: 2, idle")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else default_binary()
    base_model = tiny_long_context()
    args = ["--chat-template", "chatml", "--parallel", "2", "--ctx", "4096"]

    with Server(binary, ["-m", base_model] + args) as srv:
        completion_checks(srv.base)
        status, raw = post(srv.base, "/infill", {"input_prefix": "a", "input_suffix": "b"})
        check(status == 400 and b"fill-in-the-middle" in raw, "/infill without FIM tokens: a clear 400")

    with Server(binary, ["-m", fim_by_text(base_model)] + args) as srv:
        n = get_json(srv.base, "/tokenizer_info")["vocab_size"]
        fim = post_json(srv.base, "/tokenize", {
            "content": "<|fim_prefix|><|fim_suffix|><|fim_middle|><|fim_repo|><|file_sep|>"})["tokens"]
        check(fim == list(range(n - 5, n)), "FIM tokens found by their text are control tokens")
        check_infill(srv.base, fim, sep_layout=True)

    with Server(binary, ["-m", fim_by_keys(base_model)] + args) as srv:
        n = get_json(srv.base, "/tokenizer_info")["vocab_size"]
        check_infill(srv.base, [n - 3, n - 2, n - 1, None, None], sep_layout=False)


if __name__ == "__main__":
    main()
