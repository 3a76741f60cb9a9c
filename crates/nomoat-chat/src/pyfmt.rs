//! Python's `str()`, `repr()` and `json.dumps()` of template values, byte for byte, so prints,
//! `~` concatenation, `|string` and `|tojson` match what jinja2 produces. Every writer is capped:
//! it stops with [`Overflow`] as soon as the text would pass `max` bytes.
use minijinja::value::{Value, ValueKind};

/// Nesting depth past which values are refused (JSON from a request is already depth-limited).
const MAX_DEPTH: usize = 128;

/// Why a value could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// The text would be longer than the cap.
    TooBig,
    /// The value cannot be written this way (`json.dumps` of an undefined value, say).
    Type(String),
}

/// A `String` that refuses to grow past `max` bytes.
pub(crate) struct Capped<'a> {
    pub(crate) out: &'a mut String,
    pub(crate) max: usize,
}

impl Capped<'_> {
    pub(crate) fn push(&mut self, s: &str) -> Result<(), Overflow> {
        if self.out.len().saturating_add(s.len()) > self.max {
            return Err(Overflow::TooBig);
        }
        self.out.push_str(s);
        Ok(())
    }

    fn push_char(&mut self, c: char) -> Result<(), Overflow> {
        let mut b = [0u8; 4];
        self.push(c.encode_utf8(&mut b))
    }
}

/// Python `str(v)`: strings as they are, `None`/`True`/`False`, lists and dicts as `repr`.
/// Undefined values print as nothing, as jinja2's lenient `Undefined` does.
pub(crate) fn py_str(v: &Value, w: &mut Capped<'_>) -> Result<(), Overflow> {
    match v.kind() {
        ValueKind::Undefined => Ok(()),
        ValueKind::String => w.push(v.as_str().unwrap_or_default()),
        _ => py_repr(v, w, 0),
    }
}

/// `py_str` into a new string of at most `max` bytes.
pub(crate) fn py_str_string(v: &Value, max: usize) -> Result<String, Overflow> {
    if let Some(s) = v.as_str() {
        if s.len() > max {
            return Err(Overflow::TooBig);
        }
        return Ok(s.to_owned());
    }
    let mut s = String::new();
    py_str(v, &mut Capped { out: &mut s, max })?;
    Ok(s)
}

/// Python `repr(v)`.
pub(crate) fn py_repr(v: &Value, w: &mut Capped<'_>, depth: usize) -> Result<(), Overflow> {
    if depth > MAX_DEPTH {
        return Err(Overflow::Type("value nested too deeply".into()));
    }
    match v.kind() {
        ValueKind::Undefined => Ok(()),
        ValueKind::None => w.push("None"),
        ValueKind::Bool => w.push(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => w.push(&py_number(v)),
        ValueKind::String => repr_str(v.as_str().unwrap_or_default(), w),
        ValueKind::Seq => {
            w.push("[")?;
            for (i, item) in v.try_iter().into_iter().flatten().enumerate() {
                if i > 0 {
                    w.push(", ")?;
                }
                py_repr(&item, w, depth + 1)?;
            }
            w.push("]")
        }
        ValueKind::Map => {
            w.push("{")?;
            for (i, (k, item)) in map_pairs(v).into_iter().enumerate() {
                if i > 0 {
                    w.push(", ")?;
                }
                py_repr(&k, w, depth + 1)?;
                w.push(": ")?;
                py_repr(&item, w, depth + 1)?;
            }
            w.push("}")
        }
        // Lazy iterables (`range(...)`), namespaces, macros, bytes: minijinja's own text.
        _ => w.push(&v.to_string()),
    }
}

/// The key/value pairs of a map value, in insertion order.
pub(crate) fn map_pairs(v: &Value) -> Vec<(Value, Value)> {
    match v.as_object().and_then(|o| o.try_iter_pairs()) {
        Some(it) => it.collect(),
        None => Vec::new(),
    }
}

/// Python's text of an int or float (`repr(float)`: shortest round-trip digits, `1e+16`).
pub(crate) fn py_number(v: &Value) -> String {
    if v.is_integer() {
        if let Ok(i) = i128::try_from(v.clone()) {
            return i.to_string();
        }
        return v.to_string();
    }
    match f64::try_from(v.clone()) {
        Ok(f) => py_float(f),
        Err(_) => v.to_string(),
    }
}

/// `repr(f)` for a Python float.
pub(crate) fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits, like Python's repr: "-1.2345e2".
    let sci = format!("{f:e}");
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    }
    out
}

/// Python `repr(str)`: single quotes unless the text has `'` and no `"`.
fn repr_str(s: &str, w: &mut Capped<'_>) -> Result<(), Overflow> {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    w.push_char(quote)?;
    for c in s.chars() {
        match c {
            '\\' => w.push("\\\\")?,
            '\n' => w.push("\\n")?,
            '\r' => w.push("\\r")?,
            '\t' => w.push("\\t")?,
            c if c == quote => {
                w.push_char('\\')?;
                w.push_char(c)?;
            }
            c if !is_printable(c) => {
                let n = c as u32;
                if n <= 0xff {
                    w.push(&format!("\\x{n:02x}"))?;
                } else if n <= 0xffff {
                    w.push(&format!("\\u{n:04x}"))?;
                } else {
                    w.push(&format!("\\U{n:08x}"))?;
                }
            }
            c => w.push_char(c)?,
        }
    }
    w.push_char(quote)
}

/// Python's `str.isprintable` for one character (what `repr` leaves unescaped): not a control,
/// format, separator (other than the ASCII space), private-use or unassigned-in-practice char.
fn is_printable(c: char) -> bool {
    let n = c as u32;
    if c == ' ' {
        return true;
    }
    !(c.is_control()
        || matches!(n, 0xa0 | 0xad | 0x1680 | 0x180e | 0x2000..=0x200f | 0x2028..=0x202f)
        || matches!(n, 0x205f..=0x2064 | 0x2066..=0x206f | 0x3000 | 0xfeff | 0xfff9..=0xfffb)
        || matches!(n, 0x600..=0x605 | 0x61c | 0x6dd | 0x70f | 0xe000..=0xf8ff)
        || matches!(n, 0xf0000..=0x10ffff))
}

/// Options of `json.dumps` that templates may pass to `tojson`.
#[derive(Debug, Clone)]
pub(crate) struct JsonOpts {
    pub(crate) ensure_ascii: bool,
    /// `None`: one line. `Some(s)`: newline and `s` repeated per level.
    pub(crate) indent: Option<String>,
    pub(crate) item_sep: String,
    pub(crate) key_sep: String,
    pub(crate) sort_keys: bool,
}

impl Default for JsonOpts {
    fn default() -> Self {
        JsonOpts {
            ensure_ascii: false,
            indent: None,
            item_sep: ", ".into(),
            key_sep: ": ".into(),
            sort_keys: false,
        }
    }
}

/// Python `json.dumps(v, **opts)`.
pub(crate) fn json_dumps(
    v: &Value,
    opts: &JsonOpts,
    w: &mut Capped<'_>,
    depth: usize,
) -> Result<(), Overflow> {
    if depth > MAX_DEPTH {
        return Err(Overflow::Type("value nested too deeply for JSON".into()));
    }
    match v.kind() {
        ValueKind::None => w.push("null"),
        ValueKind::Bool => w.push(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            if v.is_integer() {
                w.push(&py_number(v))
            } else {
                let f = f64::try_from(v.clone()).unwrap_or(f64::NAN);
                if f.is_nan() {
                    w.push("NaN")
                } else if f.is_infinite() {
                    w.push(if f > 0.0 { "Infinity" } else { "-Infinity" })
                } else {
                    w.push(&py_float(f))
                }
            }
        }
        ValueKind::String => json_str(v.as_str().unwrap_or_default(), opts.ensure_ascii, w),
        ValueKind::Seq => {
            let items: Vec<Value> = v.try_iter().into_iter().flatten().collect();
            if items.is_empty() {
                return w.push("[]");
            }
            w.push("[")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    w.push(&opts.item_sep)?;
                }
                newline_indent(opts, depth + 1, w)?;
                json_dumps(item, opts, w, depth + 1)?;
            }
            newline_indent(opts, depth, w)?;
            w.push("]")
        }
        ValueKind::Map => {
            let mut pairs = Vec::new();
            for (k, item) in map_pairs(v) {
                pairs.push((json_key(&k)?, item));
            }
            if pairs.is_empty() {
                return w.push("{}");
            }
            if opts.sort_keys {
                pairs.sort_by(|a, b| a.0.cmp(&b.0));
            }
            w.push("{")?;
            for (i, (k, item)) in pairs.iter().enumerate() {
                if i > 0 {
                    w.push(&opts.item_sep)?;
                }
                newline_indent(opts, depth + 1, w)?;
                json_str(k, opts.ensure_ascii, w)?;
                w.push(&opts.key_sep)?;
                json_dumps(item, opts, w, depth + 1)?;
            }
            newline_indent(opts, depth, w)?;
            w.push("}")
        }
        ValueKind::Undefined => Err(Overflow::Type(
            "Object of type Undefined is not JSON serializable".into(),
        )),
        kind => Err(Overflow::Type(format!(
            "Object of type {kind} is not JSON serializable"
        ))),
    }
}

fn newline_indent(opts: &JsonOpts, level: usize, w: &mut Capped<'_>) -> Result<(), Overflow> {
    if let Some(ind) = &opts.indent {
        w.push("\n")?;
        for _ in 0..level {
            w.push(ind)?;
        }
    }
    Ok(())
}

/// JSON object keys as Python converts them: str as is, numbers, `true`/`false`/`null`.
fn json_key(k: &Value) -> Result<String, Overflow> {
    match k.kind() {
        ValueKind::String => Ok(k.as_str().unwrap_or_default().to_owned()),
        ValueKind::Number => Ok(py_number(k)),
        ValueKind::Bool => Ok(if k.is_true() { "true" } else { "false" }.into()),
        ValueKind::None => Ok("null".into()),
        kind => Err(Overflow::Type(format!(
            "keys must be str, int, float, bool or None, not {kind}"
        ))),
    }
}

/// A JSON string as Python's encoder writes it (`\uXXXX` in lower-case hex).
fn json_str(s: &str, ensure_ascii: bool, w: &mut Capped<'_>) -> Result<(), Overflow> {
    w.push("\"")?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let esc: Option<String> = match c {
            '"' => Some("\\\"".into()),
            '\\' => Some("\\\\".into()),
            '\n' => Some("\\n".into()),
            '\r' => Some("\\r".into()),
            '\t' => Some("\\t".into()),
            '\u{8}' => Some("\\b".into()),
            '\u{c}' => Some("\\f".into()),
            c if (c as u32) < 0x20 => Some(format!("\\u{:04x}", c as u32)),
            c if ensure_ascii && !c.is_ascii() => {
                let mut buf = [0u16; 2];
                Some(
                    c.encode_utf16(&mut buf)
                        .iter()
                        .map(|u| format!("\\u{u:04x}"))
                        .collect(),
                )
            }
            _ => None,
        };
        if let Some(e) = esc {
            w.push(&s[start..i])?;
            w.push(&e)?;
            start = i + c.len_utf8();
        }
    }
    w.push(&s[start..])?;
    w.push("\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &Value) -> String {
        py_str_string(v, 1 << 20).unwrap()
    }

    #[test]
    fn python_float_repr() {
        for (f, want) in [
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1.5e-5, "1.5e-05"),
            (1e16, "1e+16"),
            (1234.5, "1234.5"),
            (-0.0001, "-0.0001"),
            (123456789012345678.0, "1.2345678901234568e+17"),
            (1e15, "1000000000000000.0"),
        ] {
            assert_eq!(py_float(f), want, "{f}");
        }
    }

    #[test]
    fn python_str_and_repr_of_containers() {
        let v = Value::from_serialize(serde_json::json!(
            {"a": [1, 2.5, true, null, "it's"], "b": "q\"'\n"}
        ));
        assert_eq!(
            s(&v),
            r#"{'a': [1, 2.5, True, None, "it's"], 'b': 'q"\'\n'}"#
        );
        assert_eq!(s(&Value::from("x")), "x");
        assert_eq!(s(&Value::UNDEFINED), "");
        assert_eq!(s(&Value::from(())), "None");
    }

    #[test]
    fn json_matches_python_defaults() {
        let v = Value::from_serialize(serde_json::json!(
            {"z": "é\u{1}\"", "a": [1, {"b": []}], "n": null, "f": 0.5}
        ));
        let mut out = String::new();
        let opts = JsonOpts::default();
        json_dumps(
            &v,
            &opts,
            &mut Capped {
                out: &mut out,
                max: 1000,
            },
            0,
        )
        .unwrap();
        assert_eq!(
            out,
            r#"{"z": "é\u0001\"", "a": [1, {"b": []}], "n": null, "f": 0.5}"#
        );
        let mut out = String::new();
        let opts = JsonOpts {
            indent: Some("  ".into()),
            item_sep: ",".into(),
            sort_keys: true,
            ensure_ascii: true,
            ..JsonOpts::default()
        };
        json_dumps(
            &v,
            &opts,
            &mut Capped {
                out: &mut out,
                max: 1000,
            },
            0,
        )
        .unwrap();
        assert_eq!(
            out,
            "{\n  \"a\": [\n    1,\n    {\n      \"b\": []\n    }\n  ],\n  \"f\": 0.5,\n  \"n\": null,\n  \"z\": \"\\u00e9\\u0001\\\"\"\n}"
        );
    }

    #[test]
    fn capped_writer_stops() {
        let v = Value::from_serialize(vec!["abcdef"; 100]);
        let mut out = String::new();
        let r = py_repr(
            &v,
            &mut Capped {
                out: &mut out,
                max: 50,
            },
            0,
        );
        assert_eq!(r, Err(Overflow::TooBig));
        assert!(out.len() <= 50);
    }
}
