#!/usr/bin/env python3
"""Renders the 70 reference templates (../shared/reference/templates) for conversations the public
goldens lack (tools, tool calls, tool results, list content, reasoning, template kwargs), with
jinja2 set up as transformers' apply_chat_template does (see that folder's README), and writes
golden-extra.jsonl in the same format as golden-public.jsonl, plus an "extra" key (template
kwargs). Usage: python3 make_golden_extra.py TEMPLATES_DIR > golden-extra.jsonl
"""
import datetime
import json
import os
import sys

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

NOW = datetime.datetime(2026, 1, 15, 9, 30, 0)


class Generation(Extension):
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        call = self.call_method("_render", [])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _render(self, caller):
        return caller()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)


def env():
    e = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                      extensions=[Generation, jinja2.ext.loopcontrols])
    e.filters["tojson"] = tojson
    e.globals["raise_exception"] = raise_exception
    e.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)
    return e


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city. Temperatures in °C.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich"},
                "days": {"type": "integer", "description": "Forecast days", "default": 1},
                "units": {"type": "string", "enum": ["metric", "imperial"]},
            },
            "required": ["city"],
        },
    },
}

SEARCH = {
    "type": "function",
    "function": {
        "name": "search_docs",
        "description": "Search the documentation.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "filters": {
                    "type": "object",
                    "properties": {
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "min_score": {"type": "number", "default": 0.5},
                        "decay": {"type": "number", "default": 1e-05},
                        "exact": {"type": "boolean", "default": False},
                    },
                },
                "limit": {"type": ["integer", "null"], "default": None},
            },
            "required": ["query"],
        },
    },
}

CONVERSATIONS = [
    ("tool_call_dict_args", [
        {"role": "system", "content": "You can call tools."},
        {"role": "user", "content": "Weather in Zürich?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": {"city": "Zürich", "days": 2}}}]},
        {"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
         "content": "{\"temp\": 21.5, \"sky\": \"sunny\"}"},
    ], [WEATHER], True, {}),
    ("tool_call_string_args", [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_2", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_2", "content": "18 °C"},
        {"role": "assistant", "content": "It is 18 °C in Paris."},
        {"role": "user", "content": "Thanks!"},
    ], [WEATHER], True, {}),
    ("tools_no_call", [
        {"role": "user", "content": "Hi"},
    ], [WEATHER], True, {}),
    ("text_parts", [
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": [{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}]},
    ], None, True, {}),
    ("reasoning_no_thinking", [
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "Add two and two."},
        {"role": "user", "content": "3+3?"},
    ], None, True, {"enable_thinking": False}),
    ("two_tool_calls_nested_schema", [
        {"role": "system", "content": "Use tools when useful."},
        {"role": "user", "content": "Find docs on GGUF and the weather in Oslo."},
        {"role": "assistant", "content": "Let me check both.", "tool_calls": [
            {"id": "call_a", "type": "function",
             "function": {"name": "search_docs",
                          "arguments": {"query": "GGUF", "filters": {"tags": ["format"], "min_score": 0.75}}}},
            {"id": "call_b", "type": "function",
             "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}]},
        {"role": "tool", "tool_call_id": "call_a", "name": "search_docs", "content": "GGUF is a file format."},
        {"role": "tool", "tool_call_id": "call_b", "name": "get_weather", "content": "-3 °C"},
        {"role": "assistant", "content": "GGUF is a file format; Oslo is at -3 °C."},
        {"role": "user", "content": "Thanks."},
    ], [SEARCH, WEATHER], True, {}),
    ("empty_messages", [], None, True, {}),
    ("system_only", [
        {"role": "system", "content": "You are terse."},
    ], None, True, {}),
    ("thinking_enabled", [
        {"role": "user", "content": "Why is the sky blue?"},
        {"role": "assistant", "content": "Rayleigh scattering.", "reasoning_content": "Short wavelengths scatter more."},
        {"role": "user", "content": "And sunsets?"},
    ], None, True, {"enable_thinking": True}),
    ("tricky_text", [
        {"role": "user", "content": "Literal {{ braces }} and {% tags %}, </s> <|im_end|> \\ backslash,\ttab, 'quotes' \"dq\"\n\n  trailing  "},
        {"role": "assistant", "content": "\n  Leading and trailing whitespace.  \n"},
        {"role": "user", "content": "ok"},
    ], None, True, {}),
    ("ends_with_assistant", [
        {"role": "user", "content": "Say hi"},
        {"role": "assistant", "content": "  Hi!\n"},
    ], None, False, {}),
]


def main():
    folder = sys.argv[1]
    e = env()
    names = sorted(n for n in os.listdir(folder) if n.endswith(".jinja"))
    for name in names:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            template = e.from_string(f.read())
        for conv, messages, tools, agp, extra in CONVERSATIONS:
            line = {"template": name, "conversation": conv, "messages": messages, "tools": tools,
                    "add_generation_prompt": agp, "bos_token": "<s>", "eos_token": "</s>",
                    "now": NOW.isoformat(), "extra": extra}
            msgs = [{k: v for k, v in m.items() if v is not None} for m in messages]
            try:
                line["output"] = template.render(messages=msgs, tools=tools, documents=None,
                                                 add_generation_prompt=agp, bos_token="<s>",
                                                 eos_token="</s>", **extra)
            except Exception as ex:  # the reference's verdict, whatever Python raised
                line["error"] = f"{type(ex).__name__}: {ex}"
            print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
