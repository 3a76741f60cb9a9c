#!/usr/bin/env python3
"""Drive `nomoat serve`'s Anthropic Messages API with the official `anthropic` Python SDK.

Usage: python3 .ci/anthropic_client_test.py [NOMOAT_BINARY] [--skip-gemma]
On the tiny synthetic llama (--chat-template chatml): messages.create (system, multi-turn),
messages.stream with text_stream and the final message, the raw event stream's order,
stop_sequences (a stop string taken from the greedy answer, reported by name), count_tokens
against the usage of the same prompt, and a 400, a 401 and a 404 surfacing as the SDK's
exception classes. Then on gemma3-270m (from the cache): a plain and a streamed answer come
back with text.
"""
import sys
import urllib.request
import json

import anthropic

from serverkit import Server, check, default_binary, tiny_model

KEY = "test-key-anthropic"
# Recent SDKs take no sampling arguments; the API still has them.
GREEDY = {"temperature": 0}


def served_model(base):
    req = urllib.request.Request(base + "/v1/models", headers={"Authorization": f"Bearer {KEY}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)["data"][0]["id"]


def tiny_checks(binary):
    args = ["-m", tiny_model(), "--chat-template", "chatml", "--api-key", KEY,
            "--parallel", "1", "--ctx", "2048", "--threads", "1"]
    with Server(binary, args) as srv:
        model = served_model(srv.base)
        client = anthropic.Anthropic(base_url=srv.base, api_key=KEY, max_retries=0)
        convo = dict(
            model=model,
            system="You are terse.",
            messages=[
                {"role": "user", "content": "Hello"},
                {"role": "assistant", "content": [{"type": "text", "text": "Hi."}]},
                {"role": "user", "content": "Count to five."},
            ],
        )

        msg = client.messages.create(max_tokens=40, extra_body=GREEDY, metadata={"user_id": "ci"}, **convo)
        check(isinstance(msg, anthropic.types.Message), "messages.create returns a Message")
        check(msg.id.startswith("msg_") and msg.type == "message" and msg.role == "assistant",
              f"message id/type/role ({msg.id})")
        check(msg.model == model, "the served model is named")
        check(len(msg.content) == 1 and msg.content[0].type == "text", "one text block")
        text = msg.content[0].text
        check(msg.stop_reason in ("end_turn", "max_tokens"), f"stop_reason {msg.stop_reason}")
        check(msg.stop_sequence is None, "no stop sequence")
        check(msg.usage.input_tokens > 0 and 1 <= msg.usage.output_tokens <= 40,
              f"usage {msg.usage.input_tokens} in, {msg.usage.output_tokens} out")

        count = client.messages.count_tokens(**convo)
        check(count.input_tokens == msg.usage.input_tokens,
              f"count_tokens ({count.input_tokens}) matches the message's input_tokens")

        with client.messages.stream(max_tokens=40, extra_body=GREEDY, **convo) as stream:
            streamed = "".join(stream.text_stream)
            final = stream.get_final_message()
        check(streamed == text, "messages.stream text_stream gives the greedy answer")
        check(final.content[0].text == text and final.stop_reason == msg.stop_reason
              and final.usage.output_tokens == msg.usage.output_tokens,
              "the stream's final message matches the plain one")

        events = list(client.messages.create(max_tokens=40, extra_body=GREEDY, stream=True, **convo))
        kinds = [e.type for e in events]
        check(kinds[:2] == ["message_start", "content_block_start"]
              and kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
              and all(k == "content_block_delta" for k in kinds[2:-3]),
              f"raw stream events in Anthropic's order ({len(kinds)} events)")
        check(events[-2].delta.stop_reason == msg.stop_reason, "message_delta carries the stop reason")

        # A stop string from the middle of the greedy answer ends it there, and is named.
        long = client.messages.create(max_tokens=64, extra_body=GREEDY, **convo).content[0].text
        check(len(long) >= 8, f"the greedy answer is long enough to cut ({len(long)} chars)")
        stop = long[4:7]
        cut = long[:long.find(stop)]
        stopped = client.messages.create(max_tokens=64, extra_body=GREEDY, stop_sequences=["\x00never", stop],
                                         **convo)
        check(stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == stop,
              f"stop_reason stop_sequence, stop_sequence {stop!r}")
        check(stopped.content[0].text == cut, "the text ends before the stop sequence")

        try:
            client.messages.create(max_tokens=8, tools=[{"name": "f", "input_schema": {"type": "object"}}],
                                   **convo)
            check(False, "tools are refused")
        except anthropic.BadRequestError as e:
            check(e.status_code == 400 and e.body["error"]["type"] == "invalid_request_error"
                  and "tools" in e.body["error"]["message"], "tools → BadRequestError naming 'tools'")
        try:
            client.messages.create(model=model, max_tokens=8, messages=[{"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]}])
            check(False, "image blocks are refused")
        except anthropic.BadRequestError as e:
            check("'image'" in e.body["error"]["message"], "an image block → BadRequestError naming it")
        try:
            client.messages.create(max_tokens=8, **{**convo, "model": "claude-sonnet-4-5"})
            check(False, "an unknown model is refused")
        except anthropic.NotFoundError as e:
            check(e.body["error"]["type"] == "not_found_error", "unknown model → NotFoundError")
        bad = anthropic.Anthropic(base_url=srv.base, api_key="wrong", max_retries=0)
        try:
            bad.messages.create(max_tokens=8, **convo)
            check(False, "a wrong key is refused")
        except anthropic.AuthenticationError as e:
            check(e.status_code == 401 and e.body["error"]["type"] == "authentication_error",
                  "wrong x-api-key → AuthenticationError")


def gemma_checks(binary):
    with Server(binary, ["-m", "gemma3-270m", "--parallel", "1", "--ctx", "1024"]) as srv:
        model = served_model(srv.base)
        client = anthropic.Anthropic(base_url=srv.base, api_key="unused", max_retries=0)
        ask = dict(model=model, max_tokens=24, messages=[{"role": "user", "content": "What is the capital of France?"}])
        msg = client.messages.create(extra_body=GREEDY, **ask)
        text = msg.content[0].text
        check(text.strip() != "", f"gemma3-270m answers with text: {text!r}")
        with client.messages.stream(extra_body=GREEDY, **ask) as stream:
            streamed = "".join(stream.text_stream)
        check(streamed == text, "gemma3-270m streams the same text")


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    binary = args[0] if args else default_binary()
    tiny_checks(binary)
    if "--skip-gemma" not in sys.argv:
        gemma_checks(binary)
    print("anthropic client test passed")


if __name__ == "__main__":
    main()
