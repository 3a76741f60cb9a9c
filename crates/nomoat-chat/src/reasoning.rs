//! Reasoning blocks (`<think>…</think>` of Qwen3, QwQ, DeepSeek-R1 and its distills;
//! `[THINK]…[/THINK]` of Magistral/Ministral reasoning models) split off a reply's text.
//! gpt-oss's analysis channel is handled by the harmony parser in [`crate::tools`].
//!
//! A block counts only at the start of the reply (after whitespace), or from the first byte
//! when the prompt already opened it ([`ThinkTags::prompt_opens`]). Whitespace around the
//! reasoning text and right after the close tag is dropped; an unclosed block is reasoning to
//! the end (the model ran out of tokens while thinking).

use crate::tools::Event;

/// The open and close tags of a reasoning block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThinkTags {
    pub open: String,
    pub close: String,
}

impl ThinkTags {
    /// `<think>` … `</think>`.
    pub fn think() -> ThinkTags {
        ThinkTags {
            open: "<think>".into(),
            close: "</think>".into(),
        }
    }

    /// Mistral's `[THINK]` … `[/THINK]`.
    pub fn mistral() -> ThinkTags {
        ThinkTags {
            open: "[THINK]".into(),
            close: "[/THINK]".into(),
        }
    }

    /// The tags a chat template writes, if any (gpt-oss's harmony needs none: its parser splits
    /// the analysis channel itself).
    pub fn detect(template: &str) -> Option<ThinkTags> {
        if template.contains("<think>") {
            Some(ThinkTags::think())
        } else if template.contains("[THINK]") {
            Some(ThinkTags::mistral())
        } else {
            None
        }
    }

    /// Whether a rendered prompt ends inside an open block (DeepSeek-R1's
    /// `<｜Assistant｜><think>\n`), so the reply starts inside it. Qwen3's
    /// `enable_thinking=false` prompt ends with a closed, empty block: false.
    pub fn prompt_opens(&self, prompt: &str) -> bool {
        prompt.trim_end().ends_with(&self.open)
    }
}

enum State {
    /// Nothing decided yet: the reply may open a block.
    Start,
    /// Inside the block; `lead` while no reasoning text has been emitted (leading whitespace
    /// is dropped).
    Inside {
        lead: bool,
    },
    /// Right after the close tag: leading whitespace is dropped.
    AfterClose,
    Passthrough,
}

/// Splits reasoning off the start of a reply, fed delta by delta.
pub(crate) struct ThinkSplitter {
    tags: ThinkTags,
    state: State,
    buf: String,
}

impl ThinkSplitter {
    pub(crate) fn new(tags: ThinkTags, starts_open: bool) -> Self {
        let state = if starts_open {
            State::Inside { lead: true }
        } else {
            State::Start
        };
        ThinkSplitter {
            tags,
            state,
            buf: String::new(),
        }
    }

    pub(crate) fn feed(&mut self, text: &str, out: &mut Vec<Event>) {
        self.buf.push_str(text);
        self.run(false, out);
    }

    pub(crate) fn finish(&mut self, out: &mut Vec<Event>) {
        self.run(true, out);
    }

    fn run(&mut self, fin: bool, out: &mut Vec<Event>) {
        loop {
            match self.state {
                State::Start => {
                    let trimmed = self.buf.trim_start();
                    if trimmed.starts_with(&self.tags.open) {
                        let cut = self.buf.len() - trimmed.len() + self.tags.open.len();
                        self.buf.drain(..cut);
                        self.state = State::Inside { lead: true };
                    } else if !fin && self.tags.open.starts_with(trimmed) {
                        return;
                    } else {
                        self.state = State::Passthrough;
                    }
                }
                State::Inside { lead } => {
                    if lead {
                        let n = self.buf.len() - self.buf.trim_start().len();
                        self.buf.drain(..n);
                    }
                    if let Some(p) = self.buf.find(&self.tags.close) {
                        let text = self.buf[..p].trim_end().to_owned();
                        out.push(Event::Reasoning(text));
                        self.buf.drain(..p + self.tags.close.len());
                        self.state = State::AfterClose;
                        continue;
                    }
                    if fin {
                        out.push(Event::Reasoning(self.buf.trim_end().to_owned()));
                        self.buf.clear();
                        return;
                    }
                    let keep = partial_suffix(&self.buf, &self.tags.close);
                    let emit = self.buf[..self.buf.len() - keep].trim_end().len();
                    if emit > 0 {
                        out.push(Event::Reasoning(self.buf[..emit].to_owned()));
                        self.buf.drain(..emit);
                        self.state = State::Inside { lead: false };
                    }
                    return;
                }
                State::AfterClose => {
                    let n = self.buf.len() - self.buf.trim_start().len();
                    self.buf.drain(..n);
                    if self.buf.is_empty() && !fin {
                        return;
                    }
                    self.state = State::Passthrough;
                }
                State::Passthrough => {
                    if !self.buf.is_empty() {
                        out.push(Event::Content(std::mem::take(&mut self.buf)));
                    }
                    return;
                }
            }
        }
    }
}

/// Length of the longest proper prefix of `tag` that `buf` ends with.
fn partial_suffix(buf: &str, tag: &str) -> usize {
    (1..tag.len())
        .rev()
        .find(|&n| tag.is_char_boundary(n) && buf.ends_with(&tag[..n]))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(tags: ThinkTags, open: bool, parts: &[&str]) -> (String, String) {
        let mut s = ThinkSplitter::new(tags, open);
        let mut out = Vec::new();
        for p in parts {
            s.feed(p, &mut out);
        }
        s.finish(&mut out);
        let (mut r, mut c) = (String::new(), String::new());
        for e in out {
            match e {
                Event::Reasoning(t) => r.push_str(&t),
                Event::Content(t) => c.push_str(&t),
                Event::Call { .. } => unreachable!("the splitter makes no calls"),
            }
        }
        (r, c)
    }

    #[test]
    fn qwen3_block() {
        let t = ThinkTags::think();
        let want = ("plan it".to_owned(), "Answer.".to_owned());
        assert_eq!(
            split(t.clone(), false, &["<think>\nplan it\n</think>\n\nAnswer."]),
            want
        );
        assert_eq!(
            split(
                t,
                false,
                &["<th", "ink>\npl", "an it\n</th", "ink>\n", "\nAnswer."]
            ),
            want
        );
    }

    #[test]
    fn prompt_opened_and_unclosed() {
        let t = ThinkTags::think();
        assert_eq!(
            split(t.clone(), true, &["hmm</think>ok"]),
            ("hmm".into(), "ok".into())
        );
        assert_eq!(
            split(t.clone(), false, &["<think>still going  "]),
            ("still going".into(), "".into())
        );
        assert_eq!(
            split(t.clone(), false, &["no block <think>x</think>"]),
            ("".into(), "no block <think>x</think>".into())
        );
        assert!(t.prompt_opens("<｜Assistant｜><think>\n"));
        assert!(!t.prompt_opens("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
    }

    #[test]
    fn mistral_tags() {
        let got = split(ThinkTags::mistral(), false, &["[THINK]a b[/THINK]c"]);
        assert_eq!(got, ("a b".into(), "c".into()));
    }
}
