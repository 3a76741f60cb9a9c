//! nomoat-tokenizer: the tokenizers of GGUF vocabularies, producing exactly llama.cpp's ids.
//!
//! - [`Vocab`]: `tokenizer.ggml.*` validated as hostile input, with llama.cpp's defaults and
//!   fix-ups (special ids, flags, end-of-generation set, per-token attributes).
//! - [`Tokenizer::encode`]: special-token matching, then SPM (`model = llama`) or BPE (`gpt2`,
//!   `gemma4`) with every llama.cpp pre-tokenizer preset ([`PreType`]).
//! - [`Tokenizer::detokenize`] / [`Tokenizer::decode`] / [`StreamDecoder`]: ids back to text.
#![forbid(unsafe_code)]

mod bpe;
mod decode;
mod error;
mod from_gguf;
mod map;
mod presets;
mod special;
mod split;
mod spm;
mod unicode;
mod vocab;

use nomoat_gguf::Gguf;

pub use decode::{DecodeOptions, StreamDecoder};
pub use error::TokenizerError;
pub use presets::PreType;
pub use vocab::{attr, SpecialIds, TokenType, Vocab, VocabKind, VocabParts};

use special::{Frag, SpecialTrie};
use split::{SplitScratch, Splitter};

/// A vocabulary ready to encode and decode.
#[derive(Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    splitter: Option<Splitter>,
    trie: SpecialTrie,
}

impl Tokenizer {
    /// Builds the tokenizer of a GGUF file's `tokenizer.ggml.*` keys.
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_vocab(Vocab::from_gguf(g)?)
    }

    /// Builds the tokenizer of a vocabulary.
    pub fn from_vocab(vocab: Vocab) -> Result<Tokenizer, TokenizerError> {
        let splitter = match vocab.kind {
            VocabKind::Spm => None,
            VocabKind::Bpe => Some(Splitter::new(presets::expressions(vocab.pre_type).0)?),
        };
        let trie = SpecialTrie::new(&vocab);
        Ok(Tokenizer {
            vocab,
            splitter,
            trie,
        })
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Number of tokens.
    pub fn n_vocab(&self) -> usize {
        self.vocab.len()
    }

    /// The BOS id, if any.
    pub fn bos(&self) -> Option<u32> {
        self.vocab.special.bos
    }

    /// The EOS id, if any.
    pub fn eos(&self) -> Option<u32> {
        self.vocab.special.eos
    }

    /// The end-of-generation ids (EOS, EOT, EOM, `<end_of_turn>`, `<|im_end|>`, … as llama.cpp
    /// collects them), ascending.
    pub fn eog_ids(&self) -> &[u32] {
        &self.vocab.eog
    }

    /// Whether generating `id` ends the generation.
    pub fn is_eog(&self, id: u32) -> bool {
        self.vocab.eog.binary_search(&id).is_ok()
    }

    /// Token ids of `text`, as llama.cpp's `llama_tokenize(text, add_special, parse_special)`:
    /// `add_special` adds BOS/EOS as the vocabulary asks; `parse_special` matches control tokens
    /// written in the text (user-defined tokens are always matched).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let v = &self.vocab;
        let mut frags = Vec::new();
        special::partition(v, &self.trie, text, parse_special, &mut frags);
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && v.add_bos {
            out.extend(v.special.bos);
        }
        match (&self.splitter, v.kind) {
            (Some(splitter), VocabKind::Bpe) => {
                let mut ss = SplitScratch::default();
                let mut bs = bpe::BpeScratch::default();
                let mut words = Vec::new();
                let mut escaped = String::new();
                for f in &frags {
                    match *f {
                        Frag::Token(id) => out.push(id),
                        Frag::Text(a, b) => {
                            let t = if v.escape_whitespaces {
                                escaped.clear();
                                escaped.push_str(&text[a..b].replace(' ', "▁"));
                                escaped.as_str()
                            } else {
                                &text[a..b]
                            };
                            words.clear();
                            splitter.split(t, &mut ss, &mut words);
                            for &(ws, we) in &words {
                                bpe::word(v, &t.as_bytes()[ws..we], &mut bs, &mut out);
                            }
                        }
                    }
                }
            }
            _ => {
                let mut s = spm::SpmScratch::default();
                let mut buf: Vec<u8> = Vec::new();
                let mut prev_special = true;
                for f in &frags {
                    match *f {
                        Frag::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                        Frag::Text(a, b) => {
                            buf.clear();
                            if v.add_space_prefix && prev_special {
                                buf.extend_from_slice("▁".as_bytes());
                            }
                            for &c in &text.as_bytes()[a..b] {
                                if c == b' ' {
                                    buf.extend_from_slice("▁".as_bytes());
                                } else {
                                    buf.push(c);
                                }
                            }
                            spm::tokenize(v, &buf, &mut s, &mut out);
                            prev_special = false;
                        }
                    }
                }
            }
        }
        if add_special && v.add_eos {
            out.extend(v.special.eos);
        }
        out
    }

    /// The bytes of one token (llama.cpp's `token_to_piece` with no lstrip): with `special` off,
    /// control and unknown tokens are empty. Pieces may be partial UTF-8 (byte tokens).
    pub fn token_to_piece(&self, id: u32, special: bool) -> Vec<u8> {
        decode::piece(&self.vocab, id, special).to_vec()
    }

    /// Like [`Tokenizer::token_to_piece`] without copying.
    pub fn piece_bytes(&self, id: u32, special: bool) -> &[u8] {
        decode::piece(&self.vocab, id, special)
    }

    /// The bytes of `ids`, as llama.cpp's `llama_detokenize`: the added SPM space prefix is removed
    /// from the first piece, BPE vocabularies with `clean_spaces` drop spaces before punctuation.
    pub fn detokenize(&self, ids: &[u32], opts: DecodeOptions) -> Vec<u8> {
        decode::detokenize(&self.vocab, ids, opts)
    }

    /// Text of `ids` with special tokens hidden (invalid UTF-8 becomes U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> String {
        let b = self.detokenize(ids, DecodeOptions::default());
        String::from_utf8_lossy(&b).into_owned()
    }

    /// A streaming decoder for a whole sequence with these options (see [`StreamDecoder`]).
    pub fn stream_decoder(&self, opts: DecodeOptions) -> StreamDecoder {
        StreamDecoder::new(opts)
    }
}
