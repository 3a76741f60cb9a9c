//! The Hugging Face-compatible environment: jinja2's whitespace rules, Python semantics for
//! printing and operators, HF's globals (`raise_exception`, `strftime_now`), a `tojson` that is
//! Python's `json.dumps`, and jinja2 filters/tests where minijinja's differ. Built per render so
//! every function shares that render's [`Budget`].
use std::borrow::Cow;
use std::sync::Arc;

use minijinja::value::{Enumerator, Object, ObjectRepr, Rest, Value, ValueKind};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior};

use crate::clock;
use crate::pyfmt::{json_dumps, py_str_string, Capped, JsonOpts};
use crate::pymethods::{self, bind, check_len, int_arg, opt, py_replace, py_splitlines, str_arg};
use crate::sandbox::{self, Budget, Cause, ADD_FN, CONCAT_FN, ITER_FN, MUL_FN, POW_FN, SLICE_FN};

/// Builds the environment for one render.
pub(crate) fn build<'s>(budget: &Arc<Budget>, now: i64) -> Environment<'s> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(false);
    env.set_undefined_behavior(UndefinedBehavior::Lenient);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(budget.limits.fuel));
    env.set_recursion_limit(budget.limits.recursion_limit);
    env.set_debug(false);
    // `debug()` would dump the whole context; jinja2 has no such global.
    env.remove_global("debug");

    let b = budget.clone();
    env.set_formatter(move |out, _state, value| sandbox::format_value(&b, out, value));
    let b = budget.clone();
    env.set_unknown_method_callback(move |_state, value, name, args| {
        pymethods::call_method(&b, value, name, args)
    });

    let b = budget.clone();
    env.add_function(CONCAT_FN, move |a: Value, c: Value| {
        sandbox::concat(&b, &a, &c)
    });
    let b = budget.clone();
    env.add_function(ADD_FN, move |a: Value, c: Value| sandbox::add(&b, &a, &c));
    let b = budget.clone();
    env.add_function(MUL_FN, move |a: Value, c: Value| sandbox::mul(&b, &a, &c));

    env.add_function(ITER_FN, sandbox::check_iterable);
    env.add_function(SLICE_FN, sandbox::slice);
    env.add_function(POW_FN, sandbox::pow);

    let b = budget.clone();
    env.add_function(
        "raise_exception",
        move |args: Rest<Value>| -> Result<Value, Error> {
            let msg = match args.first() {
                Some(v) => {
                    py_str_string(v, 64 * 1024).unwrap_or_else(|_| "(message too long)".into())
                }
                None => String::new(),
            };
            b.record(Cause::Raised(msg.clone()));
            Err(Error::new(ErrorKind::InvalidOperation, msg))
        },
    );
    env.add_function("strftime_now", move |fmt: String| {
        clock::strftime(now, &fmt)
    });

    add_filters(&mut env, budget);
    add_tests(&mut env);
    env
}

fn add_filters(env: &mut Environment<'_>, budget: &Arc<Budget>) {
    let b = budget.clone();
    env.add_filter("tojson", move |v: Value, args: Rest<Value>| {
        tojson(&b, &v, &args)
    });
    let b = budget.clone();
    env.add_filter("string", move |v: Value| -> Result<Value, Error> {
        str_of(&b, &v).map(Value::from)
    });
    let b = budget.clone();
    env.add_filter("join", move |v: Value, args: Rest<Value>| {
        join(&b, &v, &args)
    });
    let b = budget.clone();
    env.add_filter(
        "trim",
        move |v: Value, args: Rest<Value>| -> Result<Value, Error> {
            let a = bind("trim", &args, &["chars"])?;
            let s = str_of(&b, &v)?;
            let chars = str_arg("trim", opt(&a[0]))?;
            Ok(Value::from(match chars {
                Some(set) => s.trim_matches(|c| set.contains(c)),
                None => s.trim_matches(pymethods::py_isspace),
            }))
        },
    );
    let b = budget.clone();
    env.add_filter("indent", move |v: Value, args: Rest<Value>| {
        indent(&b, &v, &args)
    });
    let b = budget.clone();
    env.add_filter(
        "replace",
        move |v: Value, args: Rest<Value>| -> Result<Value, Error> {
            let a = bind("replace", &args, &["old", "new", "count"])?;
            let s = str_of(&b, &v)?;
            let old = str_of(&b, opt(&a[0]).unwrap_or(&Value::from("")))?;
            let new = str_of(&b, opt(&a[1]).unwrap_or(&Value::from("")))?;
            let count = int_arg("replace", opt(&a[2]), -1)?;
            py_replace(&b, &s, &old, &new, usize::try_from(count).ok())
        },
    );
    let b = budget.clone();
    env.add_filter("upper", move |v: Value| -> Result<Value, Error> {
        Ok(Value::from(str_of(&b, &v)?.to_uppercase()))
    });
    let b = budget.clone();
    env.add_filter("lower", move |v: Value| -> Result<Value, Error> {
        Ok(Value::from(str_of(&b, &v)?.to_lowercase()))
    });
    let b = budget.clone();
    env.add_filter("title", move |v: Value| -> Result<Value, Error> {
        Ok(Value::from(jinja_title(&str_of(&b, &v)?)))
    });
    let b = budget.clone();
    env.add_filter("capitalize", move |v: Value| -> Result<Value, Error> {
        let s = str_of(&b, &v)?;
        let mut cs = s.chars();
        Ok(Value::from(match cs.next() {
            Some(f) => f
                .to_uppercase()
                .chain(cs.as_str().to_lowercase().chars())
                .collect(),
            None => String::new(),
        }))
    });
    env.add_filter("length", length);
    env.add_filter("count", length);
    let b = budget.clone();
    env.add_filter(
        "sum",
        move |v: Value, args: Rest<Value>| -> Result<Value, Error> {
            let a = bind("sum", &args, &["attribute", "start"])?;
            let mut acc = opt(&a[1]).cloned().unwrap_or(Value::from(0));
            for item in v.try_iter()? {
                let item = match opt(&a[0]).and_then(Value::as_str) {
                    Some(attr) => item.get_attr(attr)?,
                    None => item,
                };
                acc = sandbox::add(&b, &acc, &item)?;
            }
            Ok(acc)
        },
    );
    // minijinja preallocates `count` slots: bound it by the input's length first.
    env.add_filter(
        "batch",
        |state: &State<'_, '_>,
         v: Value,
         count: usize,
         fill: Option<Value>|
         -> Result<Value, Error> {
            let len = v.len().unwrap_or(0);
            minijinja::filters::batch(state, v, count.min(len.max(1)), fill)
        },
    );
    env.add_filter(
        "slice",
        |state: &State<'_, '_>,
         v: Value,
         count: usize,
         fill: Option<Value>|
         -> Result<Value, Error> {
            if count > v.len().unwrap_or(0).max(1) {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "slice count is larger than the sequence",
                ));
            }
            minijinja::filters::slice(state, v, count, fill)
        },
    );
    // jinja2's map/select/reject/selectattr/rejectattr return generators: iterable, always
    // true, not a sequence, without len(), not JSON-serialisable. `|list` makes a list.
    env.add_filter(
        "map",
        |state: &State<'_, '_>, v: Value, args: Rest<Value>| -> Result<Value, Error> {
            Ok(generator(minijinja::filters::map(state, v, args)?))
        },
    );
    for (name, reject) in [("select", false), ("reject", true)] {
        env.add_filter(
            name,
            move |state: &State<'_, '_>,
                  v: Value,
                  test: Option<String>,
                  args: Rest<Value>|
                  -> Result<Value, Error> {
                let test = test.map(Cow::Owned);
                let items = if reject {
                    minijinja::filters::reject(state, v, test, args)?
                } else {
                    minijinja::filters::select(state, v, test, args)?
                };
                Ok(generator(items))
            },
        );
    }
    for (name, reject) in [("selectattr", false), ("rejectattr", true)] {
        env.add_filter(
            name,
            move |state: &State<'_, '_>,
                  v: Value,
                  attr: String,
                  test: Option<String>,
                  args: Rest<Value>|
                  -> Result<Value, Error> {
                let (attr, test) = (Cow::Owned(attr), test.map(Cow::Owned));
                let items = if reject {
                    minijinja::filters::rejectattr(state, v, attr, test, args)?
                } else {
                    minijinja::filters::selectattr(state, v, attr, test, args)?
                };
                Ok(generator(items))
            },
        );
    }
    // printf-style `format` has unbounded padding and is not used by chat templates.
    env.add_filter(
        "format",
        |_v: Value, _args: Rest<Value>| -> Result<Value, Error> {
            Err(Error::new(
            ErrorKind::InvalidOperation,
            "the printf-style `format` filter is not available in chat templates; use str.format",
        ))
        },
    );
}

fn add_tests(env: &mut Environment<'_>) {
    // jinja2: anything with `__len__` and `__getitem__` (strings, dicts, and Undefined).
    env.add_test("sequence", |v: Value| {
        matches!(
            v.kind(),
            ValueKind::String | ValueKind::Seq | ValueKind::Map | ValueKind::Undefined
        )
    });
    // jinja2: anything `iter()` accepts (Undefined iterates as empty).
    env.add_test("iterable", |v: Value| {
        matches!(
            v.kind(),
            ValueKind::String
                | ValueKind::Seq
                | ValueKind::Map
                | ValueKind::Iterable
                | ValueKind::Undefined
        )
    });
    // Python: `bool` is a `numbers.Number`.
    env.add_test("number", |v: Value| {
        matches!(v.kind(), ValueKind::Number | ValueKind::Bool)
    });
}

/// A Python generator's behaviour over already computed items.
#[derive(Debug)]
struct Generator(Vec<Value>);

impl Object for Generator {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Iterable
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(self.0.clone())
    }

    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }

    fn is_true(self: &Arc<Self>) -> bool {
        true
    }

    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result
    where
        Self: Sized + 'static,
    {
        f.write_str("<generator object>")
    }
}

fn generator(items: Vec<Value>) -> Value {
    Value::from_object(Generator(items))
}

/// `str(v)` capped at the value limit.
fn str_of(b: &Budget, v: &Value) -> Result<String, Error> {
    py_str_string(v, b.limits.max_value_bytes).map_err(|o| b.overflow(o))
}

/// jinja2's `length`: `len(v)`, 0 for undefined.
fn length(v: Value) -> Result<Value, Error> {
    match v.kind() {
        ValueKind::Iterable => Err(Error::new(
            ErrorKind::InvalidOperation,
            "object of type 'generator' has no len()",
        )),
        ValueKind::Undefined => Ok(Value::from(0)),
        ValueKind::String => Ok(Value::from(v.as_str().unwrap_or_default().chars().count())),
        _ => v.len().map(Value::from).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("object of type '{}' has no len()", v.kind()),
            )
        }),
    }
}

/// Hugging Face's `tojson`: `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`, parameters open to the template.
fn tojson(b: &Budget, v: &Value, args: &[Value]) -> Result<Value, Error> {
    let a = bind(
        "tojson",
        args,
        &["ensure_ascii", "indent", "separators", "sort_keys"],
    )?;
    let mut opts = JsonOpts {
        ensure_ascii: opt(&a[0]).is_some_and(Value::is_true),
        sort_keys: opt(&a[3]).is_some_and(Value::is_true),
        ..JsonOpts::default()
    };
    if let Some(ind) = opt(&a[1]) {
        let ind = match ind.as_str() {
            Some(s) => s.to_owned(),
            None => {
                let n = int_arg("tojson", Some(ind), 0)?;
                " ".repeat(usize::try_from(n).unwrap_or(0).min(64))
            }
        };
        opts.indent = Some(ind);
        opts.item_sep = ",".into();
    }
    if let Some(seps) = opt(&a[2]) {
        let parts: Vec<Value> = seps.try_iter()?.collect();
        match parts.as_slice() {
            [i, k] => {
                opts.item_sep = str_of(b, i)?;
                opts.key_sep = str_of(b, k)?;
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "tojson separators must be a pair of strings",
                ))
            }
        }
    }
    let mut out = String::new();
    json_dumps(
        v,
        &opts,
        &mut Capped {
            out: &mut out,
            max: b.limits.max_value_bytes,
        },
        0,
    )
    .map_err(|o| b.overflow(o))?;
    Ok(Value::from(out))
}

/// jinja2's `join(d='', attribute=None)`: `d.join(str(x) for x in value)`.
fn join(b: &Budget, v: &Value, args: &[Value]) -> Result<Value, Error> {
    let a = bind("join", args, &["d", "attribute"])?;
    let sep = match opt(&a[0]) {
        Some(d) => str_of(b, d)?,
        None => String::new(),
    };
    let attr = opt(&a[1]).and_then(Value::as_str);
    if v.is_undefined() {
        return Ok(Value::from(""));
    }
    let mut out = String::new();
    for (i, item) in v.try_iter()?.enumerate() {
        let item = match attr {
            Some(attr) => item.get_attr(attr)?,
            None => item,
        };
        let s = str_of(b, &item)?;
        check_len(b, out.len() + sep.len() + s.len())?;
        if i > 0 {
            out.push_str(&sep);
        }
        out.push_str(&s);
    }
    Ok(Value::from(out))
}

/// jinja2's `indent(width=4, first=False, blank=False)`.
fn indent(b: &Budget, v: &Value, args: &[Value]) -> Result<Value, Error> {
    let a = bind("indent", args, &["width", "first", "blank"])?;
    let prefix = match opt(&a[0]) {
        Some(w) if w.as_str().is_some() => str_of(b, w)?,
        Some(w) => {
            let n = usize::try_from(int_arg("indent", Some(w), 4)?).unwrap_or(0);
            check_len(b, n)?;
            " ".repeat(n)
        }
        None => "    ".into(),
    };
    let first = opt(&a[1]).is_some_and(Value::is_true);
    let blank = opt(&a[2]).is_some_and(Value::is_true);
    let mut s = str_of(b, v)?;
    s.push('\n');
    let lines = py_splitlines(&s, false);
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.push('\n');
            if blank || !line.is_empty() {
                out.push_str(&prefix);
            }
        }
        out.push_str(line);
        check_len(b, out.len())?;
    }
    if first {
        out.insert_str(0, &prefix);
    }
    check_len(b, out.len())?;
    Ok(Value::from(out))
}

/// jinja2's `title`: words begin after `-`, whitespace or an opening bracket.
fn jinja_title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        let boundary = c == '-' || c.is_whitespace() || matches!(c, '(' | '{' | '[' | '<');
        if boundary {
            out.push(c);
            at_start = true;
        } else if at_start {
            out.extend(c.to_uppercase());
            at_start = false;
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}
