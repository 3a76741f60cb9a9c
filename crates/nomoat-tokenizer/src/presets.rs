//! The pre-tokenizer presets of llama.cpp (`tokenizer.ggml.pre`), generated from llama.cpp's
//! `llama-vocab.cpp` at commit 0c1e57098: each name's flags and each type's split expressions.
//! The expressions keep llama.cpp's text: [`crate::split`] gives `\p{..}` llama.cpp's meaning.

/// llama.cpp's `LLAMA_VOCAB_PRE_TYPE_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreType {
    Afmoe,
    Bailingmoe,
    Bloom,
    Chameleon,
    Chatglm4,
    Codeshell,
    CommandR,
    Dbrx,
    Deepseek3Llm,
    DeepseekCoder,
    DeepseekLlm,
    Default,
    Exaone,
    ExaoneMoe,
    Falcon,
    Gemma4,
    Gpt2,
    Gpt3Finnish,
    Gpt4o,
    GraniteDocling,
    GraniteEmbMulti,
    Grok2,
    Hunyuan,
    HunyuanDense,
    HyV4,
    Jais,
    Jais2,
    JoyaiLlm,
    KimiK2,
    Laguna,
    Llama3,
    Mellum2,
    Minerva,
    Minicpm5,
    MinimaxM2,
    Mpt,
    Olmo,
    Poro,
    Qwen2,
    Qwen35,
    Refact,
    SarvamMoe,
    SeedCoder,
    Smaug,
    Smollm,
    SolarOpen,
    Spark25,
    Stablelm2,
    Starcoder,
    Superbpe,
    Tekken,
    TinyAya,
    Trillion,
    Ufakzeka,
    Viking,
    Whitespace,
    Youtu,
}

/// Settings that a `tokenizer.ggml.pre` name implies for a BPE vocabulary.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PreConfig {
    pub pre_type: PreType,
    pub clean_spaces: bool,
    pub ignore_merges: bool,
    pub add_bos: bool,
    pub escape_whitespaces: bool,
    pub bos_null: bool,
}

/// The settings for a `tokenizer.ggml.pre` name, or `None` for a name llama.cpp does not know.
pub(crate) fn lookup(name: &str) -> Option<PreConfig> {
    let c =
        |pre_type, clean_spaces, ignore_merges, add_bos, escape_whitespaces, bos_null| PreConfig {
            pre_type,
            clean_spaces,
            ignore_merges,
            add_bos,
            escape_whitespaces,
            bos_null,
        };
    Some(match name {
        "default" => c(PreType::Default, true, false, false, false, false),
        "minicpm5" => c(PreType::Minicpm5, true, true, false, false, false),
        "llama3" => c(PreType::Llama3, true, true, true, false, false),
        "llama-v3" => c(PreType::Llama3, true, true, true, false, false),
        "llama-bpe" => c(PreType::Llama3, true, true, true, false, false),
        "falcon3" => c(PreType::Llama3, true, true, true, false, false),
        "falcon-h1" => c(PreType::Llama3, true, true, true, false, false),
        "pixtral" => c(PreType::Llama3, true, true, true, false, false),
        "midm-2.0" => c(PreType::Llama3, true, true, true, false, false),
        "lfm2" => c(PreType::Llama3, true, true, true, false, false),
        "jina-v5-nano" => c(PreType::Llama3, true, true, true, false, false),
        "deepseek-llm" => c(PreType::DeepseekLlm, false, false, false, false, false),
        "deepseek-coder" => c(PreType::DeepseekCoder, false, false, false, false, false),
        "deepseek-v3" => c(PreType::Deepseek3Llm, false, false, false, false, false),
        "spark2_5" => c(PreType::Spark25, false, false, false, false, false),
        "youtu" => c(PreType::Youtu, false, true, false, false, false),
        "falcon" => c(PreType::Falcon, true, false, false, false, false),
        "mpt" => c(PreType::Mpt, true, false, false, false, false),
        "starcoder" => c(PreType::Starcoder, true, false, false, false, false),
        "gpt-2" => c(PreType::Gpt2, true, false, false, false, false),
        "phi-2" => c(PreType::Gpt2, true, false, false, false, false),
        "jina-es" => c(PreType::Gpt2, true, false, false, false, false),
        "jina-de" => c(PreType::Gpt2, true, false, false, false, false),
        "gigachat" => c(PreType::Gpt2, true, false, false, false, false),
        "jina-v2-es" => c(PreType::Gpt2, true, false, false, false, false),
        "jina-v2-de" => c(PreType::Gpt2, true, false, false, false, false),
        "a.x-4.0" => c(PreType::Gpt2, true, false, false, false, false),
        "mellum" => c(PreType::Gpt2, true, false, false, false, false),
        "modern-bert" => c(PreType::Gpt2, true, false, false, false, false),
        "jais-2" => c(PreType::Jais2, true, false, false, false, false),
        "gemma4" => c(PreType::Gemma4, true, false, false, true, false),
        "granite-embed-multi-311m" => c(PreType::Gemma4, true, false, false, true, false),
        "sarvam-moe" => c(PreType::SarvamMoe, false, false, false, true, false),
        "jina-v1-en" => c(PreType::Gpt2, true, false, false, false, false),
        "jina-v2-code" => c(PreType::Gpt2, true, false, false, false, false),
        "roberta-bpe" => c(PreType::Gpt2, true, false, false, false, false),
        "whitespace" => c(PreType::Whitespace, true, false, false, false, false),
        "refact" => c(PreType::Refact, true, false, false, false, false),
        "command-r" => c(PreType::CommandR, false, false, false, false, false),
        "qwen2" => c(PreType::Qwen2, false, false, false, false, false),
        "deepseek-r1-qwen" => c(PreType::Qwen2, false, false, false, false, false),
        "kormo" => c(PreType::Qwen2, false, false, false, false, false),
        "f2llmv2" => c(PreType::Qwen2, false, false, false, false, false),
        "qwen35" => c(PreType::Qwen35, false, false, false, false, false),
        "stablelm2" => c(PreType::Stablelm2, true, false, false, false, false),
        "olmo" => c(PreType::Olmo, true, false, false, false, false),
        "dbrx" => c(PreType::Dbrx, true, false, false, false, false),
        "smaug-bpe" => c(PreType::Smaug, true, false, false, false, false),
        "poro-chat" => c(PreType::Poro, false, false, false, false, false),
        "chatglm-bpe" => c(PreType::Chatglm4, true, false, false, false, true),
        "glm4" => c(PreType::Chatglm4, true, true, false, false, true),
        "glm5" => c(PreType::Chatglm4, true, true, false, false, true),
        "viking" => c(PreType::Viking, false, false, false, false, false),
        "jais" => c(PreType::Jais, true, false, false, false, false),
        "tekken" => c(PreType::Tekken, false, true, true, false, false),
        "smollm" => c(PreType::Smollm, false, false, false, false, false),
        "codeshell" => c(PreType::Codeshell, true, false, false, false, false),
        "bloom" => c(PreType::Bloom, true, false, false, false, false),
        "gpt3-finnish" => c(PreType::Gpt3Finnish, true, false, false, false, false),
        "exaone" => c(PreType::Exaone, true, false, false, false, false),
        "exaone4" => c(PreType::Gpt2, true, false, false, false, false),
        "exaone-moe" => c(PreType::ExaoneMoe, true, false, false, false, false),
        "chameleon" => c(PreType::Chameleon, false, false, true, false, false),
        "minerva-7b" => c(PreType::Minerva, true, false, false, false, false),
        "megrez" => c(PreType::Qwen2, true, false, false, false, false),
        "gpt-4o" => c(PreType::Gpt4o, false, false, false, false, false),
        "llama4" => c(PreType::Gpt4o, false, false, false, false, false),
        "kanana2" => c(PreType::Gpt4o, false, false, false, false, false),
        "talkie" => c(PreType::Gpt4o, false, false, false, false, false),
        "granite-embed-multi-97m" => c(PreType::GraniteEmbMulti, false, true, false, false, false),
        "tiny_aya" => c(PreType::TinyAya, false, false, false, false, false),
        "cohere2moe" => c(PreType::TinyAya, false, false, false, false, false),
        "superbpe" => c(PreType::Superbpe, false, false, false, false, false),
        "trillion" => c(PreType::Trillion, false, false, false, false, false),
        "granite-docling" => c(PreType::GraniteDocling, false, false, false, false, false),
        "bailingmoe" => c(PreType::Bailingmoe, false, false, false, false, false),
        "bailingmoe2" => c(PreType::Bailingmoe, false, false, false, false, false),
        "llada-moe" => c(PreType::Bailingmoe, false, false, false, false, false),
        "seed-coder" => c(PreType::SeedCoder, false, false, false, false, false),
        "hunyuan" => c(PreType::Hunyuan, false, false, false, false, false),
        "hunyuan-dense" => c(PreType::HunyuanDense, false, false, false, false, false),
        "hy_v4" => c(PreType::HyV4, false, false, false, false, false),
        "joyai-llm" => c(PreType::JoyaiLlm, false, false, false, false, false),
        "kimi-k2" => c(PreType::KimiK2, false, false, false, false, false),
        "ufakzeka" => c(PreType::Ufakzeka, false, false, false, false, false),
        "grok-2" => c(PreType::Grok2, false, false, false, false, false),
        "afmoe" => c(PreType::Afmoe, false, false, false, false, false),
        "laguna" => c(PreType::Laguna, false, false, false, false, false),
        "minimax-m2" => c(PreType::MinimaxM2, false, false, false, false, false),
        "solar-open" => c(PreType::SolarOpen, false, false, false, false, false),
        "mellum2" => c(PreType::Mellum2, true, false, false, false, false),
        _ => return None,
    })
}

/// The split expressions of a pre-tokenizer type (applied in order) and whether the pieces are
/// then GPT-2 byte-encoded.
pub(crate) fn expressions(t: PreType) -> (&'static [&'static str], bool) {
    match t {
        PreType::Llama3 => (
            &[
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Jais2 => (
            &[
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s{512}(?!\\S)|\\s{256}(?!\\S)|\\s{128}(?!\\S)|\\s{64}(?!\\S)|\\s{32}(?!\\S)|\\s{16}(?!\\S)|\\s{8}(?!\\S)|\\s{4}(?!\\S)|\\s{1,2}(?!\\S)|\\s{1}",
            ],
            true,
        ),
        PreType::Dbrx | PreType::Smaug => (
            &[
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::DeepseekLlm => (
            &[
                "[\r\n]",
                "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
                "\\s?[!-/:-~！-／：-～‘-‟　-。]+",
                "\\s+$",
                "[一-龥ࠀ-一가-퟿]+",
                "\\p{N}+",
            ],
            true,
        ),
        PreType::Deepseek3Llm | PreType::HunyuanDense | PreType::JoyaiLlm | PreType::HyV4 => (
            &[
                "\\p{N}{1,3}",
                "[一-龥぀-ゟ゠-ヿ]+",
                "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Spark25 => (
            &[
                "\\p{N}{1,3}",
                "[一-龥぀-ゟ゠-ヿ]+",
                "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+",
                "\\p{N}",
            ],
            true,
        ),
        PreType::Youtu => (
            &[
                "[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥぀-ゟ゠-ヿ]+",
                "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::DeepseekCoder => (
            &[
                "[\r\n]",
                "\\s?\\p{L}+",
                "\\s?\\p{P}+",
                "[一-龥ࠀ-一가-퟿]+",
                "\\p{N}",
            ],
            true,
        ),
        PreType::Falcon => (
            &[
                "[\\p{P}\\$\\+<=>\\^~\\|`]+",
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
                "[0-9][0-9][0-9]",
            ],
            true,
        ),
        PreType::Starcoder | PreType::Refact | PreType::CommandR | PreType::Smollm | PreType::Codeshell | PreType::Exaone | PreType::Minerva | PreType::Mellum2 => (
            &[
                "\\p{N}",
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            ],
            true,
        ),
        PreType::Gpt2 | PreType::Mpt | PreType::Olmo | PreType::Jais | PreType::Trillion | PreType::GraniteDocling => (
            &[
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            ],
            true,
        ),
        PreType::Stablelm2 | PreType::Qwen2 | PreType::Hunyuan | PreType::SolarOpen => (
            &[
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Qwen35 => (
            &[
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Poro | PreType::Bloom | PreType::Gpt3Finnish => (
            &[
                " ?[^(\\s|.,!?…。，、।۔،)]+",
            ],
            true,
        ),
        PreType::Chatglm4 => (
            &[
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Viking => (
            &[
                " ?[^(\\s|.,!?…。，、।۔،)]+",
                "\\p{N}",
            ],
            true,
        ),
        PreType::Tekken => (
            &[
                "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Chameleon => (
            &[
                "<sentinel:[0-9]+>",
                "(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
                "([\\t\\n]|    |  )",
                "\\p{N}",
                "[\\p{P}!-/:-@\\[-`{-~]",
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
            ],
            true,
        ),
        PreType::Gpt4o | PreType::MinimaxM2 => (
            &[
                "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::GraniteEmbMulti => (
            &[
                "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::TinyAya => (
            &[
                "\\d{1,3}(?=(?:\\d{3})*\\b)",
                "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::KimiK2 => (
            &[
                "\\p{Han}+",
            ],
            true,
        ),
        PreType::Superbpe => (
            &[
                "\\p{N}+",
                "(?=(\\d{3})+(?!\\d))",
            ],
            true,
        ),
        PreType::Bailingmoe => (
            &[
                "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::SeedCoder => (
            &[
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Ufakzeka => (
            &[
                "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Grok2 => (
            &[
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Afmoe => (
            &[
                "\\p{AFMoE_digits}",
                "[一-鿿㐀-䶿豈-﫿぀-ゟ゠-ヿ･-ﾟ⼀-⿟เ-๿຀-໿ក-៿က-႟ꩠ-ꩿꧠ-꧿가-힯ᄀ-ᇿ]+",
                "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Laguna => (
            &[
                "[^\\n]+|[\\n]+",
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::ExaoneMoe => (
            &[
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?(?:\\p{L}\\p{M}*(?: \\p{L}\\p{M}*)*)+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]?|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Gemma4 => (
            &[
                "[^\\n]+|[\\n]+",
            ],
            false,
        ),
        PreType::SarvamMoe => (
            &[
                "[^\\n]+|[\\n]+",
            ],
            false,
        ),
        PreType::Minicpm5 => (
            &[
                "\\p{N}{1,3}",
                "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}+| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
            ],
            true,
        ),
        PreType::Whitespace => (
            &[
                "\\S+",
            ],
            false,
        ),
        PreType::Default => (
            &[
                "[\\p{P}\\$\\+<=>\\^~\\|]+",
                "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
                "\\p{N}+",
                "[0-9][0-9][0-9]",
            ],
            true,
        ),
    }
}
