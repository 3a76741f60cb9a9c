// Model output → safe HTML: Markdown (marked, GFM tables), highlighted code (highlight.js, a set
// of common languages), math placeholders rendered later by KaTeX (loaded on first use), and
// DOMPurify over everything. Raw HTML in the output is shown as text, never interpreted.

import DOMPurify from "dompurify";
import { Marked, Renderer, type Tokens, type TokenizerAndRendererExtension } from "marked";
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import c from "highlight.js/lib/languages/c";
import cpp from "highlight.js/lib/languages/cpp";
import csharp from "highlight.js/lib/languages/csharp";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import java from "highlight.js/lib/languages/java";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import kotlin from "highlight.js/lib/languages/kotlin";
import markdown from "highlight.js/lib/languages/markdown";
import php from "highlight.js/lib/languages/php";
import plaintext from "highlight.js/lib/languages/plaintext";
import python from "highlight.js/lib/languages/python";
import ruby from "highlight.js/lib/languages/ruby";
import rust from "highlight.js/lib/languages/rust";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import swift from "highlight.js/lib/languages/swift";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";

const languages = {
  bash, c, cpp, csharp, css, diff, go, java, javascript, json, kotlin, markdown, php, plaintext,
  python, ruby, rust, shell, sql, swift, typescript, xml, yaml,
};
for (const [name, lang] of Object.entries(languages)) hljs.registerLanguage(name, lang);

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

function mathSpan(tex: string, display: boolean): string {
  const t = escapeHtml(tex.trim());
  return display
    ? `<div class="math math-display" data-tex="${t}">${t}</div>`
    : `<span class="math math-inline" data-tex="${t}">${t}</span>`;
}

// $$…$$ and \[…\] (blocks), $…$ and \(…\) (inline). A `$` followed by a digit or space does not
// open inline math, so prices ("$5 and $6") stay text.
const mathBlock: TokenizerAndRendererExtension = {
  name: "mathBlock",
  level: "block",
  start: (src) => src.match(/\$\$|\\\[/)?.index,
  tokenizer(src) {
    const m = /^(?:\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\])[ \t]*(?:\n|$)/.exec(src);
    if (m) return { type: "mathBlock", raw: m[0], text: m[1] ?? m[2] };
    return undefined;
  },
  renderer: (t) => mathSpan((t as Tokens.Generic).text, true),
};

const mathInline: TokenizerAndRendererExtension = {
  name: "mathInline",
  level: "inline",
  start: (src) => src.match(/\$|\\\(|\\\[/)?.index,
  tokenizer(src) {
    const m =
      /^\$\$([^$]+?)\$\$/.exec(src) ??
      /^\\\[([\s\S]+?)\\\]/.exec(src) ??
      /^\\\(([\s\S]+?)\\\)/.exec(src) ??
      /^\$(?![\s\d$])((?:\\.|[^\\$\n])+?)(?<!\s)\$(?!\d)/.exec(src);
    if (m) return { type: "mathInline", raw: m[0], text: m[1], display: m[0].startsWith("$$") || m[0].startsWith("\\[") };
    return undefined;
  },
  renderer: (t) => mathSpan((t as Tokens.Generic).text, Boolean((t as Tokens.Generic).display)),
};

const md = new Marked({ gfm: true, breaks: false });
md.use({
  extensions: [mathBlock, mathInline],
  renderer: {
    code({ text, lang }: Tokens.Code) {
      const name = (lang ?? "").trim().split(/\s+/)[0].toLowerCase();
      const known = name && hljs.getLanguage(name);
      const body = known ? hljs.highlight(text, { language: name, ignoreIllegals: true }).value : escapeHtml(text);
      const label = name ? escapeHtml(name) : "text";
      return `<div class="code"><div class="code-head"><span>${label}</span></div><pre><code class="hljs${known ? ` language-${escapeHtml(name)}` : ""}">${body}</code></pre></div>`;
    },
    html({ text }: Tokens.HTML | Tokens.Tag) {
      return escapeHtml(text);
    },
    image({ href, text }: Tokens.Image) {
      // No remote loads from model output: an image becomes a link.
      return `<a href="${escapeHtml(href)}">${escapeHtml(text || href)}</a>`;
    },
    table(this: Renderer, token: Tokens.Table) {
      // Wide tables scroll instead of widening the page.
      return `<div class="table">${Renderer.prototype.table.call(this, token)}</div>`;
    },
  },
});

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href") ?? "";
    if (!/^(https?:|mailto:|#)/i.test(href)) node.removeAttribute("href");
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const PURIFY = {
  USE_PROFILES: { html: true, mathMl: true },
  FORBID_TAGS: ["style", "img", "form", "input", "button", "textarea", "select", "video", "audio", "iframe", "object", "embed", "link", "meta", "base"],
  FORBID_ATTR: ["style", "srcset", "action", "formaction"],
};

// KaTeX's MathML keeps the TeX source in <semantics><annotation>, which browsers do not show.
const PURIFY_MATH = { ...PURIFY, ADD_TAGS: ["semantics", "annotation"], ADD_ATTR: ["encoding"] };

export function sanitize(html: string): string {
  return DOMPurify.sanitize(html, PURIFY) as unknown as string;
}

export function renderMarkdown(text: string): string {
  return sanitize(md.parse(text, { async: false }) as string);
}

// ---- after insertion: copy buttons and math ----

const mathCache = new Map<string, string>();
let katexModule: Promise<typeof import("./math")> | null = null;

async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    // Not a secure context (a LAN address over http): the old way.
    const ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.style.position = "fixed";
    ta.style.opacity = "0";
    document.body.appendChild(ta);
    ta.select();
    let ok = false;
    try {
      ok = document.execCommand("copy");
    } catch {
      ok = false;
    }
    ta.remove();
    return ok;
  }
}

export async function copyWithFeedback(btn: HTMLElement, text: string): Promise<void> {
  const ok = await copyText(text);
  const old = btn.textContent;
  btn.textContent = ok ? "Copied" : "Copy failed";
  btn.setAttribute("data-copied", ok ? "yes" : "no");
  setTimeout(() => {
    btn.textContent = old;
    btn.removeAttribute("data-copied");
  }, 1500);
}

export function enhance(root: HTMLElement): void {
  for (const head of root.querySelectorAll<HTMLElement>(".code-head")) {
    if (head.querySelector("button")) continue;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "copy-code";
    b.textContent = "Copy";
    b.setAttribute("aria-label", "Copy code");
    b.addEventListener("click", () => {
      const code = head.parentElement?.querySelector("code");
      if (code) void copyWithFeedback(b, code.textContent ?? "");
    });
    head.appendChild(b);
  }
  const maths = root.querySelectorAll<HTMLElement>(".math[data-tex]");
  if (!maths.length) return;
  const apply = (m: typeof import("./math")) => {
    for (const el of maths) {
      if (!el.isConnected || el.dataset.rendered) continue;
      const tex = el.dataset.tex ?? "";
      const display = el.classList.contains("math-display");
      const key = (display ? "D" : "I") + tex;
      let html = mathCache.get(key);
      if (html === undefined) {
        html = DOMPurify.sanitize(m.renderTex(tex, display), PURIFY_MATH) as unknown as string;
        mathCache.set(key, html);
      }
      el.innerHTML = html;
      el.dataset.rendered = "1";
    }
  };
  katexModule ??= import("./math");
  katexModule.then(apply, () => {
    katexModule = null;
  });
}
