#!/usr/bin/env python3
"""Drive `nomoat serve`'s Responses API with the official `openai` Python client.

Usage: python3 .ci/openai_responses_test.py [NOMOAT_BINARY] [--skip-gemma]
On the tiny synthetic llama (--chat-template chatml): responses.create with a string and with
message items (input_text / output_text parts, instructions), output_text, usage, an
incomplete response at max_output_tokens, stream=True events in OpenAI's order with sequence
numbers, the responses.stream helper's final response, and refused fields (previous_response_id,
reasoning) surfacing as BadRequestError. Then on gemma3-270m (from the cache): text comes back.
"""
import sys

import openai

from serverkit import Server, check, default_binary, tiny_model

KEY = "test-key-responses"


def tiny_checks(binary):
    args = ["-m", tiny_model(), "--chat-template", "chatml", "--api-key", KEY,
            "--parallel", "1", "--ctx", "2048", "--threads", "1"]
    with Server(binary, args) as srv:
        client = openai.OpenAI(base_url=srv.base + "/v1", api_key=KEY, max_retries=0)
        model = client.models.list().data[0].id
        ask = dict(
            model=model,
            instructions="You are terse.",
            input=[
                {"role": "user", "content": "Hello"},
                {"type": "message", "role": "assistant",
                 "content": [{"type": "output_text", "text": "Hi.", "annotations": []}]},
                {"role": "user", "content": [{"type": "input_text", "text": "Count to five."}]},
            ],
            max_output_tokens=40,
            temperature=0,
        )

        r = client.responses.create(store=False, metadata={"run": "ci"}, user="ci", **ask)
        check(r.id.startswith("resp_") and r.object == "response", f"a response object ({r.id})")
        check(r.status in ("completed", "incomplete"), f"status {r.status}")
        check(len(r.output) == 1 and r.output[0].type == "message" and r.output[0].role == "assistant",
              "one assistant message in output")
        part = r.output[0].content[0]
        check(part.type == "output_text" and part.annotations == [], "an output_text part")
        check(r.output_text == part.text, "the SDK's output_text is the answer")
        check(r.usage.input_tokens > 0 and r.usage.output_tokens >= 1
              and r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens,
              f"usage {r.usage.input_tokens} + {r.usage.output_tokens}")
        check(r.metadata == {"run": "ci"}, "metadata echoed")

        short = client.responses.create(model=model, input="Tell me a long story.", max_output_tokens=2,
                                        temperature=0)
        # Unless the model ended on its own within two tokens, the limit made it incomplete.
        if short.usage.output_tokens == 2:
            ok = short.status == "incomplete" and short.incomplete_details.reason == "max_output_tokens"
        else:
            ok = short.status == "completed" and short.incomplete_details is None
        check(ok, f"status {short.status} after {short.usage.output_tokens} of max 2 tokens")

        events = list(client.responses.create(stream=True, **ask))
        kinds = [e.type for e in events]
        check(kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                            "response.content_part.added"], "stream starts in OpenAI's order")
        last = "response.completed" if r.status == "completed" else "response.incomplete"
        check(kinds[-4:] == ["response.output_text.done", "response.content_part.done",
                             "response.output_item.done", last], f"stream ends in OpenAI's order ({last})")
        check(all(k == "response.output_text.delta" for k in kinds[4:-4]), "only text deltas between")
        check([e.sequence_number for e in events] == list(range(len(events))), "sequence numbers count up")
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        check(deltas == r.output_text, "streamed deltas give the same greedy answer")
        check(events[-1].response.output_text == r.output_text, "the final event holds the response")

        if hasattr(client.responses, "stream"):
            with client.responses.stream(**ask) as stream:
                helper_text = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
                # The helper keeps only a response.completed (not an incomplete one) as final.
                final = stream.get_final_response() if r.status == "completed" else None
            check(helper_text == r.output_text, "the responses.stream helper streams the answer")
            if final is not None:
                check(final.output_text == r.output_text, "responses.stream's final response")

        for field, extra in [("previous_response_id", {"previous_response_id": "resp_123"}),
                             ("reasoning", {"reasoning": {"effort": "high"}})]:
            try:
                client.responses.create(model=model, input="hi", **extra)
                check(False, f"{field} is refused")
            except openai.BadRequestError as e:
                check(e.status_code == 400 and field in str(e), f"{field} → BadRequestError naming it")
        bad = openai.OpenAI(base_url=srv.base + "/v1", api_key="wrong", max_retries=0)
        try:
            bad.responses.create(model=model, input="hi")
            check(False, "a wrong key is refused")
        except openai.AuthenticationError:
            check(True, "wrong key → AuthenticationError")


def gemma_checks(binary):
    with Server(binary, ["-m", "gemma3-270m", "--parallel", "1", "--ctx", "1024"]) as srv:
        client = openai.OpenAI(base_url=srv.base + "/v1", api_key="unused", max_retries=0)
        model = client.models.list().data[0].id
        r = client.responses.create(model=model, input="What is the capital of France?",
                                    max_output_tokens=24, temperature=0)
        check(r.output_text.strip() != "", f"gemma3-270m answers with text: {r.output_text!r}")
        events = list(client.responses.create(model=model, input="What is the capital of France?",
                                              max_output_tokens=24, temperature=0, stream=True))
        streamed = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        check(streamed == r.output_text, "gemma3-270m streams the same text")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    binary = args[0] if args else default_binary()
    tiny_checks(binary)
    if "--skip-gemma" not in sys.argv:
        gemma_checks(binary)
    print("openai responses test passed")


if __name__ == "__main__":
    main()
