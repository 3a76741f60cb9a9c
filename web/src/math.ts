// LaTeX → MathML (KaTeX), loaded only when an answer contains math. MathML needs no fonts or
// style sheet: browsers lay it out natively.
import katex from "katex";

export function renderTex(tex: string, display: boolean): string {
  return katex.renderToString(tex, {
    displayMode: display,
    output: "mathml",
    throwOnError: false,
    trust: false,
    strict: "ignore",
    maxSize: 20,
    maxExpand: 200,
  });
}
