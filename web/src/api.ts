// Talking to `nomoat serve`: the OpenAI-shaped routes on the same origin, the API key, and the
// server-sent-events stream of /v1/chat/completions.

const KEY_STORAGE = "nomoat.apiKey";

export interface ModelInfo {
  id: string;
  /** The model's context (KV tokens one request may use), when the server says. */
  nCtx: number | null;
  /** "loaded", "loading"… once the server serves several models. */
  state: string | null;
}

export interface ToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number } | null;
}

export interface StreamChunk {
  content?: string;
  reasoning?: string;
  toolCalls?: ToolCallDelta[];
  finish?: string;
  usage?: Usage;
}

export class RequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly retryAfter: string | null = null,
  ) {
    super(message);
  }

  /** What the person reads: what happened, in the server's words. */
  describe(): string {
    const what =
      this.status === 400 ? "The server refused the request (400)"
      : this.status === 401 ? "The API key was not accepted (401)"
      : this.status === 404 ? "Not found (404)"
      : this.status === 413 ? "The request is too large (413)"
      : this.status === 429 ? "Too many requests (429)"
      : this.status === 503 ? "The server is busy or loading (503)"
      : this.status === 0 ? "The server could not be reached"
      : `The server answered ${this.status}`;
    const retry = this.retryAfter ? ` Retry after ${this.retryAfter} s.` : "";
    return `${what}: ${this.message}${retry}`;
  }
}

export function getKey(): string | null {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function setKey(key: string | null): void {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: the key lives for this page only */
  }
  memoryKey = key;
}

let memoryKey: string | null = null;

/** Called on a 401: resolves with a key to retry with, or null to give up. */
let askForKey: (() => Promise<string | null>) | null = null;
export function onUnauthorized(f: () => Promise<string | null>): void {
  askForKey = f;
}

async function errorFrom(r: Response): Promise<RequestError> {
  let message = r.statusText || "request failed";
  let code: string | null = null;
  let param: string | null = null;
  try {
    const text = await r.text();
    try {
      const j = JSON.parse(text);
      if (j && j.error) {
        message = String(j.error.message ?? message);
        code = j.error.code ?? null;
        param = j.error.param ?? null;
      } else if (text) message = text;
    } catch {
      if (text) message = text.slice(0, 500);
    }
  } catch {
    /* body unreadable */
  }
  return new RequestError(message, r.status, code, param, r.headers.get("Retry-After"));
}

/** fetch with the API key; on 401 asks for a key (once per call) and retries. */
export async function apiFetch(path: string, init: RequestInit = {}): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    const headers = new Headers(init.headers);
    const key = memoryKey ?? getKey();
    if (key) headers.set("Authorization", `Bearer ${key}`);
    let r: Response;
    try {
      r = await fetch(path, { ...init, headers });
    } catch (e) {
      if ((e as Error).name === "AbortError") throw e;
      throw new RequestError(String((e as Error).message || e), 0);
    }
    if (r.status === 401 && attempt < 3 && askForKey) {
      const err = await errorFrom(r);
      const k = await askForKey();
      if (k === null) throw err;
      setKey(k);
      continue;
    }
    if (!r.ok) throw await errorFrom(r);
    return r;
  }
}

export async function listModels(): Promise<ModelInfo[]> {
  const r = await apiFetch("/v1/models");
  const j = await r.json();
  const data: unknown[] = Array.isArray(j?.data) ? j.data : [];
  return data.map((m) => {
    const o = m as Record<string, any>;
    const nCtx = o.meta?.n_ctx ?? o.context_length ?? o.max_model_len ?? null;
    const st = o.status?.value ?? o.state ?? (typeof o.status === "string" ? o.status : null);
    return { id: String(o.id), nCtx: typeof nCtx === "number" ? nCtx : null, state: st ? String(st) : null };
  });
}

/** POST /v1/chat/completions with stream: true; yields what each chunk adds. */
export async function* streamChat(body: object, signal: AbortSignal): AsyncGenerator<StreamChunk> {
  const r = await apiFetch("/v1/chat/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
    body: JSON.stringify(body),
    signal,
  });
  if (!r.body) throw new RequestError("the response has no body", r.status);
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  let done = false;
  try {
    while (!done) {
      const { value, done: eof } = await reader.read();
      if (eof) break;
      buf += value;
      let cut: number;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const event = buf.slice(0, cut);
        buf = buf.slice(cut).replace(/^\r?\n\r?\n/, "");
        const data = event
          .split(/\r?\n/)
          .filter((l) => l.startsWith("data:"))
          .map((l) => l.slice(5).replace(/^ /, ""))
          .join("\n");
        if (!data) continue;
        if (data === "[DONE]") {
          done = true;
          break;
        }
        let j: any;
        try {
          j = JSON.parse(data);
        } catch {
          continue;
        }
        if (j.error) {
          throw new RequestError(String(j.error.message ?? "generation failed"), 500, j.error.code ?? null);
        }
        const out: StreamChunk = {};
        const c = Array.isArray(j.choices) ? j.choices[0] : undefined;
        if (c) {
          const d = c.delta ?? {};
          if (typeof d.content === "string") out.content = d.content;
          const reasoning = d.reasoning_content ?? d.reasoning;
          if (typeof reasoning === "string") out.reasoning = reasoning;
          if (Array.isArray(d.tool_calls)) out.toolCalls = d.tool_calls;
          if (c.finish_reason) out.finish = String(c.finish_reason);
        }
        if (j.usage) out.usage = j.usage;
        yield out;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
