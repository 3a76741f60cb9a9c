#!/usr/bin/env python3
"""Tool calling and reasoning against `nomoat serve` on the default chat model (SmolLM2-135M-Instruct),
through the clients agents use: the official openai client, LangChain (`bind_tools`,
`with_structured_output` by function_calling, json_mode and json_schema) and litellm.

- tool_choice `required` and a named function, 50 seeds each at temperature 1: every reply that
  ends is a call to a declared tool whose arguments validate (`jsonschema`) against its schema;
- streaming `delta.tool_calls` fragments concatenate to the same calls as the non-streaming reply;
- `auto` answers with content or with valid calls, and a tool result round-trips through the
  template;
- the Qwen3 template (Hermes `<tool_call>` format, `<think>` reasoning) on the same model: a
  required call in Hermes syntax, and thinking goes to `reasoning_content`, streaming too;
- what is refused is a 400 that names the field.

Usage: python3 .ci/tools_test.py [NOMOAT_BINARY] [MODEL]
"""
import concurrent.futures as cf
import json
import os
import sys

import jsonschema
import openai

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serverkit import ROOT, Server, check, default_binary  # noqa: E402

WEATHER = {"type": "object", "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
           "required": ["city"]}
TIME = {"type": "object", "properties": {"tz": {"type": "string", "description": "IANA time zone"}},
        "required": ["tz"]}
SCHEMAS = {"get_weather": WEATHER, "get_time": TIME}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Get the weather for a city",
                                           "parameters": WEATHER}},
         {"type": "function", "function": {"name": "get_time", "description": "Current time in a time zone",
                                           "parameters": TIME}}]
ASK = [{"role": "user", "content": "What's the weather in Paris?"}]
SEEDS = 50


def valid_calls(calls, allowed):
    """Each call names an allowed tool and its arguments are JSON that validates."""
    for c in calls:
        if c.function.name not in allowed:
            raise AssertionError(f"call to undeclared tool {c.function.name}")
        jsonschema.validate(json.loads(c.function.arguments), SCHEMAS[c.function.name])
        if not c.id:
            raise AssertionError("a call without an id")
    return True


def seeds_run(client, model, choice, allowed, parallel=None):
    extra = {} if parallel is None else {"parallel_tool_calls": parallel}

    def one(seed):
        r = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS, tool_choice=choice,
                                           max_tokens=200, temperature=1.0, seed=seed, **extra)
        return r.choices[0]

    with cf.ThreadPoolExecutor(4) as pool:
        choices = list(pool.map(one, range(SEEDS)))
    for c in choices:
        # Cut by max_tokens: "length", and the calls completed before the cut are still valid.
        if c.finish_reason == "length" and c.message.tool_calls:
            valid_calls(c.message.tool_calls, allowed)
    ended = [c for c in choices if c.finish_reason != "length"]
    for c in ended:
        check_call = c.finish_reason == "tool_calls" and c.message.tool_calls and valid_calls(c.message.tool_calls, allowed)
        if not check_call:
            raise AssertionError(f"tool_choice {choice}: not a valid call: {c}")
        if parallel is False and len(c.message.tool_calls) != 1:
            raise AssertionError(f"parallel_tool_calls false gave {len(c.message.tool_calls)} calls")
    return len(ended), SEEDS - len(ended)


def stream_calls(client, **kw):
    """(content, reasoning, [(name, arguments)], finish_reason) from the streamed deltas."""
    content, reasoning, calls, finish = "", "", {}, None
    for chunk in client.chat.completions.create(stream=True, **kw):
        if not chunk.choices:
            continue
        ch = chunk.choices[0]
        d = ch.delta
        content += d.content or ""
        reasoning += getattr(d, "reasoning_content", None) or (d.model_extra or {}).get("reasoning_content") or ""
        for tc in d.tool_calls or []:
            slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
            slot["id"] += tc.id or ""
            if tc.function:
                slot["name"] += tc.function.name or ""
                slot["arguments"] += tc.function.arguments or ""
        finish = ch.finish_reason or finish
    return content, reasoning, [(c["name"], json.loads(c["arguments"])) for _, c in sorted(calls.items())], finish


def openai_checks(client, model):
    ended, cut = seeds_run(client, model, "required", set(SCHEMAS))
    check(cut <= SEEDS // 5, f"required, parallel calls allowed: {ended}/{SEEDS} ended, every one a valid call ({cut} hit max_tokens)")
    ended, cut = seeds_run(client, model, "required", set(SCHEMAS), parallel=False)
    check(cut <= SEEDS // 10, f"required, one call: {ended}/{SEEDS} valid single calls ({cut} hit max_tokens)")
    named = {"type": "function", "function": {"name": "get_time"}}
    ended, cut = seeds_run(client, model, named, {"get_time"})
    check(cut <= SEEDS // 10, f"named get_time: {ended}/{SEEDS} valid calls to get_time ({cut} hit max_tokens)")

    # Streaming = non-streaming, call for call (sequential: batching changes no numerics then,
    # and the prompt is in the prefix cache for both).
    same = 0
    for seed, choice in [(1, "required"), (2, "required"), (3, named), (4, "auto"), (5, "auto"), (6, "auto")]:
        kw = dict(model=model, messages=ASK, tools=TOOLS, tool_choice=choice, max_tokens=200, temperature=1.0, seed=seed)
        client.chat.completions.create(**kw)
        r = client.chat.completions.create(**kw).choices[0]
        content, _, calls, finish = stream_calls(client, **kw)
        want = [(c.function.name, json.loads(c.function.arguments)) for c in r.message.tool_calls or []]
        if (calls, finish) != (want, r.finish_reason) or (not want and content != (r.message.content or "")):
            raise AssertionError(f"seed {seed}: stream {content!r} {calls} {finish} != {r}")
        same += 1
    check(same == 6, "streamed delta.tool_calls concatenate to the non-streaming calls (6 requests)")

    kinds = set()
    for seed in range(8):
        r = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS, max_tokens=200, temperature=1.0, seed=seed)
        c = r.choices[0]
        if c.finish_reason == "tool_calls":
            valid_calls(c.message.tool_calls, set(SCHEMAS))
            kinds.add("call")
        elif c.finish_reason == "stop":
            check(isinstance(c.message.content, str) and not c.message.tool_calls, f"auto seed {seed}: plain answer")
            kinds.add("answer")
    check(kinds, f"auto (the default): answers and calls both well-formed: {sorted(kinds)}")

    # A tool result goes back through the template and the model answers from it.
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    history = ASK + [{"role": "assistant", "content": None, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees and sunny"}]
    r = client.chat.completions.create(model=model, messages=history, tools=TOOLS, tool_choice="none", max_tokens=40, temperature=0)
    r0 = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS, tool_choice="none", max_tokens=1)
    check(r.choices[0].message.content and r.usage.prompt_tokens > r0.usage.prompt_tokens + 10,
          f"tool result round-trips ({r.usage.prompt_tokens} prompt tokens): {r.choices[0].message.content!r}")

    for kw, field in [(dict(tool_choice={"type": "function", "function": {"name": "launch"}}), "tool_choice"),
                      (dict(tools=[{"type": "function", "function": {"name": "bad name"}}]), "tools"),
                      (dict(response_format={"type": "json_object"}), "response_format"),
                      (dict(extra_body={"reasoning_effort": "extreme"}), "reasoning_effort"),
                      (dict(extra_body={"chat_template_kwargs": {"messages": []}}), "chat_template_kwargs")]:
        args = dict(model=model, messages=ASK, tools=TOOLS, max_tokens=5)
        args.update(kw)
        try:
            client.chat.completions.create(**args)
            raise AssertionError(f"{kw} was accepted")
        except openai.BadRequestError as e:
            check(field in str(e), f"refused with a 400 naming {field}: {e.message}")


def qwen3_checks(binary, model):
    """SmolLM2 under Qwen3's template: Hermes calls and <think> reasoning."""
    template = os.path.join(ROOT, "..", "shared", "reference", "templates", "Qwen-Qwen3-0.6B.jinja")
    with Server(binary, ["-m", model, "--ctx", "4096", "--chat-template", template, "--reasoning-budget", "4"]) as srv:
        client = openai.OpenAI(base_url=srv.base + "/v1", api_key="unused", max_retries=0)
        ok = 0
        for seed in range(10):
            r = client.chat.completions.create(model=model, messages=ASK, tools=TOOLS, tool_choice="required",
                                               max_tokens=200, temperature=1.0, seed=seed,
                                               extra_body={"chat_template_kwargs": {"enable_thinking": False}})
            c = r.choices[0]
            if c.finish_reason == "length":
                continue
            check(c.finish_reason == "tool_calls" and valid_calls(c.message.tool_calls, set(SCHEMAS)) and not c.message.content,
                  f"Hermes format, seed {seed}: {[(t.function.name, t.function.arguments) for t in c.message.tool_calls]}")
            ok += 1
        check(ok >= 8, f"Hermes required calls: {ok}/10 ended, all valid")

        # The model does not think on its own; a grammar makes it, and the parser must split.
        lark = 'start: "<think>" /[a-z]{1,10}( [a-z]{1,10}){0,5}/ "</think>" "\\n\\nThe answer is " /[0-9]{1,3}/ "."\n'
        kw = dict(model=model, messages=[{"role": "user", "content": "What is 6 times 7?"}], max_tokens=80,
                  temperature=0.7, seed=1, extra_body={"response_format": {"type": "grammar", "grammar": lark},
                                                       "thinking_budget": -1})
        m = client.chat.completions.create(**kw).choices[0].message
        reasoning = (m.model_extra or {}).get("reasoning_content", "")
        check(m.content.startswith("The answer is") and "<think>" not in m.content and reasoning.strip(),
              f"<think> goes to reasoning_content ({reasoning!r}), the answer to content ({m.content!r})")
        content, s_reasoning, _, _ = stream_calls(client, **kw)
        check((content, s_reasoning) == (m.content, reasoning), "streamed delta.reasoning_content and content match")

        # A grammar that would think forever: the budget (the server's --reasoning-budget 4, or
        # the request's thinking_budget) ends the block and the answer comes.
        endless = 'start: "<think>" /[a-z]+( [a-z]+)*/ "</think>" "\\n\\nThe answer is " /[0-9]{1,3}/ "."\n'
        kw = dict(model=model, messages=[{"role": "user", "content": "What is 6 times 7?"}], max_tokens=60,
                  temperature=0.7, seed=1)
        free = client.chat.completions.create(
            **kw, extra_body={"response_format": {"type": "grammar", "grammar": endless}, "thinking_budget": -1}).choices[0]
        capped = client.chat.completions.create(
            **kw, extra_body={"response_format": {"type": "grammar", "grammar": endless}}).choices[0]
        r = (capped.message.model_extra or {}).get("reasoning_content", "")
        check(free.finish_reason == "length" and capped.finish_reason == "stop"
              and capped.message.content.startswith("The answer is") and len(r.split()) <= 4,
              f"--reasoning-budget 4 closes the block ({r!r}) and the answer follows ({capped.message.content!r})")


def langchain_checks(base, model):
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI
    from pydantic import BaseModel, Field

    @tool
    def get_weather(city: str) -> str:
        """Get the weather for a city."""
        return "sunny"

    class City(BaseModel):
        """A city and its country."""
        city: str = Field(description="the city")
        country: str = Field(description="its country")

    llm = ChatOpenAI(base_url=base + "/v1", api_key="unused", model=model, temperature=0.7, max_tokens=200,
                     max_retries=0, seed=3)
    msg = llm.bind_tools([get_weather], tool_choice="required").invoke("What's the weather in Paris?")
    check(msg.tool_calls and msg.tool_calls[0]["name"] == "get_weather" and isinstance(msg.tool_calls[0]["args"].get("city"), str),
          f"LangChain bind_tools: {msg.tool_calls}")
    for method in ["function_calling", "json_schema"]:
        out = llm.with_structured_output(City, method=method).invoke("Name a city in Italy.")
        check(isinstance(out, City), f"LangChain with_structured_output({method}): {out!r}")
    schema = {"title": "city", "description": "A city", "type": "object",
              "properties": {"city": {"type": "string"}}, "required": ["city"]}
    out = llm.with_structured_output(schema, method="json_mode").invoke("Name a city in Italy. Reply in JSON.")
    check(isinstance(out, dict), f"LangChain with_structured_output(json_mode): {out!r}")


def litellm_checks(base, model):
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"  # offline: no price list download
    import litellm
    r = litellm.completion(model="openai/" + model, api_base=base + "/v1", api_key="unused", messages=ASK,
                           tools=TOOLS, tool_choice="required", max_tokens=200, temperature=0.7, seed=5)
    calls = r.choices[0].message.tool_calls
    check(calls and calls[0].function.name in SCHEMAS and isinstance(json.loads(calls[0].function.arguments), dict),
          f"litellm tools: {[(c.function.name, c.function.arguments) for c in calls or []]}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else default_binary()
    model = sys.argv[2] if len(sys.argv) > 2 else "smollm2-135m-instruct"
    with Server(binary, ["-m", model, "--ctx", "4096", "--parallel", "4"]) as srv:
        client = openai.OpenAI(base_url=srv.base + "/v1", api_key="unused", max_retries=0)
        openai_checks(client, model)
        langchain_checks(srv.base, model)
        litellm_checks(srv.base, model)
    qwen3_checks(binary, model)


if __name__ == "__main__":
    main()
