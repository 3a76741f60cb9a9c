//! Typed errors of template compilation and rendering.
use std::fmt;

/// Why a template could not be compiled or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The template source is not valid Jinja (or is empty of meaning for minijinja).
    #[error("chat template syntax error{}: {message}", at_line(*line))]
    Syntax {
        message: String,
        line: Option<usize>,
    },
    /// Rendering failed (undefined attribute, type error, unknown filter, unsafe call, ...).
    #[error("chat template render error{}: {message}", at_line(*line))]
    Render {
        message: String,
        line: Option<usize>,
    },
    /// The template called `raise_exception(message)`: the message is the template's own.
    #[error("chat template raised an exception: {0}")]
    Raised(String),
    /// A sandbox limit stopped the template.
    #[error("chat template stopped: {0}")]
    Limit(Limit),
}

/// The sandbox limit a template ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// The template source is larger than `max` bytes.
    TemplateSize { len: usize, max: usize },
    /// The render ran more than `fuel` instructions.
    Fuel { fuel: u64 },
    /// The rendered text would exceed `max` bytes.
    Output { max: usize },
    /// A string, list or JSON value built by the template would exceed `max` bytes or items.
    ValueSize { max: usize },
    /// Nesting (macros, loops, includes of recursion) went deeper than allowed.
    Recursion,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Limit::TemplateSize { len, max } => {
                write!(
                    f,
                    "the template is {len} bytes, more than the {max}-byte limit"
                )
            }
            Limit::Fuel { fuel } => write!(
                f,
                "the render used all its fuel ({fuel} instructions); the template loops too much"
            ),
            Limit::Output { max } => write!(f, "the rendered prompt exceeds {max} bytes"),
            Limit::ValueSize { max } => write!(
                f,
                "the template built a string or list larger than {max} bytes or items"
            ),
            Limit::Recursion => write!(f, "the template nests or recurses too deeply"),
        }
    }
}

fn at_line(line: Option<usize>) -> String {
    match line {
        Some(l) => format!(" at line {l}"),
        None => String::new(),
    }
}
