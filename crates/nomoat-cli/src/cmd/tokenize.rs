//! `nomoat tokenize MODEL [TEXT | --file PATH|-] [--ids|--json] [--no-bos] [--no-special]`: the
//! token ids of a text with a model's vocabulary (vocab-only GGUF files work too), as llama.cpp's
//! `llama-tokenize` computes them.
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use nomoat_gguf::GgufFile;
use nomoat_tokenizer::Tokenizer;

#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
    nomoat tokenize gemma3-270m 'Hello world'\n  \
    nomoat tokenize model.gguf --file prompt.txt --ids\n  \
    echo -n 'Hi' | nomoat tokenize model.gguf --file - --json --no-bos")]
pub struct Args {
    /// A GGUF file (vocab-only files work), a cached or known model name, or `hf:ORG/REPO/FILE.gguf`
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// The text to tokenize (or use --file)
    #[arg(value_name = "TEXT", conflicts_with = "file")]
    pub text: Option<String>,
    /// Read the text from a file, byte for byte (`-` reads standard input)
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Print only a JSON array of the ids (like `llama-tokenize --ids`)
    #[arg(long, conflicts_with = "json")]
    pub ids: bool,
    /// Print a JSON array of {"id", "piece"} objects (plus "bytes" when a piece is not UTF-8)
    #[arg(long)]
    pub json: bool,
    /// Do not add the BOS/EOS tokens the vocabulary asks for
    #[arg(long)]
    pub no_bos: bool,
    /// Treat special-token text such as `<start_of_turn>` as plain text
    #[arg(long)]
    pub no_special: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = read_text(&args)?;
    let path = if Path::new(&args.model).exists() {
        PathBuf::from(&args.model)
    } else {
        crate::model_arg::resolve(Some(&args.model))?
    };
    let file =
        GgufFile::open(&path).with_context(|| format!("cannot read model {}", path.display()))?;
    let tok = Tokenizer::from_gguf(file.gguf())
        .with_context(|| format!("cannot load the vocabulary of {}", path.display()))?;
    let ids = tok.encode(&text, !args.no_bos, !args.no_special);

    let out = if args.ids {
        let list: Vec<String> = ids.iter().map(u32::to_string).collect();
        format!("[{}]\n", list.join(", "))
    } else if args.json {
        let rows: Vec<serde_json::Value> = ids
            .iter()
            .map(|&id| {
                let piece = tok.token_to_piece(id, true);
                let mut o =
                    serde_json::json!({ "id": id, "piece": String::from_utf8_lossy(&piece) });
                if std::str::from_utf8(&piece).is_err() {
                    o["bytes"] = serde_json::json!(piece);
                }
                o
            })
            .collect();
        format!("{}\n", serde_json::to_string(&rows)?)
    } else {
        table(&tok, &ids)
    };
    std::io::stdout().lock().write_all(out.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

fn read_text(args: &Args) -> anyhow::Result<String> {
    let bytes = match (&args.text, &args.file) {
        (Some(t), _) => return Ok(t.clone()),
        (None, Some(p)) if p.as_os_str() == "-" => {
            let mut b = Vec::new();
            std::io::stdin()
                .lock()
                .read_to_end(&mut b)
                .context("cannot read standard input")?;
            b
        }
        (None, Some(p)) => {
            std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?
        }
        (None, None) => {
            bail!("give the text to tokenize, or --file PATH (--file - reads standard input)")
        }
    };
    match String::from_utf8(bytes) {
        Ok(s) => Ok(s),
        Err(e) => bail!(
            "the input is not valid UTF-8 (first bad byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    }
}

/// One row per token: id and the piece, quoted, with control characters and non-UTF-8 bytes
/// escaped so that every space and newline is visible.
fn table(tok: &Tokenizer, ids: &[u32]) -> String {
    let mut s = String::from("     id  piece\n");
    for &id in ids {
        let piece = tok.token_to_piece(id, true);
        s.push_str(&format!("{id:>7}  '{}'\n", escape(&piece)));
    }
    s.push_str(&format!("({} tokens)\n", ids.len()));
    s
}

fn escape(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\\' => out.push_str("\\\\"),
                '\'' => out.push_str("\\'"),
                c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_make_whitespace_and_bytes_visible() {
        assert_eq!(escape(b" a\n\t'"), " a\\n\\t\\'");
        assert_eq!(escape(&[0xc3]), "\\xc3");
        assert_eq!(escape("é".as_bytes()), "é");
    }
}
