#!/usr/bin/env python3
"""Embeddings through real clients: the official `openai` client (`client.embeddings.create`:
its default base64 transfer, explicit float, batches, `dimensions`) and the `ollama` client
(`Client(host=...).embed` and the legacy `.embeddings`) against `nomoat serve`.

Usage: python3 .ci/embeddings_test.py [NOMOAT_BINARY] [-m MODEL]   (default model gemma3-270m)

Checks the vectors are unit length and of the model's width, that a batch gives what single
requests give, that base64 and float agree, that both APIs give the same vectors, that an
embedding made while a completion streams leaves the completion intact, and that the vectors
carry meaning: two paraphrases are closer (cosine) than either is to unrelated sentences.
"""
import argparse
import math
import threading

import ollama
import openai

from serverkit import Server, check, default_binary

PARAPHRASES = ("The cat is sleeping on the warm windowsill.",
               "A cat naps on the sunny window ledge.")
UNRELATED = ("Quarterly tax returns must be filed before the end of April.",
             "The compiler reported a type error in the parser module.")


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def close(a, b, tol=1e-5):
    return len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) <= tol


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=default_binary())
    ap.add_argument("-m", "--model", default="gemma3-270m")
    args = ap.parse_args()
    with Server(args.binary, ["-m", args.model, "--parallel", "2", "--ctx", "512"]) as srv:
        client = openai.OpenAI(base_url=srv.base + "/v1", api_key="unused")
        model = client.models.list().data[0].id

        # The client's default: it asks for base64 and decodes it.
        one = client.embeddings.create(model=model, input=PARAPHRASES[0])
        v0 = one.data[0].embedding
        width = len(v0)
        check(width > 0 and abs(norm(v0) - 1) < 1e-4, f"one input: {width} values, unit length")
        check(one.usage.prompt_tokens > 0 and one.usage.total_tokens == one.usage.prompt_tokens,
              f"usage counts {one.usage.prompt_tokens} prompt tokens")
        flt = client.embeddings.create(model=model, input=PARAPHRASES[0], encoding_format="float")
        check(close(flt.data[0].embedding, v0, 1e-6), "float and base64 give the same vector")

        texts = list(PARAPHRASES) + list(UNRELATED)
        batch = client.embeddings.create(model=model, input=texts, encoding_format="float")
        vecs = [d.embedding for d in sorted(batch.data, key=lambda d: d.index)]
        check([d.index for d in batch.data] == list(range(len(texts))), "batch indices in order")
        check(close(vecs[0], v0, 1e-4), "a batch gives what a single request gives")
        same = client.embeddings.create(model=model, input=PARAPHRASES[0], encoding_format="float")
        check(same.data[0].embedding == flt.data[0].embedding, "same input, same vector")

        para = cosine(vecs[0], vecs[1])
        cross = max(cosine(vecs[i], vecs[j]) for i in (0, 1) for j in (2, 3))
        check(para > cross, f"paraphrases closer (cos {para:.4f}) than unrelated sentences "
                            f"(best cos {cross:.4f})")

        ok = client.embeddings.create(model=model, input="x", dimensions=width)
        check(len(ok.data[0].embedding) == width, "dimensions = the model's width is accepted")
        try:
            client.embeddings.create(model=model, input="x", dimensions=width // 2)
            check(False, "dimensions below the width is refused")
        except openai.BadRequestError as e:
            check("dimensions" in str(e), "dimensions below the width is a 400 naming it")
        try:
            client.embeddings.create(model=model, input="")
            check(False, "empty input is refused")
        except openai.BadRequestError:
            check(True, "empty input is a 400")

        # An embedding while a completion streams: both finish, the completion unchanged.
        alone = client.completions.create(model=model, prompt="Once upon a time", max_tokens=24,
                                          temperature=0)
        streamed = []

        def stream():
            s = client.completions.create(model=model, prompt="Once upon a time", max_tokens=24,
                                          temperature=0, stream=True)
            streamed.extend(c.choices[0].text for c in s if c.choices)

        t = threading.Thread(target=stream)
        t.start()
        during = client.embeddings.create(model=model, input=texts, encoding_format="float")
        t.join()
        check("".join(streamed) == alone.choices[0].text,
              "a completion streamed during an embedding batch is unchanged")
        check(all(close(d.embedding, vecs[d.index], 1e-4) for d in during.data),
              "embeddings made during a stream equal those made alone")

        oc = ollama.Client(host=srv.base)
        r = oc.embed(model=model, input=texts)
        check(len(r.embeddings) == len(texts) and all(close(a, b, 1e-4)
                                                      for a, b in zip(r.embeddings, vecs)),
              "ollama embed (batch) gives the OpenAI route's vectors")
        check(r.prompt_eval_count == batch.usage.prompt_tokens,
              f"ollama prompt_eval_count = {r.prompt_eval_count}")
        r1 = oc.embed(model=model, input=PARAPHRASES[1])
        check(close(r1.embeddings[0], vecs[1], 1e-4), "ollama embed (one string)")
        legacy = oc.embeddings(model=model, prompt=PARAPHRASES[1]).embedding
        n = norm(legacy)
        check(abs(n - 1) > 1e-3 and close([x / n for x in legacy], vecs[1], 1e-4),
              f"legacy ollama embeddings: the same vector unnormalised (norm {n:.3f})")
        try:
            oc.embed(model=model, input="word " * 700, truncate=False)
            check(False, "an over-long input with truncate false is refused")
        except ollama.ResponseError as e:
            check(e.status_code == 400, "an over-long input with truncate false is a 400")
        cut = oc.embed(model=model, input="word " * 700)
        check(cut.prompt_eval_count == 512, "truncate (default) cuts to the context")


if __name__ == "__main__":
    main()
