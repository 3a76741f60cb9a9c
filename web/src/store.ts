// Conversations: a tree of messages (edits and regenerations are siblings, so every branch is
// kept), stored in IndexedDB, one record per conversation.

export type Role = "system" | "user" | "assistant" | "tool";

export interface Attachment {
  name: string;
  text: string;
}

export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export interface Stats {
  ttftMs: number | null;
  tokensPerSecond: number | null;
  completionTokens: number | null;
  promptTokens: number | null;
  cachedTokens: number | null;
  totalTokens: number | null;
}

export interface Message {
  id: string;
  parent: string | null;
  role: Role;
  content: string;
  created: number;
  attachments?: Attachment[];
  reasoning?: string;
  toolCalls?: ToolCall[];
  toolCallId?: string;
  /** streaming while the answer arrives; done when complete (also when stopped); error. */
  state: "streaming" | "done" | "error";
  /** stop, length, stopped (by the person), interrupted (page closed), error. */
  finish?: string;
  error?: string;
  model?: string;
  stats?: Stats;
}

export interface Settings {
  model: string;
  system: string;
  temperature: number;
  topP: number;
  maxTokens: number | null;
  seed: number | null;
  json: boolean;
}

export interface Conversation {
  id: string;
  title: string;
  created: number;
  updated: number;
  messages: Record<string, Message>;
  /** The message the visible branch ends at. */
  leaf: string | null;
  settings: Settings;
}

export const DEFAULT_SETTINGS: Settings = {
  model: "",
  system: "",
  temperature: 0.7,
  topP: 0.95,
  maxTokens: null,
  seed: null,
  json: false,
};

const LAST_SETTINGS = "nomoat.lastSettings";

export function lastSettings(): Settings {
  try {
    const s = JSON.parse(localStorage.getItem(LAST_SETTINGS) ?? "null");
    if (s && typeof s === "object") return { ...DEFAULT_SETTINGS, ...s };
  } catch {
    /* fall through */
  }
  return { ...DEFAULT_SETTINGS };
}

export function rememberSettings(s: Settings): void {
  try {
    localStorage.setItem(LAST_SETTINGS, JSON.stringify(s));
  } catch {
    /* storage disabled */
  }
}

export function newId(): string {
  const b = new Uint8Array(9);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function newConversation(settings: Settings): Conversation {
  const now = Date.now();
  return { id: newId(), title: "New chat", created: now, updated: now, messages: {}, leaf: null, settings: { ...settings } };
}

/** The visible branch, root first. */
export function branch(c: Conversation): Message[] {
  const out: Message[] = [];
  let id = c.leaf;
  const seen = new Set<string>();
  while (id && c.messages[id] && !seen.has(id)) {
    seen.add(id);
    out.push(c.messages[id]);
    id = c.messages[id].parent;
  }
  return out.reverse();
}

export function children(c: Conversation, parent: string | null): Message[] {
  return Object.values(c.messages)
    .filter((m) => m.parent === parent)
    .sort((a, b) => a.created - b.created || (a.id < b.id ? -1 : 1));
}

/** The newest leaf below `id` (following the newest child at each step). */
export function newestLeaf(c: Conversation, id: string): string {
  for (;;) {
    const ch = children(c, id);
    if (!ch.length) return id;
    id = ch[ch.length - 1].id;
  }
}

export function titleFrom(text: string): string {
  const t = text.replace(/\s+/g, " ").trim();
  return t.length > 48 ? t.slice(0, 47) + "…" : t || "New chat";
}

// ---- IndexedDB ----

const DB_NAME = "nomoat";
const STORE = "conversations";
let dbPromise: Promise<IDBDatabase> | null = null;

function db(): Promise<IDBDatabase> {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => {
        req.result.createObjectStore(STORE, { keyPath: "id" });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return dbPromise;
}

function tx<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T> | void): Promise<T | undefined> {
  return db().then(
    (d) =>
      new Promise((resolve, reject) => {
        const t = d.transaction(STORE, mode);
        const r = f(t.objectStore(STORE));
        t.oncomplete = () => resolve(r ? r.result : undefined);
        t.onerror = () => reject(t.error);
        t.onabort = () => reject(t.error);
      }),
  );
}

export async function loadAll(): Promise<Conversation[]> {
  const all = ((await tx("readonly", (s) => s.getAll())) ?? []) as Conversation[];
  for (const c of all) {
    c.settings = { ...DEFAULT_SETTINGS, ...c.settings };
    // An answer that was streaming when the page closed is over.
    for (const m of Object.values(c.messages)) {
      if (m.state === "streaming") {
        m.state = "done";
        m.finish = "interrupted";
      }
    }
  }
  return all.sort((a, b) => b.updated - a.updated);
}

export function save(c: Conversation): Promise<unknown> {
  // Structured clone of a plain copy (the live object may be mutated while the write is queued).
  const copy = JSON.parse(JSON.stringify(c));
  return tx("readwrite", (s) => s.put(copy));
}

export function remove(id: string): Promise<unknown> {
  return tx("readwrite", (s) => s.delete(id));
}

// ---- export / import ----

export function exportJson(cs: Conversation[]): string {
  return JSON.stringify({ format: "nomoat-chat", version: 1, exported: new Date().toISOString(), conversations: cs }, null, 2);
}

/** Conversations from an export (ours, a single conversation, or an array of them). */
export function parseImport(text: string): Conversation[] {
  const j = JSON.parse(text);
  const list: unknown[] = Array.isArray(j) ? j : Array.isArray(j?.conversations) ? j.conversations : [j];
  const out: Conversation[] = [];
  for (const x of list) {
    const o = x as Partial<Conversation>;
    if (!o || typeof o !== "object" || typeof o.messages !== "object" || o.messages === null) {
      throw new Error("not a nomoat conversation export");
    }
    const messages: Record<string, Message> = {};
    for (const [k, v] of Object.entries(o.messages)) {
      const m = v as Message;
      if (!m || typeof m.content !== "string" || !["system", "user", "assistant", "tool"].includes(m.role)) {
        throw new Error(`message ${k} is not valid`);
      }
      messages[k] = { ...m, id: k, state: m.state === "error" ? "error" : "done" };
    }
    const now = Date.now();
    out.push({
      id: typeof o.id === "string" ? o.id : newId(),
      title: typeof o.title === "string" ? o.title : "Imported chat",
      created: typeof o.created === "number" ? o.created : now,
      updated: typeof o.updated === "number" ? o.updated : now,
      messages,
      leaf: typeof o.leaf === "string" && messages[o.leaf] ? o.leaf : null,
      settings: { ...DEFAULT_SETTINGS, ...(o.settings ?? {}) },
    });
  }
  return out;
}
