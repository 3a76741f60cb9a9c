//! Python methods on template values (`s.strip()`, `d.get(k)`, `d.items()`, `'{}'.format(x)`,
//! ...), which jinja2 templates call because jinja2 runs on Python objects. Registered as
//! minijinja's unknown-method callback. Methods that would mutate a value (`append`, `pop`,
//! `update`, ...) fail, as they do in Hugging Face's immutable sandbox.
use minijinja::value::{Kwargs, Value, ValueKind};
use minijinja::{Error, ErrorKind};

use crate::pyfmt::{map_pairs, py_repr, py_str_string, Capped};
use crate::sandbox::Budget;

const MUTATORS: &[&str] = &[
    "append",
    "extend",
    "insert",
    "pop",
    "remove",
    "clear",
    "update",
    "setdefault",
    "popitem",
    "sort",
    "reverse",
    "add",
    "discard",
    "__setitem__",
    "__delitem__",
];

/// Dispatches `value.name(args)`.
pub(crate) fn call_method(
    budget: &Budget,
    value: &Value,
    name: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if name.starts_with('_') {
        return Err(unsafe_access(name, value));
    }
    match value.kind() {
        ValueKind::String => str_method(budget, value.as_str().unwrap_or_default(), name, args),
        ValueKind::Map => map_method(value, name, args),
        ValueKind::Seq => seq_method(value, name, args),
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

fn unsafe_access(name: &str, value: &Value) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "access to attribute '{name}' of a {} value is unsafe: chat templates cannot modify \
             values or reach Python internals",
            value.kind()
        ),
    )
}

pub(crate) fn type_err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

/// Binds positional then keyword arguments to parameter `names`.
pub(crate) fn bind(
    method: &str,
    args: &[Value],
    names: &[&str],
) -> Result<Vec<Option<Value>>, Error> {
    let (pos, kw) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (rest, Some(Kwargs::try_from(last.clone())?)),
        _ => (args, None),
    };
    if pos.len() > names.len() {
        return Err(type_err(format!(
            "{method}() takes at most {} argument(s) ({} given)",
            names.len(),
            pos.len()
        )));
    }
    let mut out: Vec<Option<Value>> = vec![None; names.len()];
    for (slot, v) in out.iter_mut().zip(pos) {
        *slot = Some(v.clone());
    }
    if let Some(kw) = kw {
        for key in kw.args() {
            let Some(i) = names.iter().position(|n| *n == key) else {
                return Err(type_err(format!(
                    "{method}() got an unexpected keyword argument '{key}'"
                )));
            };
            let v: Value = kw.peek(key)?;
            if let Some(slot) = out.get_mut(i) {
                *slot = Some(v);
            }
        }
    }
    Ok(out)
}

/// An optional argument, with Python's `None` meaning "not given".
pub(crate) fn opt(v: &Option<Value>) -> Option<&Value> {
    v.as_ref().filter(|v| !v.is_none() && !v.is_undefined())
}

pub(crate) fn str_arg<'a>(method: &str, v: Option<&'a Value>) -> Result<Option<&'a str>, Error> {
    match v {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| type_err(format!("{method}() argument must be str, not {}", v.kind()))),
    }
}

pub(crate) fn int_arg(method: &str, v: Option<&Value>, default: i64) -> Result<i64, Error> {
    match v {
        None => Ok(default),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| type_err(format!("{method}() argument must be int, not {}", v.kind()))),
    }
}

fn required<'a>(method: &str, v: Option<&'a Value>) -> Result<&'a Value, Error> {
    v.ok_or_else(|| type_err(format!("{method}() is missing a required argument")))
}

/// Python's `str.isspace` for one character.
pub(crate) fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

pub(crate) fn check_len(budget: &Budget, len: usize) -> Result<(), Error> {
    if len > budget.limits.max_value_bytes {
        return Err(budget.value_limit());
    }
    Ok(())
}

fn str_list<I: IntoIterator<Item = S>, S: Into<String>>(it: I) -> Value {
    Value::from(
        it.into_iter()
            .map(|s| Value::from(s.into()))
            .collect::<Vec<_>>(),
    )
}

fn str_method(budget: &Budget, s: &str, name: &str, args: &[Value]) -> Result<Value, Error> {
    match name {
        "strip" | "lstrip" | "rstrip" => {
            let a = bind(name, args, &["chars"])?;
            let chars = str_arg(name, opt(&a[0]))?;
            let pred = |c: char| match chars {
                Some(set) => set.contains(c),
                None => py_isspace(c),
            };
            let out = match name {
                "strip" => s.trim_matches(pred),
                "lstrip" => s.trim_start_matches(pred),
                _ => s.trim_end_matches(pred),
            };
            Ok(Value::from(out))
        }
        "split" | "rsplit" => {
            let a = bind(name, args, &["sep", "maxsplit"])?;
            let sep = str_arg(name, opt(&a[0]))?;
            let maxsplit = int_arg(name, opt(&a[1]), -1)?;
            let limit = usize::try_from(maxsplit).ok();
            Ok(str_list(py_split(s, sep, limit, name == "rsplit")?))
        }
        "splitlines" => {
            let a = bind(name, args, &["keepends"])?;
            let keep = opt(&a[0]).is_some_and(Value::is_true);
            Ok(str_list(py_splitlines(s, keep)))
        }
        "startswith" | "endswith" => {
            let a = bind(name, args, &["prefix", "start", "end"])?;
            let arg = required(name, opt(&a[0]))?;
            let text = char_slice(s, opt(&a[1]), opt(&a[2]))?;
            let test = |p: &str| {
                if name == "startswith" {
                    text.starts_with(p)
                } else {
                    text.ends_with(p)
                }
            };
            if let Some(p) = arg.as_str() {
                return Ok(Value::from(test(p)));
            }
            if arg.kind() == ValueKind::Seq {
                for p in arg.try_iter()? {
                    let p = p.as_str().ok_or_else(|| {
                        type_err(format!("{name}() tuple must contain only strings"))
                    })?;
                    if test(p) {
                        return Ok(Value::from(true));
                    }
                }
                return Ok(Value::from(false));
            }
            Err(type_err(format!(
                "{name}() first arg must be str or a tuple of str, not {}",
                arg.kind()
            )))
        }
        "replace" => {
            let a = bind(name, args, &["old", "new", "count"])?;
            let old = str_arg(name, Some(required(name, opt(&a[0]))?))?.unwrap_or_default();
            let new = str_arg(name, Some(required(name, opt(&a[1]))?))?.unwrap_or_default();
            let count = int_arg(name, opt(&a[2]), -1)?;
            py_replace(budget, s, old, new, usize::try_from(count).ok())
        }
        "upper" => Ok(Value::from(s.to_uppercase())),
        "lower" | "casefold" => Ok(Value::from(s.to_lowercase())),
        "title" => Ok(Value::from(py_title(s))),
        "capitalize" => {
            let mut cs = s.chars();
            Ok(Value::from(match cs.next() {
                Some(f) => f
                    .to_uppercase()
                    .chain(cs.as_str().to_lowercase().chars())
                    .collect(),
                None => String::new(),
            }))
        }
        "swapcase" => Ok(Value::from(
            s.chars()
                .flat_map(|c| -> Vec<char> {
                    if c.is_uppercase() {
                        c.to_lowercase().collect()
                    } else {
                        c.to_uppercase().collect()
                    }
                })
                .collect::<String>(),
        )),
        "find" | "rfind" | "index" | "rindex" | "count" => {
            let a = bind(name, args, &["sub", "start", "end"])?;
            let sub = str_arg(name, Some(required(name, opt(&a[0]))?))?.unwrap_or_default();
            let text = char_slice(s, opt(&a[1]), opt(&a[2]))?;
            let offset = opt(&a[1])
                .and_then(Value::as_i64)
                .map(|st| norm_index(st, s.chars().count()))
                .unwrap_or(0);
            if name == "count" {
                let n = if sub.is_empty() {
                    text.chars().count() + 1
                } else {
                    text.matches(sub).count()
                };
                return Ok(Value::from(n));
            }
            let found = if name.starts_with('r') {
                text.rfind(sub)
            } else {
                text.find(sub)
            };
            match found {
                Some(b) => Ok(Value::from(offset + text[..b].chars().count())),
                None if name.ends_with("index") => Err(type_err("substring not found")),
                None => Ok(Value::from(-1)),
            }
        }
        "isdigit" | "isdecimal" | "isnumeric" => Ok(Value::from(
            !s.is_empty() && s.chars().all(|c| c.is_numeric()),
        )),
        "isalpha" => Ok(Value::from(
            !s.is_empty() && s.chars().all(char::is_alphabetic),
        )),
        "isalnum" => Ok(Value::from(
            !s.is_empty() && s.chars().all(char::is_alphanumeric),
        )),
        "isspace" => Ok(Value::from(!s.is_empty() && s.chars().all(py_isspace))),
        "islower" => Ok(Value::from(
            s.chars().any(char::is_lowercase) && !s.chars().any(char::is_uppercase),
        )),
        "isupper" => Ok(Value::from(
            s.chars().any(char::is_uppercase) && !s.chars().any(char::is_lowercase),
        )),
        "join" => {
            let a = bind(name, args, &["iterable"])?;
            let items = required(name, opt(&a[0]))?;
            let mut out = String::new();
            for (i, item) in items.try_iter()?.enumerate() {
                let part = item.as_str().ok_or_else(|| {
                    type_err(format!(
                        "sequence item {i}: expected str instance, {} found",
                        item.kind()
                    ))
                })?;
                check_len(budget, out.len() + s.len() + part.len())?;
                if i > 0 {
                    out.push_str(s);
                }
                out.push_str(part);
            }
            Ok(Value::from(out))
        }
        "format" => py_format(budget, s, args),
        "removeprefix" | "removesuffix" => {
            let a = bind(name, args, &["affix"])?;
            let affix = str_arg(name, Some(required(name, opt(&a[0]))?))?.unwrap_or_default();
            let out = if name == "removeprefix" {
                s.strip_prefix(affix)
            } else {
                s.strip_suffix(affix)
            };
            Ok(Value::from(out.unwrap_or(s)))
        }
        "partition" | "rpartition" => {
            let a = bind(name, args, &["sep"])?;
            let sep = str_arg(name, Some(required(name, opt(&a[0]))?))?.unwrap_or_default();
            if sep.is_empty() {
                return Err(type_err("empty separator"));
            }
            let found = if name == "partition" {
                s.split_once(sep)
            } else {
                s.rsplit_once(sep)
            };
            Ok(match found {
                Some((l, r)) => str_list([l, sep, r]),
                None if name == "partition" => str_list([s, "", ""]),
                None => str_list(["", "", s]),
            })
        }
        "center" | "ljust" | "rjust" | "zfill" => {
            let a = bind(name, args, &["width", "fillchar"])?;
            let width = int_arg(name, Some(required(name, opt(&a[0]))?), 0)?;
            let width = usize::try_from(width).unwrap_or(0);
            let fill = if name == "zfill" {
                '0'
            } else {
                let f = str_arg(name, opt(&a[1]))?.unwrap_or(" ");
                let mut it = f.chars();
                match (it.next(), it.next()) {
                    (Some(c), None) => c,
                    _ => return Err(type_err("the fill character must be exactly one character")),
                }
            };
            let len = s.chars().count();
            if width <= len {
                return Ok(Value::from(s));
            }
            check_len(budget, s.len() + (width - len) * fill.len_utf8())?;
            let pad = width - len;
            let (left, right) = match name {
                "ljust" => (0, pad),
                "rjust" | "zfill" => (pad, 0),
                // Python's centring puts the odd space on the left when the width is odd.
                _ => {
                    let left = pad / 2 + (pad & width & 1);
                    (left, pad - left)
                }
            };
            let mut out = String::new();
            out.extend(std::iter::repeat_n(fill, left));
            out.push_str(s);
            out.extend(std::iter::repeat_n(fill, right));
            Ok(Value::from(out))
        }
        _ if MUTATORS.contains(&name) => Err(unsafe_access(name, &Value::from(s))),
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

/// Python negative/overflowing index normalisation for slice bounds.
fn norm_index(i: i64, len: usize) -> usize {
    if i < 0 {
        len.saturating_sub(usize::try_from(i.unsigned_abs()).unwrap_or(usize::MAX))
    } else {
        usize::try_from(i).unwrap_or(usize::MAX).min(len)
    }
}

/// `s[start:end]` by code points.
fn char_slice<'a>(
    s: &'a str,
    start: Option<&Value>,
    end: Option<&Value>,
) -> Result<&'a str, Error> {
    if start.is_none() && end.is_none() {
        return Ok(s);
    }
    let n = s.chars().count();
    let st = norm_index(int_arg("slice", start, 0)?, n);
    let en = norm_index(int_arg("slice", end, n as i64)?, n);
    if st >= en {
        return Ok("");
    }
    let byte = |ci: usize| s.char_indices().nth(ci).map_or(s.len(), |(b, _)| b);
    Ok(&s[byte(st)..byte(en)])
}

/// `str.split` / `str.rsplit`.
fn py_split(
    s: &str,
    sep: Option<&str>,
    limit: Option<usize>,
    from_right: bool,
) -> Result<Vec<String>, Error> {
    match sep {
        Some("") => Err(type_err("empty separator")),
        Some(sep) => Ok(match (limit, from_right) {
            (None, _) => s.split(sep).map(String::from).collect(),
            (Some(n), false) => s.splitn(n + 1, sep).map(String::from).collect(),
            (Some(n), true) => {
                let mut v: Vec<String> = s.rsplitn(n + 1, sep).map(String::from).collect();
                v.reverse();
                v
            }
        }),
        None => {
            // Runs of whitespace separate; leading/trailing whitespace yields no empty strings.
            let mut out = Vec::new();
            let max = limit.unwrap_or(usize::MAX);
            if !from_right {
                let mut rest = s.trim_start_matches(py_isspace);
                while !rest.is_empty() {
                    if out.len() == max {
                        out.push(rest.to_owned());
                        break;
                    }
                    let end = rest.find(py_isspace).unwrap_or(rest.len());
                    out.push(rest[..end].to_owned());
                    rest = rest[end..].trim_start_matches(py_isspace);
                }
            } else {
                let mut rest = s.trim_end_matches(py_isspace);
                while !rest.is_empty() {
                    if out.len() == max {
                        out.push(rest.to_owned());
                        break;
                    }
                    let start = rest.rfind(py_isspace).map_or(0, |b| {
                        b + rest[b..].chars().next().map_or(1, char::len_utf8)
                    });
                    out.push(rest[start..].to_owned());
                    rest = rest[..start].trim_end_matches(py_isspace);
                }
                out.reverse();
            }
            Ok(out)
        }
    }
}

pub(crate) fn py_splitlines(s: &str, keep: bool) -> Vec<String> {
    let is_break = |c: char| {
        matches!(
            c,
            '\n' | '\r'
                | '\u{b}'
                | '\u{c}'
                | '\u{1c}'
                | '\u{1d}'
                | '\u{1e}'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        )
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if !is_break(c) {
            continue;
        }
        let mut end = i + c.len_utf8();
        if c == '\r' {
            if let Some(&(j, '\n')) = it.peek() {
                end = j + 1;
                it.next();
            }
        }
        out.push(if keep { &s[start..end] } else { &s[start..i] }.to_owned());
        start = end;
    }
    if start < s.len() {
        out.push(s[start..].to_owned());
    }
    out
}

pub(crate) fn py_replace(
    budget: &Budget,
    s: &str,
    old: &str,
    new: &str,
    count: Option<usize>,
) -> Result<Value, Error> {
    let max = count.unwrap_or(usize::MAX);
    let mut out = String::new();
    if old.is_empty() {
        // Python inserts `new` before every character and at the end.
        let mut n = 0;
        for c in s.chars() {
            if n < max {
                out.push_str(new);
                n += 1;
            }
            out.push(c);
            check_len(budget, out.len())?;
        }
        if n < max {
            out.push_str(new);
        }
        check_len(budget, out.len())?;
        return Ok(Value::from(out));
    }
    let mut rest = s;
    let mut n = 0;
    while n < max {
        let Some(pos) = rest.find(old) else { break };
        out.push_str(&rest[..pos]);
        out.push_str(new);
        check_len(budget, out.len())?;
        rest = &rest[pos + old.len()..];
        n += 1;
    }
    out.push_str(rest);
    check_len(budget, out.len())?;
    Ok(Value::from(out))
}

/// Python `str.title()`: a cased character after an uncased one starts a word.
fn py_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_cased = false;
    for c in s.chars() {
        let cased = c.is_lowercase() || c.is_uppercase() || c.is_alphabetic();
        if cased {
            if prev_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
        } else {
            out.push(c);
        }
        prev_cased = cased;
    }
    out
}

/// `str.format(*args, **kwargs)` for `{}`, `{0}`, `{name}`, `{!r}`/`{!s}` and `{{`/`}}`.
/// Format specs (`{:>10}`) are refused with a clear error rather than guessed.
fn py_format(budget: &Budget, fmt: &str, args: &[Value]) -> Result<Value, Error> {
    let (pos, kw) = match args.split_last() {
        Some((last, rest)) if last.is_kwargs() => (rest, Some(Kwargs::try_from(last.clone())?)),
        _ => (args, None),
    };
    let max = budget.limits.max_value_bytes;
    let mut out = String::new();
    let mut auto = 0usize;
    let mut chars = fmt.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '{' if chars.peek().map(|p| p.1) == Some('{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek().map(|p| p.1) == Some('}') => {
                chars.next();
                out.push('}');
            }
            '}' => return Err(type_err("Single '}' encountered in format string")),
            '{' => {
                let rest = &fmt[i + 1..];
                let close = rest
                    .find('}')
                    .ok_or_else(|| type_err("Single '{' encountered in format string"))?;
                let field = &rest[..close];
                for _ in 0..field.chars().count() + 1 {
                    chars.next();
                }
                let (field, spec) = field.split_once(':').unwrap_or((field, ""));
                let (field, conv) = field.split_once('!').unwrap_or((field, "s"));
                if !spec.is_empty() {
                    return Err(type_err(format!(
                        "format spec ':{spec}' is not supported in chat templates"
                    )));
                }
                let value = if field.is_empty() {
                    let v = pos.get(auto).cloned();
                    auto += 1;
                    v
                } else if let Ok(n) = field.parse::<usize>() {
                    pos.get(n).cloned()
                } else {
                    kw.as_ref().and_then(|k| k.peek::<Value>(field).ok())
                };
                let value = value.ok_or_else(|| {
                    type_err(format!(
                        "format field '{{{field}}}' has no matching argument"
                    ))
                })?;
                let text = match conv {
                    "r" => {
                        let mut s = String::new();
                        py_repr(&value, &mut Capped { out: &mut s, max }, 0)
                            .map_err(|o| budget.overflow(o))?;
                        s
                    }
                    _ => py_str_string(&value, max).map_err(|o| budget.overflow(o))?,
                };
                out.push_str(&text);
            }
            c => out.push(c),
        }
        check_len(budget, out.len())?;
    }
    Ok(Value::from(out))
}

fn map_method(value: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    match name {
        "get" => {
            let a = bind(name, args, &["key", "default"])?;
            let key = a[0].clone().ok_or_else(|| type_err("get() needs a key"))?;
            // Python's dict.get returns None (a defined value) for a missing key.
            let default = a[1].clone().unwrap_or(Value::from(()));
            match value.get_item(&key) {
                Ok(v) if !v.is_undefined() => Ok(v),
                _ => Ok(default),
            }
        }
        "items" => {
            bind(name, args, &[])?;
            Ok(Value::from(
                map_pairs(value)
                    .into_iter()
                    .map(|(k, v)| Value::from(vec![k, v]))
                    .collect::<Vec<_>>(),
            ))
        }
        "keys" => {
            bind(name, args, &[])?;
            Ok(Value::from(
                map_pairs(value)
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect::<Vec<_>>(),
            ))
        }
        "values" => {
            bind(name, args, &[])?;
            Ok(Value::from(
                map_pairs(value)
                    .into_iter()
                    .map(|(_, v)| v)
                    .collect::<Vec<_>>(),
            ))
        }
        "copy" => Ok(value.clone()),
        _ if MUTATORS.contains(&name) => Err(unsafe_access(name, value)),
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

fn seq_method(value: &Value, name: &str, args: &[Value]) -> Result<Value, Error> {
    match name {
        "index" | "count" => {
            let a = bind(name, args, &["value"])?;
            let needle = a[0]
                .clone()
                .ok_or_else(|| type_err(format!("{name}() needs a value")))?;
            let mut hits = value.try_iter()?.enumerate().filter(|(_, v)| *v == needle);
            if name == "count" {
                return Ok(Value::from(hits.count()));
            }
            hits.next()
                .map(|(i, _)| Value::from(i))
                .ok_or_else(|| type_err("list.index(x): x not in list"))
        }
        "copy" => Ok(value.clone()),
        _ if MUTATORS.contains(&name) => Err(unsafe_access(name, value)),
        _ => Err(Error::from(ErrorKind::UnknownMethod)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::Limits;

    fn call(v: Value, name: &str, args: &[Value]) -> Result<Value, Error> {
        let b = Budget::new(Limits::default());
        call_method(&b, &v, name, args)
    }

    fn strs(v: Value) -> Vec<String> {
        v.try_iter()
            .unwrap()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn split_matches_python() {
        let s = Value::from("  a  b\tc ");
        assert_eq!(
            strs(call(s.clone(), "split", &[]).unwrap()),
            ["a", "b", "c"]
        );
        assert_eq!(
            strs(call(Value::from("a,b,,c"), "split", &[Value::from(",")]).unwrap()),
            ["a", "b", "", "c"]
        );
        assert_eq!(
            strs(
                call(
                    Value::from("a,b,c"),
                    "split",
                    &[Value::from(","), Value::from(1)]
                )
                .unwrap()
            ),
            ["a", "b,c"]
        );
        assert_eq!(
            strs(
                call(
                    Value::from("a,b,c"),
                    "rsplit",
                    &[Value::from(","), Value::from(1)]
                )
                .unwrap()
            ),
            ["a,b", "c"]
        );
        assert_eq!(
            strs(call(s, "rsplit", &[Value::from(()), Value::from(1)]).unwrap()),
            ["  a  b", "c"]
        );
        assert!(call(Value::from("x"), "split", &[Value::from("")]).is_err());
    }

    #[test]
    fn strip_replace_format_title() {
        assert_eq!(
            call(Value::from(" \n x \t"), "strip", &[]).unwrap(),
            Value::from("x")
        );
        assert_eq!(
            call(Value::from("xxhixx"), "lstrip", &[Value::from("x")]).unwrap(),
            Value::from("hixx")
        );
        assert_eq!(
            call(
                Value::from("aaa"),
                "replace",
                &[Value::from("a"), Value::from("b"), Value::from(2)]
            )
            .unwrap(),
            Value::from("bba")
        );
        assert_eq!(
            call(
                Value::from("ab"),
                "replace",
                &[Value::from(""), Value::from("-")]
            )
            .unwrap(),
            Value::from("-a-b-")
        );
        assert_eq!(
            call(Value::from("<{}|{0}|{{}}>"), "format", &[Value::from("x")]).unwrap(),
            Value::from("<x|x|{}>")
        );
        assert_eq!(
            call(Value::from("hello wORLD 1st"), "title", &[]).unwrap(),
            Value::from("Hello World 1St")
        );
        assert_eq!(
            call(
                Value::from("ab"),
                "center",
                &[Value::from(5), Value::from("*")]
            )
            .unwrap(),
            Value::from("**ab*")
        );
        assert_eq!(
            call(Value::from("héllo"), "find", &[Value::from("l")]).unwrap(),
            Value::from(2)
        );
    }

    #[test]
    fn dict_methods_and_mutators() {
        let d = Value::from_serialize(serde_json::json!({"a": 1, "b": null}));
        assert_eq!(
            call(d.clone(), "get", &[Value::from("a")]).unwrap(),
            Value::from(1)
        );
        assert!(call(d.clone(), "get", &[Value::from("z")])
            .unwrap()
            .is_none());
        assert_eq!(
            call(d.clone(), "get", &[Value::from("z"), Value::from(5)]).unwrap(),
            Value::from(5)
        );
        assert_eq!(call(d.clone(), "items", &[]).unwrap().len(), Some(2));
        assert!(call(d.clone(), "update", &[]).is_err());
        assert!(call(Value::from(vec![1]), "append", &[Value::from(2)]).is_err());
        assert!(call(Value::from("x"), "__class__", &[]).is_err());
    }

    #[test]
    fn growth_is_capped() {
        let b = Budget::new(Limits {
            max_value_bytes: 100,
            ..Limits::default()
        });
        let r = call_method(
            &b,
            &Value::from("ab"),
            "center",
            &[Value::from(1_000_000_000)],
        );
        assert!(r.is_err());
        let r = call_method(
            &b,
            &Value::from("a".repeat(60)),
            "replace",
            &[Value::from("a"), Value::from("aa")],
        );
        assert!(r.is_err());
    }
}
