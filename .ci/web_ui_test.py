#!/usr/bin/env python3
"""Drive the chat page of `nomoat serve` in a real browser: Playwright (Python) with Debian's
Chromium (no browser download), against the real server on the default model.

Usage: python3 .ci/web_ui_test.py [NOMOAT_BINARY] [--model MODEL] [--screenshots DIR]
Defaults: target/debug/nomoat, gemma3-270m (from the cache), no screenshots.

Checks, each printed as `ok: ...`: first paint; the model picker lists /v1/models; per-conversation
settings; a streamed answer (several partial renders before data-state="done") with tokens/s, TTFT
and context use; regenerate (branch counter, both versions kept); stop with the button and with Esc;
edit-and-resend of an earlier message (old branch still reachable); ↑ edits the last message; a
text attachment inlined with its name; reload keeps the conversation; search, rename, export,
delete, import; a switch to a second (route-faked) model whose stream carries reasoning, tool
calls, code, a table, math and an XSS attempt; 400/503 messages with the server's text; the API-key
prompt on a keyed server; a 375 px wide phone layout in dark mode; no console errors.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

from playwright.sync_api import expect, sync_playwright

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KEY = "web-test-key-42"
TIMEOUT_MS = 120_000

expect.set_options(timeout=TIMEOUT_MS)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print(f"ok: {what}", flush=True)


def start_server(binary, model, api_key=None):
    cmd = [binary, "serve", "-m", model, "--port", "0", "--parallel", "2", "--ctx", "4096"]
    if api_key:
        cmd += ["--api-key", api_key]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    m = re.match(r"listening on (http://\S+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"unexpected first line from the server: {line!r}\n{proc.stderr.read()}")
    base = m.group(1)
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
    deadline = time.time() + 180
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


def stop_server(proc):
    proc.terminate()
    try:
        code = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    check(code == 0, f"server exited cleanly (status {code})")


class Console:
    """Collects console errors and page errors; HTTP statuses a step provokes on purpose may be allowed."""

    def __init__(self, page, name):
        self.errors = []
        self.allowed = set()
        self.name = name
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def _console(self, msg):
        if msg.type != "error":
            return
        m = re.search(r"status of (\d{3})", msg.text)
        if m and int(m.group(1)) in self.allowed:
            return
        self.errors.append(msg.text)

    def assert_clean(self):
        check(not self.errors, f"no console errors ({self.name}): {self.errors}")


def shot(page, outdir, name):
    if outdir:
        os.makedirs(outdir, exist_ok=True)
        page.screenshot(path=os.path.join(outdir, name))


def last_answer(page):
    return page.locator('[data-role="assistant"]').last


def record_stream(page):
    """Record (state, text length) of the streaming answer at every DOM change."""
    page.evaluate("""() => {
        window.__frames = [];
        const root = document.querySelector('.messages');
        const obs = new MutationObserver(() => {
            const a = [...document.querySelectorAll('[data-role="assistant"]')].pop();
            if (a) window.__frames.push([a.dataset.state, (a.querySelector('.md')?.textContent || '').length]);
        });
        obs.observe(root, {subtree: true, childList: true, characterData: true, attributes: true});
    }""")


def set_setting(page, label, value):
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))


def open_settings(page, opened):
    btn = page.get_by_role("button", name="Settings", exact=True)
    if (btn.get_attribute("aria-expanded") == "true") != opened:
        btn.click()


def send(page, text):
    page.get_by_label("Message", exact=True).fill(text)
    page.get_by_label("Message", exact=True).press("Enter")


def wait_until(page, expr, timeout_ms=None):
    """Polls the JavaScript expression `expr` (a function source or an expression) from Python
    until it is truthy. Not `page.wait_for_function`: recent Playwright evaluates its predicate
    with `eval` inside the page, which the page's Content-Security-Policy (no 'unsafe-eval')
    rightly refuses; `page.evaluate` goes through the DevTools protocol instead."""
    deadline = time.monotonic() + (timeout_ms or TIMEOUT_MS) / 1000
    while True:
        if page.evaluate(expr):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {expr.strip()[:120]}")
        time.sleep(0.05)


def wait_done(page):
    a = last_answer(page)
    expect(a).to_have_attribute("data-state", re.compile("done|error"))
    return a


def stop_midway(page, stop):
    """Wait until the newest answer is streaming with some text, then `stop()` it; if the model
    finished first (an early end-of-sequence), regenerate and try again."""
    for _ in range(4):
        wait_until(page, """() => {
            const a = [...document.querySelectorAll('[data-role="assistant"]')].pop();
            return a && (a.dataset.state !== 'streaming' || a.querySelector('.md').textContent.length > 12);
        }""")
        a = last_answer(page)
        if a.get_attribute("data-state") == "streaming":
            stop()
            expect(a).to_have_attribute("data-finish", "stopped")
            return a
        a.get_by_role("button", name="Regenerate").click()
    raise AssertionError("every answer ended before it could be stopped")


def fake_stream(model):
    """An SSE body as a future nomoat (reasoning + tool calls) would stream it."""
    content = ("Here is **Markdown** from a fake model.\n\n"
               "```python\ndef add(a, b):\n    return a + b\n```\n\n"
               "| x | x² |\n|---|---|\n| 2 | 4 |\n| 3 | 9 |\n\n"
               "Euler: $e^{i\\pi} + 1 = 0$ and\n\n$$\\int_0^1 x^2\\,dx = \\frac{1}{3}$$\n\n"
               "<img src=x onerror=\"window.__xss=1\"> [click](javascript:window.__xss=2) "
               "<script>window.__xss=3</script>")
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "The user wants "}}]},
              {"choices": [{"index": 0, "delta": {"reasoning_content": "a demo of every block."}}]}]
    for i in range(0, len(content), 40):
        chunks.append({"choices": [{"index": 0, "delta": {"content": content[i:i + 40]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":"}}]}}]})
    chunks.append({"choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": " \"Paris\"}"}}]}, "finish_reason": "tool_calls"}]})
    chunks.append({"choices": [], "usage": {"prompt_tokens": 20, "completion_tokens": 64, "total_tokens": 84}})
    body = ""
    for c in chunks:
        c.update({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model})
        body += "data: " + json.dumps(c) + "\n\n"
    return body + "data: [DONE]\n\n"


def main_flow(browser, base, model, outdir):
    ctx = browser.new_context(viewport={"width": 1100, "height": 720}, color_scheme="light",
                              accept_downloads=True)
    page = ctx.new_page()
    con = Console(page, "desktop")

    # ---- first paint ----
    paints = []
    for _ in range(5):
        page.goto(base + "/")
        wait_until(page, "performance.getEntriesByName('first-contentful-paint').length > 0")
        paints.append(page.evaluate("performance.getEntriesByName('first-contentful-paint')[0].startTime"))
    fcp = min(paints)
    check(fcp < 300, f"first contentful paint {fcp:.0f} ms (best of {[round(p) for p in paints]}) < 300 ms")

    # ---- model picker ----
    picker = page.get_by_label("Model", exact=True)
    expect(picker).to_have_value(model)
    options = picker.locator("option").evaluate_all("os => os.map(o => o.value)")
    listed = [m["id"] for m in json.load(urllib.request.urlopen(base + "/v1/models"))["data"]]
    check(options == listed and options[0] == model,
          f"the model picker lists what /v1/models returns, the served model first: {options}")
    expect(page.locator(".ctx")).to_contain_text("/ 4,096")
    check(True, "the model's context (4,096) is shown")

    # ---- settings ----
    open_settings(page, True)
    set_setting(page, "Temperature", 0)
    set_setting(page, "Max tokens", 40)
    set_setting(page, "Seed", 7)
    unnamed = page.evaluate("""() => [...document.querySelectorAll('button, input, select, textarea')]
        .filter(e => !(e.hidden || e.type === 'hidden'))
        .filter(e => !(e.getAttribute('aria-label') || (e.labels && e.labels.length) || e.textContent.trim()))
        .map(e => e.outerHTML.slice(0, 80))""")
    check(not unnamed, f"every control has an accessible name {unnamed}")
    open_settings(page, False)
    page.get_by_role("button", name="New chat").focus()
    page.keyboard.press("Tab")
    check(page.evaluate("document.activeElement.getAttribute('aria-label')") == "Search conversations",
          "focus order follows the layout (New chat → Search)")

    # ---- a streamed answer ----
    record_stream(page)
    with page.expect_request("**/v1/chat/completions") as req:
        send(page, "Give three tips for learning Rust.")
    body = json.loads(req.value.post_data)
    check(body["stream"] is True and body["stream_options"] == {"include_usage": True}
          and body["max_tokens"] == 40 and body["temperature"] == 0 and body["seed"] == 7,
          "the request carries the conversation's settings and asks for usage")
    a = wait_done(page)
    expect(a).to_have_attribute("data-state", "done")
    first_answer = a.locator(".md").inner_text()
    frames = page.evaluate("window.__frames")
    partial = sorted({n for s, n in frames if s == "streaming" and n > 0})
    check(len(first_answer) > 0 and len(partial) >= 2,
          f"answer streamed ({len(partial)} partial renders) and completed: {first_answer[:60]!r}")
    stats = a.locator('[data-testid="stats"]').inner_text()
    check("tok/s" in stats and "TTFT" in stats and "tokens" in stats, f"tokens/s and TTFT shown: {stats!r}")
    ctx_text = page.locator(".ctx").inner_text()
    check(re.search(r"[1-9][\d,]* / 4,096", ctx_text) is not None, f"context used shown: {ctx_text!r}")
    expect(page.locator('[data-role="user"]').first).to_contain_text("Give three tips for learning Rust.")
    shot(page, outdir, "web-chat.png")

    # ---- regenerate: a second version, both kept ----
    a.get_by_role("button", name="Regenerate").click()
    a = wait_done(page)
    expect(a.locator(".branches")).to_contain_text("2 / 2")
    a.get_by_role("button", name="Previous version").click()
    expect(last_answer(page).locator(".branches")).to_contain_text("1 / 2")
    # to_have_text waits: the switched-to version renders a moment after its counter does.
    expect(last_answer(page).locator(".md")).to_have_text(first_answer)
    check(True, "regenerate made version 2 / 2; version 1 is still there")
    last_answer(page).get_by_role("button", name="Next version").click()
    expect(last_answer(page).locator(".branches")).to_contain_text("2 / 2")

    # ---- stop mid-answer (button), then Esc ----
    open_settings(page, True)
    set_setting(page, "Max tokens", 400)
    set_setting(page, "Temperature", 0.8)
    open_settings(page, False)
    send(page, "Tell me a long story about a dragon who learns to cook.")
    a = stop_midway(page, lambda: page.get_by_role("button", name="Stop", exact=True).click())
    expect(a).to_have_attribute("data-state", "done")
    n1 = len(a.locator(".md").inner_text())
    time.sleep(1.0)
    n2 = len(a.locator(".md").inner_text())
    check(n1 == n2 and n1 > 0, f"Stop ended the answer mid-way ({n1} characters, no more after)")
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()

    a.get_by_role("button", name="Regenerate").click()
    stop_midway(page, lambda: page.keyboard.press("Escape"))
    check(True, "Esc stops an answer too")

    # ---- edit and resend the first message; the old branch stays ----
    open_settings(page, True)
    set_setting(page, "Max tokens", 24)
    set_setting(page, "Temperature", 0)
    open_settings(page, False)
    first_user = page.locator('[data-role="user"]').first
    first_user.get_by_role("button", name="Edit").click()
    editor = page.get_by_label("Edit message", exact=True)
    expect(editor).to_have_value("Give three tips for learning Rust.")
    editor.fill("Give three tips for learning Go.")
    page.get_by_role("button", name="Save and send").click()
    wait_done(page)
    users = page.locator('[data-role="user"]')
    expect(users).to_have_count(1)
    expect(users.first).to_contain_text("learning Go")
    expect(users.first.locator(".branches")).to_contain_text("2 / 2")
    users.first.get_by_role("button", name="Previous version").click()
    expect(page.locator('[data-role="user"]')).to_have_count(2)
    expect(page.locator('[data-role="user"]').first).to_contain_text("learning Rust")
    page.locator('[data-role="user"]').first.get_by_role("button", name="Next version").click()
    expect(page.locator('[data-role="user"]')).to_have_count(1)
    check(True, "edit-and-resend branched from the first message; the old branch is still reachable")

    # ---- ↑ edits the last message; Esc cancels ----
    page.get_by_label("Message", exact=True).click()
    page.get_by_label("Message", exact=True).press("ArrowUp")
    expect(page.get_by_label("Edit message", exact=True)).to_have_value("Give three tips for learning Go.")
    page.get_by_label("Edit message", exact=True).press("Escape")
    expect(page.get_by_label("Edit message", exact=True)).to_have_count(0)
    check(True, "↑ in the empty message box edits the last message; Esc cancels")

    # ---- attachments are inlined with their names ----
    page.get_by_label("Files to attach").set_input_files(
        {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"The secret word is PINEAPPLE.\n"})
    expect(page.locator(".composer .chip")).to_contain_text("notes.txt")
    with page.expect_request("**/v1/chat/completions") as req:
        send(page, "What is the secret word in the file?")
    sent = json.loads(req.value.post_data)["messages"][-1]["content"]
    check("File: notes.txt" in sent and "PINEAPPLE" in sent, "the attached file is inlined with its name")
    wait_done(page)
    expect(page.locator('[data-role="user"]').last.locator(".chip")).to_contain_text("notes.txt")

    # ---- Shift+Enter is a new line ----
    box = page.get_by_label("Message", exact=True)
    box.fill("line one")
    box.press("Shift+Enter")
    box.type("line two")
    expect(box).to_have_value("line one\nline two")
    box.fill("")
    check(True, "Shift+Enter adds a new line instead of sending")

    # ---- reload keeps the conversation ----
    n_msgs = page.locator("[data-role]").count()
    page.reload()
    expect(page.locator(".conv-list li").first).to_contain_text("Give three tips for learning Rust.")
    expect(page.locator("[data-role]")).to_have_count(n_msgs)
    expect(page.locator('[data-role="user"]').first).to_contain_text("learning Go")
    check(page.locator('[data-role="assistant"][data-state="done"]').count() == n_msgs // 2,
          f"after a reload the conversation is back ({n_msgs} messages, same branch)")

    # ---- sidebar: search, rename, export, delete, import ----
    page.get_by_role("button", name="New chat").click()
    expect(page.locator("[data-role]")).to_have_count(0)
    send(page, "Say hi.")
    wait_done(page)
    expect(page.locator(".conv-list li")).to_have_count(2)
    page.get_by_label("Search conversations").fill("PINEAPPLE")
    expect(page.locator(".conv-list li")).to_have_count(1)
    page.get_by_label("Search conversations").fill("")
    row = page.locator(".conv-list li", has_text="Give three tips for learning Rust")
    row.get_by_role("button", name="Rename").click()
    page.get_by_label("Conversation title").fill("Rust and Go")
    page.get_by_label("Conversation title").press("Enter")
    expect(page.locator(".conv-list li", has_text="Rust and Go")).to_have_count(1)
    with page.expect_download() as dl:
        page.get_by_role("button", name="Export").click()
    exported = dl.value.path()
    data = json.load(open(exported))
    check(data["format"] == "nomoat-chat" and len(data["conversations"]) == 2
          and any(c["title"] == "Rust and Go" for c in data["conversations"]),
          "search filters; rename sticks; export writes both conversations as JSON")
    row = page.locator(".conv-list li", has_text="Rust and Go")
    row.get_by_role("button", name="Delete").click()
    row.get_by_role("button", name="Confirm delete").click()
    expect(page.locator(".conv-list li")).to_have_count(1)
    page.reload()
    expect(page.locator(".conv-list li")).to_have_count(1)
    page.get_by_label("Import conversations").set_input_files(exported)
    expect(page.locator(".conv-list li")).to_have_count(2)
    page.locator(".conv-list li", has_text="Rust and Go").locator("button.conv").click()
    expect(page.locator("[data-role]")).to_have_count(n_msgs)
    check(True, "delete removes it (also after a reload); import brings it back with its messages")

    # ---- JSON mode is enforced by the server's grammar ----
    page.get_by_role("button", name="New chat").click()
    open_settings(page, True)
    page.get_by_label("JSON mode").check()
    open_settings(page, False)
    send(page, "Give me JSON.")
    a = wait_done(page)
    expect(a).to_have_attribute("data-state", "done")
    answer = a.locator(".content").inner_text() if a.locator(".content").count() else a.inner_text()
    check("{" in answer, f"JSON mode answers JSON: {answer[:60]!r}")
    open_settings(page, True)
    page.get_by_label("JSON mode").uncheck()

    # ---- refusals show the server's words ----
    set_setting(page, "Max tokens", 100000)
    open_settings(page, False)
    con.allowed = {400}
    send(page, "Too long an answer.")
    a = wait_done(page)
    expect(a).to_have_attribute("data-state", "error")
    err = a.get_by_role("alert").inner_text()
    check("(400)" in err and "context" in err, f"a 400 shows the server's message: {err[:120]!r}")
    open_settings(page, True)
    set_setting(page, "Max tokens", 24)
    open_settings(page, False)

    page.route("**/v1/chat/completions", lambda route: route.fulfill(
        status=503, headers={"Retry-After": "3", "Content-Type": "application/json"},
        body=json.dumps({"error": {"message": "Server busy: 4 requests running, 16 waiting",
                                   "type": "unavailable_error", "param": None, "code": None}})))
    con.allowed = {400, 503}
    a.get_by_role("button", name="Regenerate").click()
    a = wait_done(page)
    err = a.get_by_role("alert").inner_text()
    check("(503)" in err and "Server busy" in err and "Retry after 3 s" in err,
          f"a 503 shows the server's message and Retry-After: {err[:120]!r}")
    page.unroute("**/v1/chat/completions")
    con.allowed = set()

    # ---- a second model (faked by route): picker, state, reasoning, tool cards, Markdown, XSS ----
    def models_route(route):
        route.fulfill(status=200, content_type="application/json", body=json.dumps({"object": "list", "data": [
            {"id": model, "object": "model", "created": 0, "owned_by": "nomoat", "meta": {"n_ctx": 4096}},
            {"id": "fake-reasoner", "object": "model", "created": 0, "owned_by": "nomoat",
             "meta": {"n_ctx": 32768}, "status": {"value": "loaded"}}]}))

    def chat_route(route):
        if json.loads(route.request.post_data).get("model") == "fake-reasoner":
            route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=fake_stream("fake-reasoner"))
        else:
            route.continue_()

    page.route("**/v1/models", models_route)
    page.route("**/v1/chat/completions", chat_route)
    page.reload()
    page.get_by_role("button", name="New chat").click()
    picker = page.get_by_label("Model", exact=True)
    expect(picker.locator("option")).to_have_count(2)
    picker.select_option("fake-reasoner")
    expect(page.locator(".ctx")).to_contain_text("/ 32,768")
    with page.expect_request("**/v1/chat/completions") as req:
        send(page, "Show me everything you can render.")
    check(json.loads(req.value.post_data)["model"] == "fake-reasoner", "the picked model is the one asked for")
    a = wait_done(page)
    expect(a).to_have_attribute("data-state", "done")
    expect(a.locator("details.reasoning")).to_contain_text("a demo of every block")
    expect(a.locator(".tool-call")).to_contain_text("get_weather")
    expect(a.locator(".tool-call pre")).to_contain_text('"city": "Paris"')
    expect(a.locator(".md .code .hljs-keyword").first).to_have_text("def")
    expect(a.get_by_role("button", name="Copy code")).to_have_count(1)
    expect(a.locator(".md table td")).to_have_count(4)
    expect(a.locator(".md math")).to_have_count(2)
    check(page.evaluate("window.__xss") is None and a.locator(".md img").count() == 0
          and a.locator(".md script").count() == 0
          and a.locator('.md a[href^="javascript"]').count() == 0,
          "reasoning block, tool-call card, highlighted code, table and math render; the XSS attempts are inert")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    a.get_by_role("button", name="Copy code").click()
    expect(a.get_by_role("button", name="Copy code")).to_have_text("Copied")
    clip = page.evaluate("navigator.clipboard.readText()")
    check(clip.startswith("def add(a, b):"), "the copy button copies the code")
    picker.select_option(model)
    expect(picker).to_have_value(model)
    page.locator(".conv-list li", has_text="Rust and Go").locator("button.conv").click()
    expect(picker).to_have_value(model)
    page.locator(".conv-list li", has_text="Show me everything").locator("button.conv").click()
    picker.select_option("fake-reasoner")
    page.emulate_media(color_scheme="dark")
    shot(page, outdir, "web-markdown-dark.png")
    page.emulate_media(color_scheme="light")
    check(True, "switching models: each conversation keeps its own model")
    con.assert_clean()
    ctx.close()


def keyed_flow(browser, base, model, outdir):
    ctx = browser.new_context(viewport={"width": 1100, "height": 720}, color_scheme="light")
    page = ctx.new_page()
    con = Console(page, "keyed server")
    con.allowed = {401}
    first = page.goto(base + "/")
    check(first.status == 200, "the page itself loads without the key")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    shot(page, outdir, "web-api-key.png")
    page.get_by_label("API key", exact=True).fill("wrong-key")
    page.get_by_role("button", name="Save key").click()
    expect(dialog).to_be_visible()
    page.get_by_label("API key", exact=True).fill(KEY)
    with page.expect_response("**/v1/models") as r:
        page.get_by_role("button", name="Save key").click()
    check(r.value.status == 200 and r.value.request.headers.get("authorization") == f"Bearer {KEY}",
          "a 401 asks for the key; a wrong key asks again; the right one is sent as a Bearer token")
    expect(page.get_by_label("Model", exact=True)).to_have_value(model)
    open_settings(page, True)
    set_setting(page, "Max tokens", 12)
    open_settings(page, False)
    send(page, "Hello!")
    expect(wait_done(page)).to_have_attribute("data-state", "done")
    page.reload()
    expect(page.get_by_label("Model", exact=True)).to_have_value(model)
    check(not page.get_by_role("dialog").is_visible(), "with the key kept in the browser, chat works and a reload asks nothing")
    con.assert_clean()
    ctx.close()


def mobile_flow(browser, base, model, outdir):
    ctx = browser.new_context(viewport={"width": 375, "height": 740}, device_scale_factor=2, is_mobile=True,
                              has_touch=True, color_scheme="dark", reduced_motion="reduce")
    page = ctx.new_page()
    con = Console(page, "mobile")
    page.goto(base + "/")
    expect(page.get_by_label("Model", exact=True)).to_have_value(model)
    sidebar = page.get_by_role("complementary", name="Conversations")
    expect(sidebar).to_be_hidden()
    open_settings(page, True)
    set_setting(page, "Max tokens", 40)
    set_setting(page, "Temperature", 0)
    open_settings(page, False)
    send(page, "Give three tips for learning Rust, as a list.")
    expect(wait_done(page)).to_have_attribute("data-state", "done")
    width = page.evaluate("document.documentElement.scrollWidth")
    check(width <= 375, f"nothing overflows a 375 px viewport (scrollWidth {width})")
    for name in ["Message", "Model"]:
        box = page.get_by_label(name, exact=True).bounding_box()
        check(box["x"] >= 0 and box["x"] + box["width"] <= 375, f"{name} fits on screen")
    send_btn = page.get_by_role("button", name="Send", exact=True).bounding_box()
    check(send_btn["x"] + send_btn["width"] <= 375, "Send fits on screen")
    bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    rgb = [int(x) for x in re.findall(r"\d+", bg)[:3]]
    check(sum(rgb) < 150, f"the dark theme follows the system (background {bg})")
    anim = page.evaluate("getComputedStyle(document.querySelector('.sidebar')).transitionDuration")
    check(anim in ("0s", "1e-06s"), f"prefers-reduced-motion turns transitions off ({anim})")
    shot(page, outdir, "web-mobile-dark.png")
    page.get_by_role("button", name="Conversations").click()
    expect(sidebar).to_be_visible()
    expect(sidebar.locator(".conv-list li")).to_have_count(1)
    page.keyboard.press("Escape")
    expect(sidebar).to_be_hidden()
    check(True, "on a phone the conversation list is a drawer (menu button opens it, Esc closes it)")
    con.assert_clean()
    ctx.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary", nargs="?", default=os.path.join(ROOT, "target", "debug", "nomoat"))
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--screenshots", default=None)
    args = ap.parse_args()
    model = args.model
    t0 = time.time()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            proc, base = start_server(args.binary, model)
            try:
                main_flow(browser, base, model, args.screenshots)
                mobile_flow(browser, base, model, args.screenshots)
            finally:
                stop_server(proc)
            proc, base = start_server(args.binary, model, api_key=KEY)
            try:
                keyed_flow(browser, base, model, args.screenshots)
            finally:
                stop_server(proc)
        finally:
            browser.close()
    print(f"web UI test passed in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
