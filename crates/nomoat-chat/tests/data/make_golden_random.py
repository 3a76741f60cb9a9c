#!/usr/bin/env python3
"""Random conversations (roles, list content, tool calls with dict/string arguments, reasoning,
template kwargs) rendered by jinja2 in transformers' setup, for a differential run:

    python3 make_golden_random.py SEED COUNT TEMPLATES_DIR > /tmp/random.jsonl
    NOMOAT_CHAT_GOLDEN=/tmp/random.jsonl cargo test -p nomoat-chat --test golden_templates -- --ignored
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden_extra as g  # noqa: E402

random.seed(int(sys.argv[1]))
texts = ["Hi", "  spaced  ", "multi\nline\n\ntext", "émoji 😀 ½", "<think>hidden</think>answer", "{{ x }} {% y %}", "", "tab\tand \\ backslash", "json {\"a\": 1}", "</s><|im_end|>", "Ünïcödé —"]
def rand_args():
    return random.choice([{"city": "Zürich"}, {}, {"city": "X", "days": 3, "nested": {"a": [1, 2.5, None, True]}}, "{\"city\": \"Paris\"}"])
convs = []
for i in range(int(sys.argv[2])):
    msgs = []
    if random.random() < 0.1:
        convs.append((f"rand{i}", [], random.choice([None, [g.WEATHER]]), True, {}))
        continue
    if random.random() < 0.5:
        msgs.append({"role": "system", "content": random.choice(texts)})
    n = random.randint(1, 4)
    for t in range(n):
        if random.random() < 0.2:
            msgs.append({"role": "user", "content": [{"type": "text", "text": random.choice(texts)} for _ in range(random.randint(1, 2))]})
        elif random.random() < 0.1:
            msgs.append({"role": random.choice(["developer", "function", "ipython"]), "content": random.choice(texts)})
        else:
            msgs.append({"role": "user", "content": random.choice(texts)})
        if t < n - 1 or random.random() < 0.3:
            m = {"role": "assistant", "content": random.choice(texts + [None])}
            if random.random() < 0.3:
                m["reasoning_content"] = random.choice(texts)
            if random.random() < 0.3:
                cid = random.choice(["call_1", "abcdefghi"])
                m["tool_calls"] = [{"id": cid, "type": "function", "function": {"name": random.choice(["get_weather", "search_docs"]), "arguments": rand_args()}} for _ in range(random.randint(1, 3))]
                msgs.append(m)
                for _ in m["tool_calls"]:
                    t = {"role": "tool", "tool_call_id": cid, "content": random.choice(texts)}
                    if random.random() < 0.5: t["name"] = "get_weather"
                    msgs.append(t)
                msgs.append({"role": "assistant", "content": random.choice(texts)})
                continue
            msgs.append(m)
    tools = random.choice([None, [g.WEATHER], [g.SEARCH, g.WEATHER]])
    extra = random.choice([{}, {"enable_thinking": True}, {"enable_thinking": False}, {"reasoning_effort": "high"}, {"tools_in_user_message": False}, {"builtin_tools": ["brave_search", "wolfram_alpha"]}, {"thinking": True}, {"add_vision_id": True}, {"custom_instructions": "Be nice."}, {"date_string": "01 Feb 2025"}, {"xml_tools": True}, {"keep_past_thinking": True}])
    convs.append((f"rand{i}", msgs, tools, random.random() < 0.7, extra))
g.CONVERSATIONS = convs
sys.argv = [sys.argv[0], sys.argv[3]]
g.main()
