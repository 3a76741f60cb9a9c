//! The sandbox: limits, the per-render budget, and the rewrite of compiled templates.
//!
//! minijinja bounds instructions (fuel) and recursion, but three operators can grow a value
//! exponentially in a few instructions (`{% set s = s ~ s %}` in a loop, `x + x`, `'a' * n`),
//! and raw template text is written without passing the formatter. So after compiling, each
//! `StringConcat`, `Add` and `Mul` instruction is replaced by a call to a checked function, and
//! each `EmitRaw(text)` by `LoadConst(text); Emit`, so every byte of output passes the formatter,
//! which counts it; `Slice` becomes Python's slicing (a list, not minijinja's lazy view); each
//! `PushLoop` is preceded by a call that refuses non-iterables, as Python. Jump targets are remapped. The checked functions are registered under names
//! with a space in them, which no template identifier can shadow.
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use minijinja::machinery::{Instruction, Instructions};
use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

use crate::error::Limit;
use crate::pyfmt::{py_str, py_str_string, Capped, Overflow};

/// Name of the checked `~` operator.
pub(crate) const CONCAT_FN: &str = "nomoat concat";
/// Name of the checked `+` operator.
pub(crate) const ADD_FN: &str = "nomoat add";
/// Name of the checked `*` operator.
pub(crate) const MUL_FN: &str = "nomoat mul";
/// Name of the checked `**` operator.
pub(crate) const POW_FN: &str = "nomoat pow";
/// Name of the Python-semantics slice (`x[a:b:c]`).
pub(crate) const SLICE_FN: &str = "nomoat slice";
/// Name of the check run on a `for` loop's source before the loop starts.
pub(crate) const ITER_FN: &str = "nomoat iter";

/// Bounds of one render. The defaults leave real templates wide margins: the largest of the 70
/// reference templates uses a few thousand instructions per short conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest template source accepted, in bytes.
    pub max_template_bytes: usize,
    /// Instructions one render may run.
    pub fuel: u64,
    /// Largest rendered prompt, in bytes (all emitted text, captured blocks included).
    pub max_output_bytes: usize,
    /// Largest string a template may build (`~`, `+`, `*`, filters), in bytes; also the cap on
    /// items of a list built with `+` or `*`.
    pub max_value_bytes: usize,
    /// minijinja recursion budget (a macro call costs 4, a loop or `if` level 1).
    pub recursion_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_template_bytes: 256 * 1024,
            fuel: 2_000_000,
            max_output_bytes: 4 * 1024 * 1024,
            max_value_bytes: 4 * 1024 * 1024,
            recursion_limit: 200,
        }
    }
}

/// What stopped a render, recorded by the sandbox's own functions so the caller can report it
/// precisely (minijinja's error only says "invalid operation").
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    Raised(String),
    Limit(Limit),
}

/// Per-render accounting shared by the formatter and the checked functions.
#[derive(Debug)]
pub(crate) struct Budget {
    pub(crate) limits: Limits,
    emitted: AtomicUsize,
    cause: Mutex<Option<Cause>>,
}

impl Budget {
    pub(crate) fn new(limits: Limits) -> Arc<Budget> {
        Arc::new(Budget {
            limits,
            emitted: AtomicUsize::new(0),
            cause: Mutex::new(None),
        })
    }

    /// Remembers the first cause of failure.
    pub(crate) fn record(&self, cause: Cause) {
        if let Ok(mut c) = self.cause.lock() {
            if c.is_none() {
                *c = Some(cause);
            }
        }
    }

    pub(crate) fn cause(&self) -> Option<Cause> {
        self.cause.lock().ok().and_then(|c| c.clone())
    }

    /// Records a limit and returns the error that stops the render.
    pub(crate) fn limit(&self, limit: Limit) -> Error {
        self.record(Cause::Limit(limit));
        Error::new(ErrorKind::InvalidOperation, limit.to_string())
    }

    pub(crate) fn value_limit(&self) -> Error {
        self.limit(Limit::ValueSize {
            max: self.limits.max_value_bytes,
        })
    }

    /// Maps a capped-writer failure to a render error.
    pub(crate) fn overflow(&self, o: Overflow) -> Error {
        match o {
            Overflow::TooBig => self.value_limit(),
            Overflow::Type(msg) => Error::new(ErrorKind::InvalidOperation, msg),
        }
    }

    /// Counts `n` more output bytes.
    fn spend_output(&self, n: usize) -> Result<(), Error> {
        let max = self.limits.max_output_bytes;
        let before = self.emitted.fetch_add(n, Ordering::Relaxed);
        if before.saturating_add(n) > max {
            return Err(self.limit(Limit::Output { max }));
        }
        Ok(())
    }

    fn output_left(&self) -> usize {
        self.limits
            .max_output_bytes
            .saturating_sub(self.emitted.load(Ordering::Relaxed))
    }
}

/// The formatter: writes `str(value)` as Python would and counts every byte.
pub(crate) fn format_value(
    budget: &Budget,
    out: &mut minijinja::Output<'_>,
    value: &Value,
) -> Result<(), Error> {
    let text;
    let s = match value.as_str() {
        Some(s) => s,
        None => {
            text = py_str_string(value, budget.output_left()).map_err(|o| match o {
                Overflow::TooBig => budget.limit(Limit::Output {
                    max: budget.limits.max_output_bytes,
                }),
                o => budget.overflow(o),
            })?;
            &text
        }
    };
    budget.spend_output(s.len())?;
    out.write_str(s).map_err(Error::from)
}

/// Rewrites compiled instructions as described in the module comment.
pub(crate) fn rewrite<'s>(src: &Instructions<'s>) -> Instructions<'s> {
    let n = src.len();
    // new_pos[i]: where old instruction i lands; new_pos[n]: one past the end.
    let mut new_pos = Vec::with_capacity(n + 1);
    let mut pos = 0u32;
    for i in 0..n {
        new_pos.push(pos);
        let width = match src.get(i as u32) {
            Some(Instruction::EmitRaw(_) | Instruction::PushLoop(_)) => 2,
            _ => 1,
        };
        pos = pos.saturating_add(width);
    }
    new_pos.push(pos);
    let map = |t: u32| new_pos.get(t as usize).copied().unwrap_or(t);

    let mut out = Instructions::new(src.name(), src.source());
    for i in 0..n as u32 {
        let Some(instr) = src.get(i) else { break };
        let span = src.get_span(i);
        let line = src.get_line(i);
        let mut push = |ins: Instruction<'s>| match (span, line) {
            (Some(s), _) => {
                out.add_with_span(ins, s);
            }
            (None, Some(l)) => {
                out.add_with_line(ins, u16::try_from(l).unwrap_or(u16::MAX));
            }
            (None, None) => {
                out.add(ins);
            }
        };
        match instr {
            Instruction::EmitRaw(s) => {
                push(Instruction::LoadConst(Value::from(*s)));
                push(Instruction::Emit);
            }
            Instruction::PushLoop(flags) => {
                push(Instruction::CallFunction(ITER_FN, Some(1)));
                push(Instruction::PushLoop(*flags));
            }
            Instruction::StringConcat => push(Instruction::CallFunction(CONCAT_FN, Some(2))),
            Instruction::Add => push(Instruction::CallFunction(ADD_FN, Some(2))),
            Instruction::Mul => push(Instruction::CallFunction(MUL_FN, Some(2))),
            Instruction::Slice => push(Instruction::CallFunction(SLICE_FN, Some(4))),
            Instruction::Pow => push(Instruction::CallFunction(POW_FN, Some(2))),
            Instruction::Jump(t) => push(Instruction::Jump(map(*t))),
            Instruction::JumpIfFalse(t) => push(Instruction::JumpIfFalse(map(*t))),
            Instruction::JumpIfFalseOrPop(t) => push(Instruction::JumpIfFalseOrPop(map(*t))),
            Instruction::JumpIfTrueOrPop(t) => push(Instruction::JumpIfTrueOrPop(map(*t))),
            Instruction::Iterate(t) => push(Instruction::Iterate(map(*t))),
            Instruction::BuildMacro(name, t, flags) => {
                push(Instruction::BuildMacro(name, map(*t), *flags))
            }
            other => push(other.clone()),
        }
    }
    out
}

/// Rewrites a template's main instructions and its blocks.
pub(crate) fn rewrite_all<'s>(
    main: &Instructions<'s>,
    blocks: &BTreeMap<&'s str, Instructions<'s>>,
) -> (Instructions<'s>, BTreeMap<&'s str, Instructions<'s>>) {
    let blocks = blocks.iter().map(|(k, v)| (*k, rewrite(v))).collect();
    (rewrite(main), blocks)
}

/// A `for` loop's source must be iterable, as in Python: `for x in none` is a `TypeError`
/// (minijinja would loop zero times). Undefined values loop zero times, as in jinja2.
pub(crate) fn check_iterable(v: Value) -> Result<Value, Error> {
    match v.kind() {
        ValueKind::None | ValueKind::Bool | ValueKind::Number | ValueKind::Plain => {
            Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("'{}' object is not iterable", v.kind()),
            ))
        }
        _ => Ok(v),
    }
}

/// `v[start:stop:step]` as Python: strings give strings, lists give lists.
pub(crate) fn slice(v: Value, start: Value, stop: Value, step: Value) -> Result<Value, Error> {
    let bound = |x: &Value, what: &str| -> Result<Option<i64>, Error> {
        if x.is_none() || x.is_undefined() {
            return Ok(None);
        }
        x.as_i64().map(Some).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("slice {what} must be an integer or None"),
            )
        })
    };
    let step = bound(&step, "step")?.unwrap_or(1);
    if step == 0 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "slice step cannot be zero",
        ));
    }
    let (start, stop) = (bound(&start, "start")?, bound(&stop, "stop")?);
    match v.kind() {
        ValueKind::String => {
            let chars: Vec<char> = v.as_str().unwrap_or_default().chars().collect();
            let idx = slice_indices(chars.len(), start, stop, step);
            Ok(Value::from(idx.map(|i| chars[i]).collect::<String>()))
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let items: Vec<Value> = v.try_iter()?.collect();
            let idx = slice_indices(items.len(), start, stop, step);
            Ok(Value::from(
                idx.map(|i| items[i].clone()).collect::<Vec<_>>(),
            ))
        }
        ValueKind::Undefined => Err(Error::new(
            ErrorKind::UndefinedError,
            "cannot slice an undefined value",
        )),
        kind => Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("'{kind}' object is not subscriptable"),
        )),
    }
}

/// The indices `range(*slice(start, stop, step).indices(len))` visits.
fn slice_indices(
    len: usize,
    start: Option<i64>,
    stop: Option<i64>,
    step: i64,
) -> impl Iterator<Item = usize> {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let (lower, upper) = if step < 0 { (-1, len - 1) } else { (0, len) };
    let clamp = |x: Option<i64>, default: i64| match x {
        None => default,
        Some(x) if x < 0 => (x.saturating_add(len)).max(lower),
        Some(x) => x.min(upper),
    };
    let start = clamp(start, if step < 0 { upper } else { lower });
    let stop = clamp(stop, if step < 0 { lower } else { upper });
    let mut i = start;
    std::iter::from_fn(move || {
        let inside = if step > 0 { i < stop } else { i > stop };
        if !inside {
            return None;
        }
        let cur = i;
        i = i.saturating_add(step);
        usize::try_from(cur).ok()
    })
}

/// A number as Python sees it (`True` is 1).
enum Num {
    Int(i128),
    Float(f64),
}

fn as_num(v: &Value) -> Option<Num> {
    match v.kind() {
        ValueKind::Bool => Some(Num::Int(i128::from(v.is_true()))),
        ValueKind::Number if v.is_integer() => i128::try_from(v.clone()).ok().map(Num::Int),
        ValueKind::Number => f64::try_from(v.clone()).ok().map(Num::Float),
        _ => None,
    }
}

fn int_value(i: i128) -> Value {
    match i64::try_from(i) {
        Ok(small) => Value::from(small),
        Err(_) => Value::from(i),
    }
}

fn type_error(op: &str, a: &Value, b: &Value) -> Error {
    if a.is_undefined() || b.is_undefined() {
        return Error::new(
            ErrorKind::UndefinedError,
            format!("an undefined value was used with '{op}'"),
        );
    }
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "unsupported operand type(s) for {op}: '{}' and '{}'",
            a.kind(),
            b.kind()
        ),
    )
}

/// `a ~ b`: `str(a) + str(b)`, at most `max_value_bytes`.
pub(crate) fn concat(budget: &Budget, a: &Value, b: &Value) -> Result<Value, Error> {
    let mut s = String::new();
    let mut w = Capped {
        out: &mut s,
        max: budget.limits.max_value_bytes,
    };
    py_str(a, &mut w).map_err(|o| budget.overflow(o))?;
    py_str(b, &mut w).map_err(|o| budget.overflow(o))?;
    Ok(Value::from(s))
}

/// `a + b` with Python's rules: numbers add, strings and lists concatenate, the rest fails.
pub(crate) fn add(budget: &Budget, a: &Value, b: &Value) -> Result<Value, Error> {
    let max = budget.limits.max_value_bytes;
    match (a.kind(), b.kind()) {
        (ValueKind::String, ValueKind::String) => {
            // jinja2's `|safe` makes a `Markup`; `Markup + str` HTML-escapes the plain side and
            // stays `Markup` (markupsafe), which some templates rely on (functionary v3.1).
            if a.is_safe() == b.is_safe() {
                let joined = concat(budget, a, b)?;
                return Ok(if a.is_safe() {
                    Value::from_safe_string(joined.as_str().unwrap_or_default().to_owned())
                } else {
                    joined
                });
            }
            let esc = |v: &Value| {
                if v.is_safe() {
                    v.as_str().unwrap_or_default().to_owned()
                } else {
                    html_escape(v.as_str().unwrap_or_default())
                }
            };
            let (l, r) = (esc(a), esc(b));
            if l.len().saturating_add(r.len()) > max {
                return Err(budget.value_limit());
            }
            Ok(Value::from_safe_string(l + &r))
        }
        (ValueKind::Seq, ValueKind::Seq) => {
            let total = a.len().unwrap_or(0).saturating_add(b.len().unwrap_or(0));
            if total > max {
                return Err(budget.value_limit());
            }
            let items: Vec<Value> = a
                .try_iter()
                .into_iter()
                .flatten()
                .chain(b.try_iter().into_iter().flatten())
                .collect();
            Ok(Value::from(items))
        }
        _ => match (as_num(a), as_num(b)) {
            (Some(Num::Int(x)), Some(Num::Int(y))) => x
                .checked_add(y)
                .map(int_value)
                .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "integer overflow")),
            (Some(x), Some(y)) => Ok(Value::from(to_f64(x) + to_f64(y))),
            _ => Err(type_error("+", a, b)),
        },
    }
}

/// markupsafe's `escape`.
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            c => out.push(c),
        }
    }
    out
}

/// `a ** b` with Python's rules: exact integers for non-negative integer exponents (an error
/// past 128 bits, where Python would keep going), floats otherwise.
pub(crate) fn pow(a: Value, b: Value) -> Result<Value, Error> {
    match (as_num(&a), as_num(&b)) {
        (Some(Num::Int(x)), Some(Num::Int(y))) if y >= 0 => u32::try_from(y)
            .ok()
            .and_then(|y| x.checked_pow(y))
            .map(int_value)
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "integer overflow in **")),
        (Some(Num::Int(0)), Some(Num::Int(_))) => Err(Error::new(
            ErrorKind::InvalidOperation,
            "0 cannot be raised to a negative power",
        )),
        (Some(x), Some(y)) => Ok(Value::from(to_f64(x).powf(to_f64(y)))),
        _ => Err(type_error("**", &a, &b)),
    }
}

fn to_f64(n: Num) -> f64 {
    match n {
        Num::Int(i) => i as f64,
        Num::Float(f) => f,
    }
}

/// `a * b` with Python's rules, refusing to build strings or lists past the cap.
pub(crate) fn mul(budget: &Budget, a: &Value, b: &Value) -> Result<Value, Error> {
    let max = budget.limits.max_value_bytes;
    let repeat_count = |n: &Value| match as_num(n) {
        Some(Num::Int(i)) if matches!(n.kind(), ValueKind::Number | ValueKind::Bool) => {
            Some(usize::try_from(i.max(0)).unwrap_or(usize::MAX))
        }
        _ => None,
    };
    let (seq, count) = match (a.kind(), b.kind()) {
        (ValueKind::String | ValueKind::Seq, _) => (a, repeat_count(b)),
        (_, ValueKind::String | ValueKind::Seq) => (b, repeat_count(a)),
        _ => (a, None),
    };
    if matches!(seq.kind(), ValueKind::String | ValueKind::Seq) {
        let Some(count) = count else {
            return Err(type_error("*", a, b));
        };
        if let Some(s) = seq.as_str() {
            if s.len().saturating_mul(count) > max {
                return Err(budget.value_limit());
            }
            return Ok(Value::from(s.repeat(count)));
        }
        let items: Vec<Value> = seq.try_iter().into_iter().flatten().collect();
        if items.len().saturating_mul(count) > max {
            return Err(budget.value_limit());
        }
        let mut out = Vec::with_capacity(items.len() * count);
        for _ in 0..count {
            out.extend(items.iter().cloned());
        }
        return Ok(Value::from(out));
    }
    match (as_num(a), as_num(b)) {
        (Some(Num::Int(x)), Some(Num::Int(y))) => x
            .checked_mul(y)
            .map(int_value)
            .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "integer overflow")),
        (Some(x), Some(y)) => Ok(Value::from(to_f64(x) * to_f64(y))),
        _ => Err(type_error("*", a, b)),
    }
}
