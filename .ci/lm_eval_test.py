"""lm-eval's `local-completions` against `nomoat serve`, offline and with no Hugging Face
tokenizer: the default `tokenizer_backend` (auto) must find nomoat's /tokenizer_info and
/tokenize and use the remote tokenizer, and every loglikelihood it reports must equal the sum of
the continuation's token log-probs that /v1/completions (echo + logprobs) gives for the same
tokens, with BOS where lm-eval puts it (only before an empty context) and nowhere else.

    python3 .ci/lm_eval_test.py [BINARY] [MODEL]      (MODEL: default gemma3-270m)
"""
import json
import os
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverkit import ROOT, Server, check, default_binary  # noqa: E402

TASK_DIR = os.path.join(ROOT, ".ci", "lm_eval")
TOL = 1e-4


def post(base, path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def get(base, path):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return json.loads(r.read())


def encode(base, text):
    """What lm-eval's RemoteTokenizer.encode asks: no special tokens added."""
    return post(base, "/tokenize", {"prompt": text, "add_special_tokens": False})["tokens"]


def lm_eval_pair(base, bos, context, continuation):
    """lm-eval's own split of a (context, continuation) request into token ids, written out
    independently from TemplateLM.loglikelihood / _encode_pair: an empty context becomes the
    prefix token (BOS, else EOS); trailing spaces move from the context to the continuation;
    the continuation is what the whole text adds to the context's tokens."""
    if context == "":
        cont = encode(base, continuation)
        return ([bos], cont) if bos != cont[0] else (cont[:1], cont[1:])
    n = len(context) - len(context.rstrip())
    if n:
        continuation = context[-n:] + continuation
        context = context[:-n]
    whole = encode(base, context + continuation)
    ctx = encode(base, context)
    return ctx, whole[len(ctx):]


def reference(base, ctx, cont):
    """Sum of the continuation's prompt log-probs, scored by nomoat with nothing generated."""
    out = post(base, "/v1/completions", {"prompt": ctx + cont, "max_tokens": 0, "echo": True,
                                         "logprobs": 1, "temperature": 0})
    lps = out["choices"][0]["logprobs"]["token_logprobs"]
    check(len(lps) == len(ctx) + len(cont), f"one log-prob per prompt token ({len(lps)})")
    return sum(lps[len(ctx):])


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else default_binary()
    model = sys.argv[2] if len(sys.argv) > 2 else "gemma3-270m"
    # Offline: nothing may come from the Hugging Face hub (datasets reads the local jsonl with
    # its bundled json builder).
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import lm_eval
    from lm_eval.tasks import TaskManager

    with Server(binary, ["-m", model, "--ctx", "2048"]) as srv:
        info = get(srv.base, "/tokenizer_info")
        check(info.get("eos_token") and info.get("bos_token"),
              f"/tokenizer_info names BOS {info.get('bos_token')!r} and EOS {info.get('eos_token')!r}")
        bos = encode(srv.base, info["bos_token"])[0]
        check(bos != encode(srv.base, "Hello")[0], "BOS is not added by the remote tokenizer's /tokenize")

        served = get(srv.base, "/v1/models")["data"][0]["id"]
        os.chdir(TASK_DIR)
        results = lm_eval.simple_evaluate(
            model="local-completions",
            # No tokenizer and no tokenizer_backend: the default (auto) must pick the remote one.
            model_args={"base_url": srv.base + "/v1/completions", "model": served,
                        "num_concurrent": 1, "max_retries": 1, "tokenized_requests": True},
            tasks=["nomoat_tiny_mc"],
            task_manager=TaskManager(include_path=TASK_DIR),
            log_samples=True,
            batch_size=1,
        )
        acc = results["results"]["nomoat_tiny_mc"]["acc,none"]
        samples = results["samples"]["nomoat_tiny_mc"]
        n_docs = sum(1 for line in open(os.path.join(TASK_DIR, "nomoat_tiny_mc.jsonl")) if line.strip())
        check(len(samples) == n_docs, f"lm-eval scored all {n_docs} documents (acc {acc:.3f})")

        n = 0
        worst = 0.0
        for s in samples:
            for (context, continuation), resp in zip(s["arguments"], s["resps"]):
                got = resp[0][0]
                ctx, cont = lm_eval_pair(srv.base, bos, context, continuation)
                want = reference(srv.base, ctx, cont)
                worst = max(worst, abs(got - want))
                check(abs(got - want) <= TOL,
                      f"{context[-24:]!r} + {continuation!r}: lm-eval {got:.6f} == nomoat {want:.6f}")
                if context == "":
                    # The empty-context item is scored after BOS, as lm-eval's prefix token.
                    check(ctx == [bos], "an empty context is lm-eval's prefix token: BOS")
                else:
                    check(bos not in ctx, "no BOS in a non-empty context (lm-eval adds none)")
                n += 1
        check(n >= 2 * n_docs, f"{n} loglikelihoods match within {TOL} (worst {worst:.2e})")
        check(acc >= 0.5, f"the model gets most of these easy items right (acc {acc:.3f})")


if __name__ == "__main__":
    main()
