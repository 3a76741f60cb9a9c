//! Stop strings over streamed text, never emitting part of one.
//!
//! Text arrives in UTF-8-complete pieces (the tokenizer's stream decoder assembles split
//! characters). [`StopStrings::push`] releases the text that can no longer be the start of a stop
//! string and holds back the rest; when a stop string completes, the text before it is released
//! and generation ends. End-of-generation *tokens* are checked by the caller (`is_eog`), before
//! their text ever gets here.

/// Why generation ended, as the OpenAI API and `generate --json` spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The token limit (or the context) was reached.
    Length,
    /// An end-of-generation token or a stop string.
    Stop,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Length => "length",
            FinishReason::Stop => "stop",
        }
    }
}

/// Watches streamed text for stop strings.
#[derive(Debug, Default, Clone)]
pub struct StopStrings {
    stops: Vec<String>,
    /// Text received but not yet released: always a (possibly empty) proper prefix of some stop
    /// string, so it is at most the longest stop string's length.
    pending: String,
    /// Index into `stops` of the stop string that completed, once one has.
    matched: Option<usize>,
}

impl StopStrings {
    /// Empty strings are ignored (they would stop before anything is said).
    pub fn new<I, S>(stops: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let stops: Vec<String> = stops
            .into_iter()
            .map(Into::into)
            .filter(|s: &String| !s.is_empty())
            .collect();
        let cap = stops.iter().map(String::len).max().unwrap_or(0) * 2 + 64;
        StopStrings {
            stops,
            pending: String::with_capacity(cap),
            matched: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.stops.is_empty()
    }

    /// Adds `text`; appends what is safe to show to `out`. Returns `true` when a stop string
    /// completed: `out` then ends just before it and the rest is dropped.
    pub fn push(&mut self, text: &str, out: &mut String) -> bool {
        if self.stops.is_empty() {
            out.push_str(text);
            return false;
        }
        self.pending.push_str(text);
        // The earliest match wins; at the same position, the first listed.
        if let Some((pos, i)) = self
            .stops
            .iter()
            .enumerate()
            .filter_map(|(i, s)| self.pending.find(s.as_str()).map(|pos| (pos, i)))
            .min()
        {
            out.push_str(&self.pending[..pos]);
            self.pending.clear();
            self.matched = Some(i);
            return true;
        }
        let hold = self.held_suffix_len();
        let release = self.pending.len() - hold;
        out.push_str(&self.pending[..release]);
        self.pending.drain(..release);
        false
    }

    /// Releases held-back text at the end of generation (no stop string can complete any more).
    pub fn flush(&mut self, out: &mut String) {
        out.push_str(&self.pending);
        self.pending.clear();
    }

    /// The stop string that ended the text, once [`StopStrings::push`] has returned `true`
    /// (the Anthropic API reports which one matched).
    pub fn matched(&self) -> Option<&str> {
        self.matched.map(|i| self.stops[i].as_str())
    }

    /// Drops held-back text and starts over (a new answer).
    pub fn reset(&mut self) {
        self.pending.clear();
        self.matched = None;
    }

    /// Length of the longest suffix of `pending` that is a proper prefix of a stop string.
    fn held_suffix_len(&self) -> usize {
        let p = self.pending.as_bytes();
        let mut best = 0;
        for s in &self.stops {
            let s = s.as_bytes();
            let max = (s.len() - 1).min(p.len());
            for k in (best + 1..=max).rev() {
                if p[p.len() - k..] == s[..k] && self.pending.is_char_boundary(p.len() - k) {
                    best = k;
                    break;
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], pieces: &[&str]) -> (String, bool, Vec<String>) {
        let mut s = StopStrings::new(stops.iter().copied());
        let mut out = String::new();
        let mut released = Vec::new();
        for p in pieces {
            let before = out.len();
            let stopped = s.push(p, &mut out);
            released.push(out[before..].to_string());
            if stopped {
                return (out, true, released);
            }
        }
        s.flush(&mut out);
        (out, false, released)
    }

    #[test]
    fn stops_across_pieces_without_emitting_the_stop_string() {
        let (out, stopped, released) =
            run(&["\n\nUser:"], &["Hello", "\n", "\nUs", "er:", " more"]);
        assert!(stopped);
        assert_eq!(out, "Hello");
        // Nothing of the stop string was ever released, even before it completed.
        assert_eq!(released, vec!["Hello", "", "", ""]);
    }

    #[test]
    fn releases_held_text_when_it_cannot_be_a_stop() {
        let (out, stopped, released) = run(&["END"], &["a E", "N", "x b"]);
        assert!(!stopped);
        assert_eq!(out, "a ENx b");
        assert_eq!(released, vec!["a ", "", "ENx b"]);
    }

    #[test]
    fn flush_releases_a_trailing_partial_match() {
        let (out, stopped, _) = run(&["END"], &["the EN"]);
        assert!(!stopped);
        assert_eq!(out, "the EN");
    }

    #[test]
    fn earliest_of_several_stops_wins_and_text_after_is_dropped() {
        let (out, stopped, _) = run(&["cd", "b"], &["abcde"]);
        assert!(stopped);
        assert_eq!(out, "a");
    }

    #[test]
    fn matched_names_the_stop_string_that_ended_the_text() {
        let mut s = StopStrings::new(["", "cd", "bc", "b"]);
        let mut out = String::new();
        assert!(!s.push("a", &mut out));
        assert_eq!(s.matched(), None);
        // "bc" and "b" both start at 1; the first listed of those wins, "cd" starts later.
        assert!(s.push("bcde", &mut out));
        assert_eq!((out.as_str(), s.matched()), ("a", Some("bc")));
        s.reset();
        assert_eq!(s.matched(), None);
    }

    #[test]
    fn utf8_stop_strings_hold_on_char_boundaries() {
        let (out, stopped, released) = run(&["☕!"], &["I like ☕", "?", " and ☕", "!"]);
        assert!(stopped);
        assert_eq!(out, "I like ☕? and ");
        assert_eq!(released[0], "I like ");
    }

    #[test]
    fn no_stops_is_a_pass_through_and_empty_stops_are_ignored() {
        let (out, stopped, _) = run(&[""], &["a", "b"]);
        assert!(!stopped);
        assert_eq!(out, "ab");
        assert!(StopStrings::new([""]).is_empty());
    }
}
