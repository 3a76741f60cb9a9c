//! Pre-tokenization: cutting text into the words that BPE merges within, as llama.cpp's
//! `unicode_regex_split` does.
//!
//! llama.cpp applies a preset's expressions one after another, each refining the previous cut
//! (text between matches becomes a word of its own, so nothing is lost). The common expressions
//! (GPT-2, Llama 3, Qwen 2, Qwen 3.5, Kimi-K2, digit grouping, newline runs) are hand-written state
//! machines there; they are ported here as they are, because their output is the reference.
//! Every other expression runs on a "view" of the text, as llama.cpp runs `std::regex`: when it
//! uses `\p{..}` each non-ASCII code point becomes one placeholder for its category (so `\p{L}`
//! means "ASCII letter or placeholder-letter"), else the text is used as is; in both views
//! non-ASCII whitespace becomes U+000B so that `\s` agrees with C++'s ASCII-only `\s`.

use crate::error::TokenizerError;
use crate::unicode::{self, LETTER, MARK, NUMBER, PUNCT, SYMBOL, WHITESPACE};

const GPT2_EXPR: &str =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3_EXPR_I: &str = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3_EXPR: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_EXPR: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN35_EXPR: &str = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const KIMI_EXPR: &str = "\\p{Han}+";
const AFMOE_EXPR: &str = "\\p{AFMoE_digits}";
const TINY_AYA_EXPR: &str = "\\d{1,3}(?=(?:\\d{3})*\\b)";
const NEWLINES_EXPR: &str = "[^\\n]+|[\\n]+";

/// Placeholders of the collapsed view, one per llama.cpp category (private-use code points, which
/// themselves collapse to `OTHER`, so they cannot be confused with real text).
const PH_OTHER: char = '\u{E0D0}';
const PH_NUMBER: char = '\u{E0D1}';
const PH_LETTER: char = '\u{E0D2}';
const PH_PUNCT: char = '\u{E0D3}';
const PH_MARK: char = '\u{E0D4}';
const PH_SYMBOL: char = '\u{E0D5}';

enum Step {
    Gpt2,
    /// The Llama 3 family: digits per number word (3 or 1), and whether marks count as letters.
    Llama3 {
        digits: usize,
        marks: bool,
    },
    KimiK2,
    DigitGroups,
    Newlines,
    Regex {
        re: Box<fancy_regex::Regex>,
        collapsed: bool,
    },
}

/// A compiled pre-tokenizer: the steps of one preset.
pub(crate) struct Splitter {
    steps: Vec<Step>,
}

impl std::fmt::Debug for Splitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Splitter({} steps)", self.steps.len())
    }
}

/// Reusable buffers for one split.
#[derive(Default)]
pub(crate) struct SplitScratch {
    cpts: Vec<char>,
    flags: Vec<u8>,
    byte_off: Vec<usize>,
    offsets: Vec<usize>,
    next: Vec<usize>,
    view: String,
    view_off: Vec<usize>,
}

impl Splitter {
    pub(crate) fn new(exprs: &[&str]) -> Result<Splitter, TokenizerError> {
        let mut steps = Vec::with_capacity(exprs.len());
        for &e in exprs {
            let step = match e {
                GPT2_EXPR => Step::Gpt2,
                LLAMA3_EXPR | LLAMA3_EXPR_I => Step::Llama3 {
                    digits: 3,
                    marks: false,
                },
                QWEN2_EXPR => Step::Llama3 {
                    digits: 1,
                    marks: false,
                },
                QWEN35_EXPR => Step::Llama3 {
                    digits: 1,
                    marks: true,
                },
                KIMI_EXPR => Step::KimiK2,
                AFMOE_EXPR | TINY_AYA_EXPR => Step::DigitGroups,
                NEWLINES_EXPR => Step::Newlines,
                _ => {
                    let collapsed = uses_categories(e);
                    let translated = translate(e, collapsed);
                    let re = fancy_regex::Regex::new(&translated).map_err(|err| {
                        TokenizerError::Regex {
                            expr: e.to_string(),
                            why: err.to_string(),
                        }
                    })?;
                    Step::Regex {
                        re: Box::new(re),
                        collapsed,
                    }
                }
            };
            steps.push(step);
        }
        unicode::init();
        Ok(Splitter { steps })
    }

    /// Cuts `text` into words; appends their byte ranges (in order, covering `text`) to `out`.
    pub(crate) fn split(&self, text: &str, s: &mut SplitScratch, out: &mut Vec<(usize, usize)>) {
        s.cpts.clear();
        s.flags.clear();
        s.byte_off.clear();
        for (i, c) in text.char_indices() {
            s.cpts.push(c);
            s.flags.push(unicode::flags(c));
            s.byte_off.push(i);
        }
        s.byte_off.push(text.len());
        s.offsets.clear();
        if !s.cpts.is_empty() {
            s.offsets.push(s.cpts.len());
        }
        let mut have_view: Option<bool> = None;
        for step in &self.steps {
            s.next.clear();
            let mut start = 0;
            for &len in &s.offsets {
                let end = start + len;
                match step {
                    Step::Gpt2 => split_gpt2(&s.cpts, &s.flags, start, end, &mut s.next),
                    Step::Llama3 { digits, marks } => {
                        split_llama3(&s.cpts, &s.flags, start, end, *digits, *marks, &mut s.next)
                    }
                    Step::KimiK2 => split_kimi(&s.cpts, &s.flags, start, end, &mut s.next),
                    Step::DigitGroups => split_digit_groups(&s.flags, start, end, &mut s.next),
                    Step::Newlines => split_newlines(&s.cpts, start, end, &mut s.next),
                    Step::Regex { re, collapsed } => {
                        if have_view != Some(*collapsed) {
                            build_view(&s.cpts, &s.flags, *collapsed, &mut s.view, &mut s.view_off);
                            have_view = Some(*collapsed);
                        }
                        split_regex(re, &s.view, &s.view_off, start, end, &mut s.next);
                    }
                }
                start = end;
            }
            std::mem::swap(&mut s.offsets, &mut s.next);
        }
        let mut start = 0;
        for &len in &s.offsets {
            let end = start + len;
            out.push((s.byte_off[start], s.byte_off[end]));
            start = end;
        }
    }
}

/// Whether llama.cpp would run `expr` on the collapsed view.
fn uses_categories(expr: &str) -> bool {
    [
        "\\p{N}", "\\p{L}", "\\p{P}", "\\p{M}", "\\p{S}", "\\p{Lu}", "\\p{Ll}", "\\p{Lt}",
        "\\p{Lm}", "\\p{Lo}",
    ]
    .iter()
    .any(|p| expr.contains(p))
}

/// The Rust form of a llama.cpp expression: `\p{..}` replaced by placeholder classes as llama.cpp
/// collapses them (when `collapsed`), and C++'s ASCII-only `\d` spelled out.
fn translate(expr: &str, collapsed: bool) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len() * 2);
    let mut inside = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '[' && (i == 0 || chars[i - 1] != '\\') {
            out.push('[');
            inside = true;
            i += 1;
            continue;
        }
        if inside && c == ']' && chars[i - 1] != '\\' {
            out.push(']');
            inside = false;
            i += 1;
            continue;
        }
        if c == '\\' && i + 1 < chars.len() {
            let n = chars[i + 1];
            if collapsed && n == 'p' && chars.get(i + 2) == Some(&'{') {
                if let Some(close) = chars[i + 3..].iter().position(|&x| x == '}') {
                    let name: String = chars[i + 3..i + 3 + close].iter().collect();
                    let class = match name.as_str() {
                        "N" => Some((PH_NUMBER, "0-9")),
                        "L" | "Lu" | "Ll" | "Lt" | "Lm" | "Lo" => Some((PH_LETTER, "A-Za-z")),
                        "P" => Some((PH_PUNCT, r"!-#%-*,-/:-;?-@\[-\]_\{\}")),
                        "M" => Some((PH_MARK, "")),
                        "S" => Some((PH_SYMBOL, r"\$\+<->\^`\|~")),
                        _ => None,
                    };
                    if let Some((ph, ascii)) = class {
                        if !inside {
                            out.push('[');
                        }
                        out.push(ph);
                        out.push_str(ascii);
                        if !inside {
                            out.push(']');
                        }
                        i += 4 + close;
                        continue;
                    }
                }
            }
            if n == 'd' {
                out.push_str(if inside { "0-9" } else { "[0-9]" });
                i += 2;
                continue;
            }
            out.push(c);
            out.push(n);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn build_view(
    cpts: &[char],
    flags: &[u8],
    collapsed: bool,
    view: &mut String,
    off: &mut Vec<usize>,
) {
    view.clear();
    off.clear();
    for (&c, &f) in cpts.iter().zip(flags) {
        off.push(view.len());
        let v = if c.is_ascii() {
            c
        } else if f & WHITESPACE != 0 {
            '\u{b}'
        } else if !collapsed {
            c
        } else if f & NUMBER != 0 {
            PH_NUMBER
        } else if f & LETTER != 0 {
            PH_LETTER
        } else if f & PUNCT != 0 {
            PH_PUNCT
        } else if f & MARK != 0 {
            PH_MARK
        } else if f & SYMBOL != 0 {
            PH_SYMBOL
        } else {
            PH_OTHER
        };
        view.push(v);
    }
    off.push(view.len());
}

fn split_regex(
    re: &fancy_regex::Regex,
    view: &str,
    off: &[usize],
    start: usize,
    end: usize,
    out: &mut Vec<usize>,
) {
    let base = off[start];
    let seg = &view[base..off[end]];
    // Byte position in `seg` → code point index (the positions are always char boundaries).
    let to_cpt = |b: usize| off[start..=end].partition_point(|&o| o < base + b) + start;
    let mut prev = start;
    for m in re.find_iter(seg) {
        // A regex that fails at run time (backtrack limit) leaves the rest of the segment whole.
        let Ok(m) = m else { break };
        let (ms, me) = (to_cpt(m.start()), to_cpt(m.end()));
        if ms > prev {
            out.push(ms - prev);
        }
        if me > ms {
            out.push(me - ms);
        }
        prev = me;
    }
    if end > prev {
        out.push(end - prev);
    }
}

/// Emits word boundaries as llama.cpp's `_add_token`: a word from the previous cut to `to`.
struct Cuts<'a> {
    prev: usize,
    out: &'a mut Vec<usize>,
}

impl Cuts<'_> {
    #[inline]
    fn cut(&mut self, to: usize) -> usize {
        let len = to - self.prev;
        if len > 0 {
            self.out.push(len);
        }
        self.prev = to;
        len
    }
}

#[inline]
fn is_contraction(cpts: &[char], pos: usize, end: usize, fold: bool) -> usize {
    let f = |c: char| if fold { unicode::lower(c) } else { c };
    if cpts[pos] != '\'' || pos + 1 >= end {
        return 0;
    }
    let n = f(cpts[pos + 1]);
    if matches!(n, 's' | 't' | 'm' | 'd') {
        return 2;
    }
    if pos + 2 < end {
        let nn = f(cpts[pos + 2]);
        if matches!((n, nn), ('r', 'e') | ('v', 'e') | ('l', 'l')) {
            return 3;
        }
    }
    0
}

/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
fn split_gpt2(cpts: &[char], fl: &[u8], start: usize, end: usize, out: &mut Vec<usize>) {
    let get = |p: usize| if p < end { fl[p] } else { 0 };
    let mut cuts = Cuts { prev: start, out };
    let mut pos = start;
    while pos < end {
        let cpt = cpts[pos];
        let f = fl[pos];
        let c = is_contraction(cpts, pos, end, false);
        if c > 0 {
            pos += cuts.cut(pos + c);
            continue;
        }
        let f2 = if cpt == ' ' { get(pos + 1) } else { f };
        let sp = usize::from(cpt == ' ');
        if f2 & LETTER != 0 {
            pos += sp;
            while get(pos) & LETTER != 0 {
                pos += 1;
            }
            cuts.cut(pos);
            continue;
        }
        if f2 & NUMBER != 0 {
            pos += sp;
            while get(pos) & NUMBER != 0 {
                pos += 1;
            }
            cuts.cut(pos);
            continue;
        }
        let other = |x: u8| x != 0 && x & (WHITESPACE | LETTER | NUMBER) == 0;
        if other(f2) {
            pos += sp;
            while other(get(pos)) {
                pos += 1;
            }
            cuts.cut(pos);
            continue;
        }
        let mut nws = 0;
        while get(pos + nws) & WHITESPACE != 0 {
            nws += 1;
        }
        if nws > 1 && pos + nws < end {
            pos += nws - 1;
            cuts.cut(pos);
            continue;
        }
        if nws > 0 {
            pos += nws;
            cuts.cut(pos);
            continue;
        }
        pos += 1;
        cuts.cut(pos);
    }
}

/// Llama 3: `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
/// Qwen 2 has `\p{N}` for `\p{N}{1,3}`; Qwen 3.5 also counts marks as letters.
fn split_llama3(
    cpts: &[char],
    fl: &[u8],
    start: usize,
    end: usize,
    digits: usize,
    marks: bool,
    out: &mut Vec<usize>,
) {
    let get = |p: usize| if p < end { fl[p] } else { 0 };
    let letter_bits = if marks { LETTER | MARK } else { LETTER };
    let word_bits = WHITESPACE | NUMBER | letter_bits;
    let mut cuts = Cuts { prev: start, out };
    let mut pos = start;
    while pos < end {
        let cpt = cpts[pos];
        let f = fl[pos];
        let c = is_contraction(cpts, pos, end, true);
        if c > 0 {
            pos += cuts.cut(pos + c);
            continue;
        }
        if !(cpt == '\r' || cpt == '\n' || f & NUMBER != 0)
            && (f & letter_bits != 0 || get(pos + 1) & letter_bits != 0)
        {
            pos += 1;
            while get(pos) & letter_bits != 0 {
                pos += 1;
            }
            cuts.cut(pos);
            continue;
        }
        if f & NUMBER != 0 {
            if digits == 1 {
                pos += 1;
            } else {
                let mut ini = pos;
                while get(pos) & NUMBER != 0 {
                    pos += 1;
                    if pos - ini >= digits {
                        cuts.cut(pos);
                        ini = pos;
                    }
                }
            }
            cuts.cut(pos);
            continue;
        }
        let f2 = if cpt == ' ' { get(pos + 1) } else { f };
        if f2 & word_bits == 0 {
            // llama.cpp tests the current code point here (always in range), not f2.
            pos += usize::from(cpt == ' ');
            while get(pos) != 0 && get(pos) & word_bits == 0 {
                pos += 1;
            }
            while pos < end && (cpts[pos] == '\r' || cpts[pos] == '\n') {
                pos += 1;
            }
            cuts.cut(pos);
            continue;
        }
        let mut nws = 0;
        let mut last_rn = 0;
        while get(pos + nws) & WHITESPACE != 0 {
            let c2 = cpts[pos + nws];
            if c2 == '\r' || c2 == '\n' {
                last_rn = pos + nws + 1;
            }
            nws += 1;
        }
        if last_rn > 0 {
            pos = last_rn;
            cuts.cut(pos);
            continue;
        }
        if nws > 1 && pos + nws < end {
            pos += nws - 1;
            cuts.cut(pos);
            continue;
        }
        if nws > 0 {
            pos += nws;
            cuts.cut(pos);
            continue;
        }
        pos += 1;
        cuts.cut(pos);
    }
}

/// llama.cpp's `unicode_cpt_is_han`.
fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0x20000..=0x2A6DF | 0x2A700..=0x2B73F
        | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0x2CEB0..=0x2EBEF | 0xF900..=0xFAFF
        | 0x2F800..=0x2FA1F)
}

/// Kimi-K2: Han runs, then letter words (without Han) with an optional leading character and
/// contraction, then the Llama 3 rules.
fn split_kimi(cpts: &[char], fl: &[u8], start: usize, end: usize, out: &mut Vec<usize>) {
    let get = |p: usize| if p < end { fl[p] } else { 0 };
    let han = |p: usize| p < end && is_han(cpts[p]);
    let word_letter = |p: usize| get(p) & LETTER != 0 && !han(p);
    let mut cuts = Cuts { prev: start, out };
    let mut pos = start;
    while pos < end {
        let cpt = cpts[pos];
        let f = fl[pos];
        if is_han(cpt) {
            while han(pos) {
                pos += 1;
            }
            cuts.cut(pos);
            continue;
        }
        let lead_ok = !(cpt == '\r' || cpt == '\n' || f & (LETTER | NUMBER) != 0);
        if word_letter(pos) || (lead_ok && word_letter(pos + 1)) {
            let mut has_lead = false;
            if lead_ok {
                has_lead = true;
                pos += 1;
            }
            let mut has_letters = false;
            while word_letter(pos) {
                has_letters = true;
                pos += 1;
            }
            if has_letters || (!has_lead && word_letter(pos)) {
                if !has_letters {
                    pos += 1;
                }
                while word_letter(pos) {
                    pos += 1;
                }
                if pos < end {
                    pos += is_contraction(cpts, pos, end, true);
                }
                cuts.cut(pos);
                continue;
            } else if has_lead {
                pos -= 1;
            }
        }
        if f & NUMBER != 0 {
            let mut ini = pos;
            while get(pos) & NUMBER != 0 {
                pos += 1;
                if pos - ini >= 3 {
                    cuts.cut(pos);
                    ini = pos;
                }
            }
            cuts.cut(pos);
            continue;
        }
        let f2 = if cpt == ' ' { get(pos + 1) } else { f };
        let other = |x: u8| x != 0 && x & (WHITESPACE | LETTER | NUMBER) == 0;
        if other(f2) {
            pos += usize::from(cpt == ' ');
            while other(get(pos)) {
                pos += 1;
            }
            while pos < end && (cpts[pos] == '\r' || cpts[pos] == '\n') {
                pos += 1;
            }
            cuts.cut(pos);
            continue;
        }
        let mut nws = 0;
        let mut last_rn = 0;
        while get(pos + nws) & WHITESPACE != 0 {
            let c2 = cpts[pos + nws];
            if c2 == '\r' || c2 == '\n' {
                last_rn = pos + nws + 1;
            }
            nws += 1;
        }
        if last_rn > 0 {
            pos = last_rn;
            cuts.cut(pos);
            continue;
        }
        if nws > 1 && pos + nws < end {
            pos += nws - 1;
            cuts.cut(pos);
            continue;
        }
        if nws > 0 {
            pos += nws;
            cuts.cut(pos);
            continue;
        }
        pos += 1;
        cuts.cut(pos);
    }
}

/// Digit runs cut into groups of three from the right; as in llama.cpp, the text before a run
/// joins the run's first group.
fn split_digit_groups(fl: &[u8], start: usize, end: usize, out: &mut Vec<usize>) {
    let mut cuts = Cuts { prev: start, out };
    let mut pos = start;
    while pos < end {
        if fl[pos] & NUMBER != 0 {
            let run_start = pos;
            while pos < end && fl[pos] & NUMBER != 0 {
                pos += 1;
            }
            let count = pos - run_start;
            let mut cur = run_start;
            let rem = count % 3;
            if rem > 0 {
                cur += rem;
                cuts.cut(cur);
            }
            while cur < run_start + count {
                cur += 3;
                cuts.cut(cur);
            }
            continue;
        }
        pos += 1;
    }
    if cuts.prev < end {
        cuts.cut(end);
    }
}

/// Runs of `\n` and runs of anything else.
fn split_newlines(cpts: &[char], start: usize, end: usize, out: &mut Vec<usize>) {
    let mut pos = start;
    while pos < end {
        let nl = cpts[pos] == '\n';
        let run = pos;
        while pos < end && (cpts[pos] == '\n') == nl {
            pos += 1;
        }
        out.push(pos - run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::presets::{self, PreType};

    fn words(exprs: &[&str], text: &str) -> Vec<String> {
        let sp = Splitter::new(exprs).unwrap();
        let mut out = Vec::new();
        sp.split(text, &mut SplitScratch::default(), &mut out);
        out.iter().map(|&(a, b)| text[a..b].to_string()).collect()
    }

    #[test]
    fn every_preset_compiles() {
        for name in [
            "default",
            "llama-bpe",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "falcon",
            "mpt",
            "starcoder",
            "gpt-2",
            "refact",
            "command-r",
            "qwen2",
            "qwen35",
            "stablelm2",
            "olmo",
            "dbrx",
            "smaug-bpe",
            "poro-chat",
            "chatglm-bpe",
            "viking",
            "jais",
            "tekken",
            "smollm",
            "codeshell",
            "bloom",
            "gpt3-finnish",
            "exaone",
            "chameleon",
            "minerva-7b",
            "gpt-4o",
            "llama4",
            "superbpe",
            "trillion",
            "bailingmoe",
            "seed-coder",
            "hunyuan",
            "hunyuan-dense",
            "kimi-k2",
            "grok-2",
            "afmoe",
            "gemma4",
            "tiny_aya",
            "exaone-moe",
            "granite-embed-multi-97m",
            "youtu",
            "spark2_5",
            "jais-2",
            "minimax-m2",
            "laguna",
            "minicpm5",
            "ufakzeka",
            "whitespace",
            "sarvam-moe",
            "pixtral",
        ] {
            let cfg = presets::lookup(name).unwrap_or_else(|| panic!("{name} unknown"));
            let (exprs, _) = presets::expressions(cfg.pre_type);
            let sp = Splitter::new(exprs).unwrap_or_else(|e| panic!("{name}: {e}"));
            let text = "Hello, world! 12345 'll ünïcödé 日本語\n\n  x\t€";
            let mut out = Vec::new();
            sp.split(text, &mut SplitScratch::default(), &mut out);
            let joined: String = out.iter().map(|&(a, b)| &text[a..b]).collect();
            assert_eq!(joined, text, "{name} lost text");
        }
    }

    #[test]
    fn llama3_splits_like_the_reference() {
        let (exprs, _) = presets::expressions(PreType::Llama3);
        assert_eq!(
            words(exprs, "Hello world's 1234567 !!\n\n  x"),
            ["Hello", " world", "'s", " ", "123", "456", "7", " !!\n\n", " ", " x"]
        );
    }

    #[test]
    fn gpt2_splits_like_the_reference() {
        let (exprs, _) = presets::expressions(PreType::Gpt2);
        assert_eq!(
            words(exprs, "Hello  world's 12 ?!"),
            ["Hello", " ", " world", "'s", " 12", " ?!"]
        );
    }

    #[test]
    fn collapsed_regex_matches_llama_cpp_categories() {
        // \p{N} matches the placeholder of every number and ASCII digits; `~` counts as a symbol.
        assert_eq!(words(&["\\p{N}"], "a1²b"), ["a", "1", "²", "b"]);
        assert_eq!(words(&["[\\p{S}]+"], "a~$b"), ["a", "~$", "b"]);
        assert_eq!(translate("\\d+", false), "[0-9]+");
    }
}
