// The chat page of `nomoat serve`. Preact; state is a few mutable conversation objects plus a
// render counter (the stream mutates the answer in place and asks for a render).

import { render } from "preact";
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "preact/hooks";
import "./style.css";
import { apiFetch, listModels, onUnauthorized, RequestError, setKey, getKey, streamChat, type ModelInfo, type Usage } from "./api";
import { copyWithFeedback, enhance, renderMarkdown } from "./markdown";
import {
  branch, children, exportJson, lastSettings, loadAll, newConversation, newestLeaf, newId, parseImport,
  rememberSettings, remove, save, titleFrom,
  type Attachment, type Conversation, type Message, type Settings,
} from "./store";

const MAX_ATTACHMENT = 1 << 20;
/** On a phone, focusing the message box on load would pop the keyboard up over the page. */
const wide = window.matchMedia("(min-width: 761px)").matches;

function fence(text: string): string {
  const runs = text.match(/`{3,}/g) ?? [];
  const longest = runs.reduce((n, r) => Math.max(n, r.length), 2);
  return "`".repeat(longest + 1);
}

function extOf(name: string): string {
  const m = /\.([A-Za-z0-9+_-]{1,12})$/.exec(name);
  return m ? m[1].toLowerCase() : "";
}

/** The text the model sees for a user message: its words, then each attached file by name. */
export function userContent(m: Pick<Message, "content" | "attachments">): string {
  const files = (m.attachments ?? []).map((a) => {
    const f = fence(a.text);
    return `File: ${a.name}\n${f}${extOf(a.name)}\n${a.text}${a.text.endsWith("\n") ? "" : "\n"}${f}`;
  });
  return [m.content, ...files].filter((s) => s.length > 0).join("\n\n");
}

function apiMessages(c: Conversation, path: Message[]): object[] {
  const out: object[] = [];
  if (c.settings.system.trim()) out.push({ role: "system", content: c.settings.system });
  for (const m of path) {
    if (m.role === "user") out.push({ role: "user", content: userContent(m) });
    else if (m.role === "assistant") {
      const o: Record<string, unknown> = { role: "assistant", content: m.content };
      if (m.toolCalls?.length) {
        o.tool_calls = m.toolCalls.map((t) => ({ id: t.id, type: "function", function: { name: t.name, arguments: t.arguments } }));
      }
      out.push(o);
    } else if (m.role === "tool") out.push({ role: "tool", content: m.content, tool_call_id: m.toolCallId ?? "" });
    else out.push({ role: m.role, content: m.content });
  }
  return out;
}

function fmt(n: number): string {
  return n.toLocaleString("en-US");
}


// Icons (inline SVG: no icon font, no emoji font needed).
const ICONS: Record<string, string> = {
  attach: "M21 11.5l-8.6 8.6a5.5 5.5 0 0 1-7.8-7.8l8.6-8.6a3.7 3.7 0 0 1 5.2 5.2l-8.6 8.6a1.8 1.8 0 0 1-2.6-2.6l8-8",
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 13h10l1-13M9 7V4h6v3",
  pencil: "M4 20h4L19 9l-4-4L4 16v4zM14 6l4 4",
  menu: "M4 6h16M4 12h16M4 18h16",
  send: "M12 19V5M5 12l7-7 7 7",
};

function Icon({ name }: { name: keyof typeof ICONS }) {
  return (
    <svg class="icon" viewBox="0 0 24 24" width="18" height="18" aria-hidden="true" focusable="false"
      fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
      <path d={ICONS[name]} />
    </svg>
  );
}

function StopIcon() {
  return (
    <svg class="icon" viewBox="0 0 24 24" width="16" height="16" aria-hidden="true" focusable="false">
      <rect x="5" y="5" width="14" height="14" rx="2" fill="currentColor" />
    </svg>
  );
}

// ---------------------------------------------------------------------------------------------

function Markdown({ text, streaming }: { text: string; streaming: boolean }) {
  const ref = useRef<HTMLDivElement>(null);
  const shown = useRef<string | null>(null);
  const latest = useRef(text);
  const frame = useRef(0);
  latest.current = text;
  useEffect(() => {
    // While streaming, at most one parse per frame, of the newest text.
    const paint = () => {
      frame.current = 0;
      const el = ref.current;
      const t = latest.current;
      if (!el || shown.current === t) return;
      shown.current = t;
      el.innerHTML = renderMarkdown(t);
      enhance(el);
    };
    if (!streaming) {
      if (frame.current) cancelAnimationFrame(frame.current);
      paint();
    } else if (!frame.current) frame.current = requestAnimationFrame(paint);
  }, [text, streaming]);
  useEffect(() => () => {
    if (frame.current) cancelAnimationFrame(frame.current);
  }, []);
  return <div class="md" ref={ref} />;
}

function CopyButton({ text, label = "Copy" }: { text: () => string; label?: string }) {
  return (
    <button type="button" class="act" aria-label={label} title={label}
      onClick={(e) => void copyWithFeedback(e.currentTarget as HTMLElement, text())}>Copy</button>
  );
}

interface MsgProps {
  conv: Conversation;
  m: Message;
  busy: boolean;
  editing: boolean;
  onEdit: (id: string | null) => void;
  onResend: (m: Message, text: string) => void;
  onRegenerate: (m: Message) => void;
  onSwitch: (id: string) => void;
}

function MessageView({ conv, m, busy, editing, onEdit, onResend, onRegenerate, onSwitch }: MsgProps) {
  const siblings = children(conv, m.parent).filter((s) => s.role === m.role);
  const idx = siblings.findIndex((s) => s.id === m.id);
  const streaming = m.state === "streaming";
  const who = m.role === "user" ? "You" : m.role === "assistant" ? (m.model || "Assistant") : m.role === "tool" ? "Tool result" : "System";
  const s = m.stats;
  return (
    <article class={`msg msg-${m.role}`} data-role={m.role} data-state={m.state} data-finish={m.finish ?? undefined}
      data-id={m.id} aria-busy={streaming ? "true" : undefined} aria-label={who}>
      <div class="who">{who}</div>
      {m.reasoning ? (
        <details class="reasoning" open={streaming && !m.content}>
          <summary>Reasoning</summary>
          <Markdown text={m.reasoning} streaming={streaming} />
        </details>
      ) : null}
      {editing ? (
        <Editor initial={m.content} onCancel={() => onEdit(null)} onSend={(t) => onResend(m, t)} />
      ) : m.role === "user" ? (
        <div class="user-text">
          {m.content}
          {m.attachments?.length ? (
            <ul class="chips" aria-label="Attached files">
              {m.attachments.map((a) => <li class="chip">{a.name}</li>)}
            </ul>
          ) : null}
        </div>
      ) : m.role === "tool" ? (
        <div class="card tool-result">
          <div class="card-head">Result{m.toolCallId ? ` of ${m.toolCallId}` : ""}</div>
          <pre>{m.content}</pre>
        </div>
      ) : (
        <div class="answer">
          <Markdown text={m.content} streaming={streaming} />
          {streaming ? <span class="caret" aria-hidden="true" /> : null}
        </div>
      )}
      {m.toolCalls?.map((t) => (
        <div class="card tool-call" data-tool={t.name}>
          <div class="card-head">Tool call <code>{t.name || "…"}</code>{t.id ? <span class="muted"> {t.id}</span> : null}</div>
          <pre>{prettyJson(t.arguments)}</pre>
        </div>
      ))}
      {m.state === "error" ? <p class="error" role="alert">{m.error}</p> : null}
      {!editing ? (
        <div class="actions">
          {siblings.length > 1 ? (
            <span class="branches">
              <button type="button" class="act" aria-label="Previous version" disabled={busy || idx <= 0}
                onClick={() => onSwitch(siblings[idx - 1].id)}>‹</button>
              <span aria-label={`version ${idx + 1} of ${siblings.length}`}>{idx + 1} / {siblings.length}</span>
              <button type="button" class="act" aria-label="Next version" disabled={busy || idx >= siblings.length - 1}
                onClick={() => onSwitch(siblings[idx + 1].id)}>›</button>
            </span>
          ) : null}
          {!streaming ? <CopyButton text={() => (m.role === "user" ? userContent(m) : m.content)} label="Copy message" /> : null}
          {m.role === "user" ? (
            <button type="button" class="act" aria-label="Edit" disabled={busy} onClick={() => onEdit(m.id)}>Edit</button>
          ) : null}
          {m.role === "assistant" && !streaming ? (
            <button type="button" class="act" aria-label="Regenerate" disabled={busy} onClick={() => onRegenerate(m)}>Regenerate</button>
          ) : null}
          {m.finish === "stopped" ? <span class="muted">stopped</span> : null}
          {m.finish === "length" ? <span class="muted">cut at max tokens</span> : null}
          {m.finish === "interrupted" ? <span class="muted">interrupted</span> : null}
          {s && m.role === "assistant" ? (
            <span class="stats" data-testid="stats">
              {s.tokensPerSecond !== null ? <span>{s.tokensPerSecond.toFixed(1)} tok/s</span> : null}
              {s.ttftMs !== null ? <span>TTFT {(s.ttftMs / 1000).toFixed(2)} s</span> : null}
              {s.completionTokens !== null ? <span>{fmt(s.completionTokens)} tokens</span> : null}
              {s.cachedTokens ? <span>{fmt(s.cachedTokens)} cached</span> : null}
            </span>
          ) : null}
        </div>
      ) : null}
    </article>
  );
}

function prettyJson(s: string): string {
  try {
    return JSON.stringify(JSON.parse(s), null, 2);
  } catch {
    return s;
  }
}

function Editor({ initial, onCancel, onSend }: { initial: string; onCancel: () => void; onSend: (t: string) => void }) {
  const [text, setText] = useState(initial);
  const ref = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (el) {
      el.focus();
      el.setSelectionRange(el.value.length, el.value.length);
    }
  }, []);
  return (
    <form class="editor" onSubmit={(e) => {
      e.preventDefault();
      if (text.trim()) onSend(text);
    }}>
      <textarea ref={ref} aria-label="Edit message" value={text} rows={Math.min(12, text.split("\n").length + 1)}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
            e.preventDefault();
            if (text.trim()) onSend(text);
          } else if (e.key === "Escape") {
            e.preventDefault();
            e.stopPropagation();
            onCancel();
          }
        }} />
      <div class="editor-actions">
        <button type="button" class="btn" onClick={onCancel}>Cancel</button>
        <button type="submit" class="btn primary" disabled={!text.trim()}>Save and send</button>
      </div>
    </form>
  );
}

// ---------------------------------------------------------------------------------------------

function SettingsPanel({ s, onChange }: { s: Settings; onChange: (p: Partial<Settings>) => void }) {
  const num = (v: string): number | null => (v.trim() === "" ? null : Number(v));
  return (
    <section class="settings" aria-label="Conversation settings">
      <label class="wide">System prompt
        <textarea rows={3} value={s.system} placeholder="You are a helpful assistant."
          onInput={(e) => onChange({ system: e.currentTarget.value })} />
      </label>
      <label>Temperature
        <input type="number" min={0} max={2} step={0.05} value={s.temperature}
          onInput={(e) => { const v = num(e.currentTarget.value); if (v !== null && v >= 0 && v <= 2) onChange({ temperature: v }); }} />
      </label>
      <label>Top-p
        <input type="number" min={0} max={1} step={0.01} value={s.topP}
          onInput={(e) => { const v = num(e.currentTarget.value); if (v !== null && v >= 0 && v <= 1) onChange({ topP: v }); }} />
      </label>
      <label>Max tokens
        <input type="number" min={1} step={1} value={s.maxTokens ?? ""} placeholder="rest of context"
          onInput={(e) => { const v = num(e.currentTarget.value); onChange({ maxTokens: v !== null && v >= 1 ? Math.floor(v) : null }); }} />
      </label>
      <label>Seed
        <input type="number" step={1} value={s.seed ?? ""} placeholder="random"
          onInput={(e) => { const v = num(e.currentTarget.value); onChange({ seed: v !== null && Number.isFinite(v) ? Math.floor(v) : null }); }} />
      </label>
      <label class="check">
        <input type="checkbox" checked={s.json} onChange={(e) => onChange({ json: e.currentTarget.checked })} />
        JSON mode <span class="muted">(response_format json_object)</span>
      </label>
    </section>
  );
}

function KeyDialog({ open, rejected, onDone }: { open: boolean; rejected: boolean; onDone: (k: string | null) => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  const [key, setKeyText] = useState("");
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) {
      setKeyText("");
      d.showModal();
    } else if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} class="key-dialog" aria-labelledby="key-title"
      onCancel={(e) => { e.preventDefault(); onDone(null); }}>
      <form method="dialog" onSubmit={(e) => { e.preventDefault(); if (key.trim()) onDone(key.trim()); }}>
        <h2 id="key-title">This server needs an API key</h2>
        <p>It was started with <code>--api-key</code>. The key is kept in this browser.</p>
        {rejected ? <p class="error" role="alert">The server did not accept the key you entered.</p> : null}
        <input type="password" aria-label="API key" autocomplete="current-password" value={key}
          onInput={(e) => setKeyText(e.currentTarget.value)} autofocus />
        <div class="editor-actions">
          <button type="button" class="btn" onClick={() => onDone(null)}>Cancel</button>
          <button type="submit" class="btn primary" disabled={!key.trim()}>Save key</button>
        </div>
      </form>
    </dialog>
  );
}

// ---------------------------------------------------------------------------------------------

function App() {
  const [, setTick] = useState(0);
  const bump = () => setTick((t) => t + 1);
  const convs = useRef<Conversation[]>([]);
  const [current, setCurrent] = useState<Conversation>(() => newConversation(lastSettings()));
  const [loaded, setLoaded] = useState(false);
  const [models, setModels] = useState<ModelInfo[] | null>(null);
  const [modelsError, setModelsError] = useState<string | null>(null);
  const [generating, setGenerating] = useState<string | null>(null);
  const [editing, setEditing] = useState<string | null>(null);
  const [draft, setDraft] = useState("");
  const [attachments, setAttachments] = useState<Attachment[]>([]);
  const [query, setQuery] = useState("");
  const [renaming, setRenaming] = useState<string | null>(null);
  const [confirmDelete, setConfirmDelete] = useState<string | null>(null);
  const [sidebar, setSidebar] = useState(false);
  const [showSettings, setShowSettings] = useState(false);
  const [keyAsk, setKeyAsk] = useState<((k: string | null) => void) | null>(null);
  const [keyRejected, setKeyRejected] = useState(false);
  const [notice, setNotice] = useState("");
  const [dragging, setDragging] = useState(false);
  const abort = useRef<AbortController | null>(null);
  const composer = useRef<HTMLTextAreaElement>(null);
  const scroller = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const importInput = useRef<HTMLInputElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);

  const say = (t: string) => {
    setNotice(t);
    window.setTimeout(() => setNotice((n) => (n === t ? "" : n)), 4000);
  };

  // A 401 anywhere asks for the key (one dialog at a time).
  const pendingKey = useRef<Promise<string | null> | null>(null);
  useEffect(() => {
    onUnauthorized(() => {
      setKeyRejected(getKey() !== null);
      pendingKey.current ??= new Promise<string | null>((resolve) => {
        setKeyAsk(() => (k: string | null) => {
          setKeyAsk(null);
          pendingKey.current = null;
          resolve(k);
        });
      });
      return pendingKey.current;
    });
  }, []);

  const fetchModels = async () => {
    try {
      const ms = await listModels();
      setModels(ms);
      setModelsError(null);
    } catch (e) {
      const err = e as RequestError;
      setModelsError(err instanceof RequestError ? err.describe() : String(e));
      // Loading (503) or unreachable: try again shortly.
      if (!(err instanceof RequestError) || err.status === 503 || err.status === 0) window.setTimeout(fetchModels, 2000);
    }
  };

  useEffect(() => {
    loadAll().then(
      (all) => {
        convs.current = all;
        if (all.length) setCurrent(all[0]);
        setLoaded(true);
      },
      (e) => {
        say(`Conversations cannot be stored in this browser: ${e}`);
        setLoaded(true);
      },
    );
    void fetchModels();
  }, []);

  const conv = current;
  const path = branch(conv);
  // The conversation's model; a new conversation whose remembered model is not served any more
  // takes the first one served.
  const served = (id: string) => models?.some((m) => m.id === id) ?? true;
  const modelId = conv.settings.model && (served(conv.settings.model) || path.length)
    ? conv.settings.model : models?.[0]?.id || "";
  const modelInfo = models?.find((m) => m.id === modelId) ?? null;
  const lastStats = [...path].reverse().find((m) => m.role === "assistant" && m.stats?.totalTokens)?.stats;

  const persist = (c: Conversation) => {
    c.updated = Date.now();
    if (!convs.current.includes(c)) convs.current.unshift(c);
    convs.current.sort((a, b) => b.updated - a.updated);
    save(c).catch((e) => say(`Saving failed: ${e}`));
  };

  const updateSettings = (p: Partial<Settings>) => {
    conv.settings = { ...conv.settings, ...p };
    rememberSettings(conv.settings);
    if (Object.keys(conv.messages).length) save(conv).catch(() => {});
    bump();
  };

  // ---- generation ----

  const generate = async (c: Conversation, answer: Message) => {
    const upTo = branch(c).filter((m) => m.id !== answer.id);
    const s = c.settings;
    const body: Record<string, unknown> = {
      model: answer.model || undefined,
      messages: apiMessages(c, upTo),
      stream: true,
      stream_options: { include_usage: true },
      temperature: s.temperature,
      top_p: s.topP,
    };
    if (s.maxTokens) body.max_tokens = s.maxTokens;
    if (s.seed !== null) body.seed = s.seed;
    if (s.json) body.response_format = { type: "json_object" };
    const ctrl = new AbortController();
    abort.current = ctrl;
    setGenerating(answer.id);
    stick.current = true;
    const t0 = performance.now();
    let tFirst: number | null = null;
    let pieces = 0;
    let usage: Usage | null = null;
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    let saved = performance.now();
    try {
      for await (const ch of streamChat(body, ctrl.signal)) {
        // Keep what has arrived if the page closes mid-answer.
        if (performance.now() - saved > 2000) {
          saved = performance.now();
          save(c).catch(() => {});
        }
        if (ch.content || ch.reasoning || ch.toolCalls) {
          tFirst ??= performance.now();
          pieces++;
        }
        if (ch.content) answer.content += ch.content;
        if (ch.reasoning) answer.reasoning = (answer.reasoning ?? "") + ch.reasoning;
        if (ch.toolCalls) {
          for (const d of ch.toolCalls) {
            const i = d.index ?? 0;
            const t = calls.get(i) ?? { id: "", name: "", arguments: "" };
            if (d.id) t.id = d.id;
            if (d.function?.name) t.name += d.function.name;
            if (d.function?.arguments) t.arguments += d.function.arguments;
            calls.set(i, t);
          }
          answer.toolCalls = [...calls.entries()].sort((a, b) => a[0] - b[0]).map(([, t]) => ({ ...t }));
        }
        if (ch.finish) answer.finish = ch.finish;
        if (ch.usage) usage = ch.usage;
        bump();
      }
      answer.state = "done";
      answer.finish ??= "stop";
    } catch (e) {
      if (ctrl.signal.aborted) {
        answer.state = "done";
        answer.finish = "stopped";
      } else {
        answer.state = "error";
        answer.finish = "error";
        answer.error = e instanceof RequestError ? e.describe() : `Request failed: ${(e as Error).message ?? e}`;
      }
    }
    const tEnd = performance.now();
    const n = usage?.completion_tokens ?? pieces;
    answer.stats = {
      ttftMs: tFirst !== null ? tFirst - t0 : null,
      tokensPerSecond: tFirst !== null && n > 1 && tEnd > tFirst ? ((n - 1) * 1000) / (tEnd - tFirst) : null,
      completionTokens: usage?.completion_tokens ?? (pieces || null),
      promptTokens: usage?.prompt_tokens ?? null,
      cachedTokens: usage?.prompt_tokens_details?.cached_tokens ?? null,
      totalTokens: usage?.total_tokens ?? null,
    };
    if (abort.current === ctrl) abort.current = null;
    setGenerating(null);
    persist(c);
    bump();
  };

  const stop = () => abort.current?.abort();

  const addAnswer = (c: Conversation, parent: string): Message => {
    const a: Message = {
      id: newId(), parent, role: "assistant", content: "", created: Date.now(), state: "streaming",
      model: modelId,
    };
    c.messages[a.id] = a;
    c.leaf = a.id;
    return a;
  };

  const send = () => {
    const text = draft.trim();
    if ((!text && !attachments.length) || generating) return;
    const c = conv;
    const u: Message = {
      id: newId(), parent: c.leaf, role: "user", content: text, created: Date.now(), state: "done",
      attachments: attachments.length ? attachments : undefined,
    };
    c.messages[u.id] = u;
    if (c.title === "New chat") c.title = titleFrom(text || attachments[0]?.name || "");
    if (modelId && c.settings.model !== modelId) c.settings = { ...c.settings, model: modelId };
    const a = addAnswer(c, u.id);
    setDraft("");
    setAttachments([]);
    persist(c);
    void generate(c, a);
  };

  const resend = (m: Message, text: string) => {
    if (generating) return;
    const c = conv;
    const u: Message = { ...m, id: newId(), content: text, created: Date.now(), state: "done" };
    c.messages[u.id] = u;
    const a = addAnswer(c, u.id);
    setEditing(null);
    persist(c);
    void generate(c, a);
    composer.current?.focus();
  };

  const regenerate = (m: Message) => {
    if (generating || !m.parent) return;
    const a = addAnswer(conv, m.parent);
    persist(conv);
    void generate(conv, a);
  };

  const switchTo = (id: string) => {
    conv.leaf = newestLeaf(conv, id);
    save(conv).catch(() => {});
    bump();
  };

  // ---- conversations ----

  const open = (c: Conversation) => {
    if (generating) stop();
    setCurrent(c);
    setEditing(null);
    setSidebar(false);
    setConfirmDelete(null);
    stick.current = true;
  };

  const newChat = () => {
    if (generating) stop();
    setCurrent(newConversation({ ...lastSettings(), model: conv.settings.model }));
    setEditing(null);
    setSidebar(false);
    setDraft("");
    setAttachments([]);
    composer.current?.focus();
  };

  const del = async (c: Conversation) => {
    if (c === conv && generating) stop();
    convs.current = convs.current.filter((x) => x !== c);
    await remove(c.id).catch(() => {});
    setConfirmDelete(null);
    if (c === conv) setCurrent(convs.current[0] ?? newConversation(lastSettings()));
    say(`Deleted “${c.title}”`);
    bump();
  };

  const rename = (c: Conversation, title: string) => {
    const t = title.trim();
    if (t) {
      c.title = t;
      save(c).catch(() => {});
    }
    setRenaming(null);
    bump();
  };

  const doExport = () => {
    const blob = new Blob([exportJson(convs.current)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = `nomoat-chats-${new Date().toISOString().slice(0, 10)}.json`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  const doImport = async (files: FileList | null) => {
    if (!files?.length) return;
    try {
      let n = 0;
      for (const f of Array.from(files)) {
        for (const c of parseImport(await f.text())) {
          const old = convs.current.findIndex((x) => x.id === c.id);
          if (old >= 0) convs.current.splice(old, 1);
          convs.current.push(c);
          await save(c);
          n++;
        }
      }
      convs.current.sort((a, b) => b.updated - a.updated);
      say(`Imported ${n} conversation${n === 1 ? "" : "s"}`);
      bump();
    } catch (e) {
      say(`Import failed: ${(e as Error).message ?? e}`);
    }
    if (importInput.current) importInput.current.value = "";
  };

  const attach = async (files: FileList | File[] | null) => {
    if (!files) return;
    const added: Attachment[] = [];
    for (const f of Array.from(files)) {
      if (f.size > MAX_ATTACHMENT) {
        say(`${f.name} is larger than 1 MiB; not attached`);
        continue;
      }
      const text = await f.text();
      if (text.includes("\u0000") || (text.match(/\uFFFD/g)?.length ?? 0) > text.length / 100 + 2) {
        say(`${f.name} is not a text file; not attached`);
        continue;
      }
      added.push({ name: f.name, text });
    }
    if (added.length) setAttachments((a) => [...a, ...added]);
    composer.current?.focus();
  };

  // ---- keyboard ----

  useEffect(() => {
    // One listener for the page's life: it reads state through setters and refs, so an Esc
    // pressed right after the drawer opens (before a re-render could re-register a listener)
    // still closes it.
    const onKey = (e: KeyboardEvent) => {
      if (e.key !== "Escape" || e.defaultPrevented) return;
      if (abort.current) {
        e.preventDefault();
        stop();
      } else setSidebar(false);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);

  useEffect(() => {
    if (!draft && composer.current) composer.current.style.height = "";
  }, [draft]);

  // Follow the answer while the reader is at the bottom.
  useLayoutEffect(() => {
    const el = scroller.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });

  const visible = useMemo(() => {
    const q = query.trim().toLowerCase();
    if (!q) return convs.current;
    return convs.current.filter((c) => c.title.toLowerCase().includes(q)
      || Object.values(c.messages).some((m) => m.content.toLowerCase().includes(q)));
  }, [query, convs.current.length, convs.current.map((c) => c.title + c.updated).join()]);

  const nCtx = modelInfo?.nCtx ?? null;

  return (
    <div class={`app${sidebar ? " sidebar-open" : ""}`}>
      <aside class="sidebar" id="sidebar" aria-label="Conversations">
        <div class="side-top">
          <span class="brand" aria-hidden="true">nomoat</span>
          <button type="button" class="btn primary" aria-label="New chat" onClick={newChat}>+ New chat</button>
        </div>
        <input type="search" class="search" aria-label="Search conversations" placeholder="Search"
          value={query} onInput={(e) => setQuery(e.currentTarget.value)} />
        <ul class="conv-list">
          {visible.map((c) => (
            <li class={c === conv ? "active" : ""} data-conversation={c.id}>
              {renaming === c.id ? (
                <input class="rename" aria-label="Conversation title" value={c.title} ref={(el) => el?.focus()}
                  onKeyDown={(e) => {
                    if (e.key === "Enter") rename(c, e.currentTarget.value);
                    else if (e.key === "Escape") { e.preventDefault(); setRenaming(null); }
                  }}
                  onBlur={(e) => rename(c, e.currentTarget.value)} />
              ) : (
                <button type="button" class="conv" aria-current={c === conv ? "true" : undefined} onClick={() => open(c)}>
                  {c.title}
                </button>
              )}
              <span class="conv-actions">
                <button type="button" class="act" aria-label="Rename" title="Rename" onClick={() => setRenaming(c.id)}><Icon name="pencil" /></button>
                {confirmDelete === c.id ? (
                  <button type="button" class="act danger" aria-label="Confirm delete" onClick={() => void del(c)}>Delete?</button>
                ) : (
                  <button type="button" class="act" aria-label="Delete" title="Delete" onClick={() => setConfirmDelete(c.id)}><Icon name="trash" /></button>
                )}
              </span>
            </li>
          ))}
          {loaded && !visible.length ? <li class="muted empty">{query ? "No match" : "No conversations yet"}</li> : null}
        </ul>
        <div class="side-bottom">
          <button type="button" class="btn" onClick={doExport} disabled={!convs.current.length}>Export</button>
          <button type="button" class="btn" onClick={() => importInput.current?.click()}>Import</button>
          <input ref={importInput} type="file" accept=".json,application/json" hidden aria-label="Import conversations"
            onChange={(e) => void doImport(e.currentTarget.files)} />
        </div>
      </aside>
      <div class="scrim" onClick={() => setSidebar(false)} aria-hidden="true" />
      <main class="main">
        <header class="top">
          <button type="button" class="btn icon menu" aria-label="Conversations" aria-controls="sidebar"
            aria-expanded={sidebar ? "true" : "false"} onClick={() => setSidebar(!sidebar)}><Icon name="menu" /></button>
          <select aria-label="Model" class="model" value={modelId}
            onChange={(e) => updateSettings({ model: e.currentTarget.value })}>
            {models?.map((m) => <option value={m.id}>{m.id}{m.state ? ` (${m.state})` : ""}</option>)}
            {modelId && models && !models.some((m) => m.id === modelId) ? <option value={modelId}>{modelId} (not served)</option> : null}
            {!models ? <option value="">{modelsError ? "no models" : "loading…"}</option> : null}
          </select>
          {nCtx ? (
            <span class="ctx" title="Context used by this conversation vs the model's context">
              <meter min={0} max={nCtx} value={lastStats?.totalTokens ?? 0} aria-label="Context used" />
              <span>{fmt(lastStats?.totalTokens ?? 0)} / {fmt(nCtx)}</span>
            </span>
          ) : null}
          <button type="button" class="btn" aria-expanded={showSettings ? "true" : "false"} aria-controls="settings"
            onClick={() => setShowSettings(!showSettings)}>Settings</button>
        </header>
        {showSettings ? <div id="settings"><SettingsPanel s={conv.settings} onChange={updateSettings} /></div> : null}
        {modelsError ? (
          <div class="banner" role="alert">
            {modelsError} <button type="button" class="btn" onClick={() => void fetchModels()}>Retry</button>
          </div>
        ) : null}
        <div class="messages" role="log" aria-label="Conversation" ref={scroller} onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 80;
        }}>
          {path.length === 0 ? (
            <div class="hello">
              <h1>What can I help with?</h1>
              <p class="muted">Runs on this machine{modelId ? <> with <strong>{modelId}</strong></> : null}. Enter sends, Shift+Enter starts a new line, Esc stops, ↑ edits your last message.</p>
            </div>
          ) : null}
          {path.map((m) => (
            <MessageView key={m.id} conv={conv} m={m} busy={generating !== null} editing={editing === m.id}
              onEdit={(id) => { setEditing(id); if (!id) composer.current?.focus(); }}
              onResend={resend} onRegenerate={regenerate} onSwitch={switchTo} />
          ))}
        </div>
        <form class={`composer${dragging ? " dragging" : ""}`}
          onSubmit={(e) => { e.preventDefault(); send(); }}
          onDragOver={(e) => { e.preventDefault(); setDragging(true); }}
          onDragLeave={() => setDragging(false)}
          onDrop={(e) => { e.preventDefault(); setDragging(false); void attach(e.dataTransfer?.files ?? null); }}>
          {attachments.length ? (
            <ul class="chips" aria-label="Files to send">
              {attachments.map((a, i) => (
                <li class="chip">{a.name}
                  <button type="button" class="chip-x" aria-label={`Remove ${a.name}`}
                    onClick={() => setAttachments(attachments.filter((_, j) => j !== i))}>×</button>
                </li>
              ))}
            </ul>
          ) : null}
          <div class="compose-row">
            <button type="button" class="btn icon" aria-label="Attach files" title="Attach text or code files"
              onClick={() => fileInput.current?.click()}><Icon name="attach" /></button>
            <input ref={fileInput} type="file" multiple hidden aria-label="Files to attach"
              onChange={(e) => { void attach(e.currentTarget.files); e.currentTarget.value = ""; }} />
            <textarea ref={composer} aria-label="Message" placeholder="Message" title="Enter sends, Shift+Enter adds a line; drop text files here" rows={1}
              value={draft} autofocus={wide}
              onInput={(e) => {
                setDraft(e.currentTarget.value);
                const el = e.currentTarget;
                el.style.height = "auto";
                el.style.height = `${Math.min(el.scrollHeight, 240)}px`;
              }}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
                  e.preventDefault();
                  send();
                } else if (e.key === "ArrowUp" && !draft && !generating) {
                  const last = [...path].reverse().find((m) => m.role === "user");
                  if (last) {
                    e.preventDefault();
                    setEditing(last.id);
                  }
                }
              }} />
            {generating ? (
              <button type="button" class="btn stop" aria-label="Stop" title="Stop (Esc)" onClick={stop}><StopIcon /></button>
            ) : (
              <button type="submit" class="btn primary send" aria-label="Send" title="Send (Enter)" disabled={!draft.trim() && !attachments.length}><Icon name="send" /></button>
            )}
          </div>
        </form>
        <div class="notice" role="status" aria-live="polite">{notice}</div>
      </main>
      <KeyDialog open={keyAsk !== null} rejected={keyRejected} onDone={(k) => keyAsk?.(k)} />
    </div>
  );
}

// Exposed for the browser tests and for people poking at the page from the console.
(window as any).nomoat = { apiFetch, getKey, setKey };

const root = document.getElementById("app")!;
root.textContent = ""; // the static "Loading" shell painted before this script ran
render(<App />, root);
