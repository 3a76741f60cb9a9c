//! Human-readable descriptions of a file shared by `nomoat show` and `nomoat bench`:
//! llama.cpp's names of `general.file_type` values, and sizes and counts as the two print them
//! (`show` in its own style, `bench` in llama-bench's, so tools that parse llama-bench's table
//! read ours).

/// Flag llama.cpp ORs into `general.file_type` when the type was guessed from the tensors.
pub const FILE_TYPE_GUESSED: u64 = 1024;

/// llama.cpp's `llama_model_ftype_name` for a `general.file_type` value without the guessed
/// flag, or `None` for a value it does not know.
pub fn file_type_name(id: u64) -> Option<&'static str> {
    Some(match id {
        0 => "all F32",
        1 => "F16",
        2 => "Q4_0",
        3 => "Q4_1",
        7 => "Q8_0",
        8 => "Q5_0",
        9 => "Q5_1",
        10 => "Q2_K - Medium",
        11 => "Q3_K - Small",
        12 => "Q3_K - Medium",
        13 => "Q3_K - Large",
        14 => "Q4_K - Small",
        15 => "Q4_K - Medium",
        16 => "Q5_K - Small",
        17 => "Q5_K - Medium",
        18 => "Q6_K",
        19 => "IQ2_XXS - 2.0625 bpw",
        20 => "IQ2_XS - 2.3125 bpw",
        21 => "Q2_K - Small",
        22 => "IQ3_XS - 3.3 bpw",
        23 => "IQ3_XXS - 3.0625 bpw",
        24 => "IQ1_S - 1.5625 bpw",
        25 => "IQ4_NL - 4.5 bpw",
        26 => "IQ3_S - 3.4375 bpw",
        27 => "IQ3_S mix - 3.66 bpw",
        28 => "IQ2_S - 2.5 bpw",
        29 => "IQ2_M - 2.7 bpw",
        30 => "IQ4_XS - 4.25 bpw",
        31 => "IQ1_M - 1.75 bpw",
        32 => "BF16",
        36 => "TQ1_0 - 1.69 bpw ternary",
        37 => "TQ2_0 - 2.06 bpw ternary",
        38 => "MXFP4 MoE",
        39 => "NVFP4",
        _ => return None,
    })
}

/// `show`'s label: the name, `(guessed)` when flagged, `unknown, may not work` otherwise.
pub fn file_type_label(id: u64) -> String {
    let name = file_type_name(id & !FILE_TYPE_GUESSED).unwrap_or("unknown, may not work");
    if id & FILE_TYPE_GUESSED != 0 {
        format!("{name} (guessed)")
    } else {
        name.to_owned()
    }
}

/// `268.1 M`, `1.1 B`, `512`.
pub fn human_count(n: u64) -> String {
    let x = n as f64;
    if x >= 1e9 {
        format!("{:.1} B", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} K", x / 1e3)
    } else {
        n.to_string()
    }
}

/// `241.4 MiB`, `1.50 GiB`, `512 B`.
pub fn human_bytes(n: u64) -> String {
    let x = n as f64;
    const K: f64 = 1024.0;
    if x >= K * K * K {
        format!("{:.2} GiB", x / (K * K * K))
    } else if x >= K * K {
        format!("{:.1} MiB", x / (K * K))
    } else if x >= K {
        format!("{:.1} KiB", x / K)
    } else {
        format!("{n} B")
    }
}

/// llama-bench's size column: `231.85 MiB`, `1.50 GiB`.
pub fn bench_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} MiB", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2} GiB", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// llama-bench's params column: `268.10 M`, `1.10 B`.
pub fn bench_params(n: u64) -> String {
    let n = n as f64;
    if n < 1e9 {
        format!("{:.2} M", n / 1e6)
    } else {
        format!("{:.2} B", n / 1e9)
    }
}

/// "270M", "1B", "7B": the parameter count rounded as model names round it.
pub fn size_label(params: u64) -> String {
    let p = params as f64;
    if p >= 1e9 {
        format!("{:.0}B", p / 1e9)
    } else if p >= 1e6 {
        format!("{:.0}M", (p / 1e7).round() * 10.0)
    } else {
        format!("{:.0}K", p / 1e3)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        assert_eq!(human_count(268_098_176), "268.1 M");
        assert_eq!(human_count(1_100_048_384), "1.1 B");
        assert_eq!(human_count(512), "512");
        assert_eq!(human_bytes(253_113_024), "241.4 MiB");
        assert_eq!(file_type_label(15), "Q4_K - Medium");
        assert_eq!(file_type_label(1024 + 7), "Q8_0 (guessed)");
        assert_eq!(file_type_label(4), "unknown, may not work");
        assert_eq!(file_type_name(4), None);
        assert_eq!(size_label(268_098_176), "270M");
        assert_eq!(size_label(1_100_048_384), "1B");
        assert_eq!(bench_bytes(253_113_024 - 10_000_000), "231.85 MiB");
        assert_eq!(bench_params(268_098_176), "268.10 M");
    }
}
