//! Built-in templates for models whose GGUF carries no `tokenizer.chat_template`, written to
//! produce what the models' official templates produce for plain conversations.

/// The built-in template families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builtin {
    /// Gemma 3 turns (`<start_of_turn>user\n…<end_of_turn>\n`), system prompt folded into the
    /// first user turn.
    Gemma,
    /// Llama 2 chat (`[INST] <<SYS>>…<</SYS>> … [/INST]`).
    Llama2,
    /// Llama 3 instruct (`<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>`).
    Llama3,
    /// ChatML (`<|im_start|>role\n…<|im_end|>\n`): Qwen, SmolLM and many fine-tunes.
    ChatMl,
    /// Mistral instruct (`[INST] … [/INST]`).
    Mistral,
    /// Phi-3 (`<|user|>\n…<|end|>\n`).
    Phi3,
}

impl Builtin {
    /// Every built-in, for listings and tests.
    pub const ALL: [Builtin; 6] = [
        Builtin::Gemma,
        Builtin::Llama2,
        Builtin::Llama3,
        Builtin::ChatMl,
        Builtin::Mistral,
        Builtin::Phi3,
    ];

    /// The Jinja source.
    pub fn source(self) -> &'static str {
        match self {
            Builtin::Gemma => include_str!("builtin/gemma.jinja"),
            Builtin::Llama2 => include_str!("builtin/llama2.jinja"),
            Builtin::Llama3 => include_str!("builtin/llama3.jinja"),
            Builtin::ChatMl => include_str!("builtin/chatml.jinja"),
            Builtin::Mistral => include_str!("builtin/mistral.jinja"),
            Builtin::Phi3 => include_str!("builtin/phi3.jinja"),
        }
    }

    /// A short name (`gemma`, `llama2`, `llama3`, `chatml`, `mistral`, `phi3`).
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Gemma => "gemma",
            Builtin::Llama2 => "llama2",
            Builtin::Llama3 => "llama3",
            Builtin::ChatMl => "chatml",
            Builtin::Mistral => "mistral",
            Builtin::Phi3 => "phi3",
        }
    }

    /// The built-in named `name` (as [`Builtin::name`] spells it).
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Picks a family from a GGUF's `general.architecture` and `general.name`.
    pub fn detect(arch: &str, name: Option<&str>) -> Option<Builtin> {
        let arch = arch.to_ascii_lowercase();
        let name = name.unwrap_or("").to_ascii_lowercase();
        let name_has = |keys: &[&str]| keys.iter().any(|k| name.contains(k));
        match arch.as_str() {
            a if a.starts_with("gemma") => Some(Builtin::Gemma),
            a if a.starts_with("qwen") => Some(Builtin::ChatMl),
            "phi3" => Some(Builtin::Phi3),
            "mistral" | "mistral3" => Some(Builtin::Mistral),
            "llama" => {
                if name_has(&["mistral", "mixtral", "ministral"]) {
                    Some(Builtin::Mistral)
                } else if name_has(&["llama-3", "llama 3", "llama3", "llama_3"]) {
                    Some(Builtin::Llama3)
                } else if name_has(&["llama-2", "llama 2", "llama2", "llama_2"]) {
                    Some(Builtin::Llama2)
                } else if name_has(&["smollm", "qwen", "chatml", "hermes"]) {
                    Some(Builtin::ChatMl)
                } else {
                    None
                }
            }
            _ if name_has(&["qwen", "smollm", "chatml"]) => Some(Builtin::ChatMl),
            _ => None,
        }
    }
}

impl Builtin {
    /// Picks a family from the special tokens of a vocabulary (`<|start_header_id|>` means Llama 3,
    /// `<start_of_turn>` Gemma, `<|im_start|>` ChatML, `<|assistant|>` with `<|end|>` Phi-3,
    /// `[INST]` Mistral), for files whose metadata names no known family. Llama 2 has no such
    /// token and is only found by name.
    pub fn detect_from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Option<Builtin> {
        let (mut llama3, mut gemma, mut chatml, mut phi_a, mut phi_e, mut inst) =
            (false, false, false, false, false, false);
        for t in tokens {
            match t {
                "<|start_header_id|>" => llama3 = true,
                "<start_of_turn>" => gemma = true,
                "<|im_start|>" => chatml = true,
                "<|assistant|>" => phi_a = true,
                "<|end|>" => phi_e = true,
                "[INST]" => inst = true,
                _ => {}
            }
        }
        [
            (llama3, Builtin::Llama3),
            (gemma, Builtin::Gemma),
            (chatml, Builtin::ChatMl),
            (phi_a && phi_e, Builtin::Phi3),
            (inst, Builtin::Mistral),
        ]
        .into_iter()
        .find_map(|(hit, b)| hit.then_some(b))
    }
}

/// The built-in template source for a model of architecture `arch` named `name`, if its family
/// is known.
pub fn builtin_for(arch: &str, name: Option<&str>) -> Option<&'static str> {
    Builtin::detect(arch, name).map(Builtin::source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_families() {
        assert_eq!(
            Builtin::detect("gemma3", Some("Gemma 3 270m")),
            Some(Builtin::Gemma)
        );
        assert_eq!(Builtin::detect("qwen2", None), Some(Builtin::ChatMl));
        assert_eq!(Builtin::detect("phi3", None), Some(Builtin::Phi3));
        assert_eq!(
            Builtin::detect("llama", Some("Meta-Llama-3.1-8B-Instruct")),
            Some(Builtin::Llama3)
        );
        assert_eq!(
            Builtin::detect("llama", Some("Llama 2 7B Chat")),
            Some(Builtin::Llama2)
        );
        assert_eq!(
            Builtin::detect("llama", Some("Mistral-7B-Instruct-v0.2")),
            Some(Builtin::Mistral)
        );
        assert_eq!(
            Builtin::detect("llama", Some("SmolLM2 135M")),
            Some(Builtin::ChatMl)
        );
        assert_eq!(Builtin::detect("llama", Some("mystery")), None);
        assert_eq!(Builtin::detect("bert", None), None);
        assert!(builtin_for("gemma3", None)
            .unwrap()
            .contains("<start_of_turn>"));
        let toks = [
            "<s>",
            "<|begin_of_text|>",
            "<|start_header_id|>",
            "<|eot_id|>",
        ];
        assert_eq!(Builtin::detect_from_tokens(toks), Some(Builtin::Llama3));
        assert_eq!(
            Builtin::detect_from_tokens(["<|user|>", "<|assistant|>", "<|end|>"]),
            Some(Builtin::Phi3)
        );
        assert_eq!(
            Builtin::detect_from_tokens(["<s>", "[INST]"]),
            Some(Builtin::Mistral)
        );
        assert_eq!(Builtin::detect_from_tokens(["<s>", "</s>", "a"]), None);
        for b in Builtin::ALL {
            assert_eq!(Builtin::from_name(b.name()), Some(b));
        }
    }
}
