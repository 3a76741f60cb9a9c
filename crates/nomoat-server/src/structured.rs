//! `response_format`: the output spec of a request, compiled into a constraint per choice
//! (`nomoat-grammar`, llguidance underneath), so the output always parses.
//!
//! - `{"type": "text"}`: no constraint.
//! - `{"type": "json_object"}`: any JSON object.
//! - `{"type": "json_schema", "json_schema": {"name", "schema", "strict", "description"}}`:
//!   JSON valid against `schema` (enforced whether `strict` is true or not: a schema the grammar
//!   engine cannot enforce is a 400 naming the keyword, never a best effort).
//! - nomoat extensions: `{"type": "grammar", "grammar": LARK}` (llguidance's Lark syntax) and
//!   `{"type": "regex", "regex": RE}`.

use std::sync::Arc;

use nomoat_engine::sample::ConstraintBox;
use nomoat_grammar::{Compiled, OutputSpec};
use serde_json::Value;

use crate::error::ApiError;
use crate::model::Served;

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::invalid("response_format", msg)
}

/// The output spec `response_format` asks for; `None` for plain text.
pub fn parse(v: Option<&Value>) -> Result<Option<OutputSpec>, ApiError> {
    let Some(v) = v else {
        return Ok(None);
    };
    let o = v
        .as_object()
        .ok_or_else(|| bad("'response_format' must be an object with a 'type'"))?;
    let ty = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("'response_format.type' (a string) is required"))?;
    let only = |allowed: &[&str]| -> Result<(), ApiError> {
        match o.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(ApiError::invalid(
                format!("response_format.{k}"),
                format!("Unrecognized argument for response_format of type '{ty}': {k}"),
            )),
            None => Ok(()),
        }
    };
    match ty {
        "text" => {
            only(&["type"])?;
            Ok(None)
        }
        "json_object" => {
            only(&["type"])?;
            Ok(Some(OutputSpec::JsonObject))
        }
        "json_schema" => {
            only(&["type", "json_schema"])?;
            let js = o
                .get("json_schema")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("'response_format.json_schema' (an object) is required"))?;
            for k in js.keys() {
                if !matches!(k.as_str(), "name" | "schema" | "strict" | "description") {
                    return Err(ApiError::invalid(
                        format!("response_format.json_schema.{k}"),
                        format!("Unrecognized argument in response_format.json_schema: {k}"),
                    ));
                }
            }
            if let Some(s) = js.get("strict") {
                if !s.is_boolean() && !s.is_null() {
                    return Err(bad("'response_format.json_schema.strict' must be a boolean"));
                }
            }
            match js.get("name") {
                None => return Err(bad("'response_format.json_schema.name' is required")),
                Some(Value::String(n))
                    if !n.is_empty()
                        && n.len() <= 64
                        && n
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') => {}
                Some(_) => {
                    return Err(bad(
                        "'response_format.json_schema.name' must be 1-64 letters, digits, '_' or '-'",
                    ))
                }
            }
            let schema = js
                .get("schema")
                .cloned()
                .unwrap_or_else(|| serde_json::json!({}));
            Ok(Some(OutputSpec::JsonSchema(schema)))
        }
        "grammar" => {
            only(&["type", "grammar"])?;
            let g = o
                .get("grammar")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("'response_format.grammar' (a Lark grammar string) is required"))?;
            Ok(Some(OutputSpec::Lark(g.to_string())))
        }
        "regex" => {
            only(&["type", "regex"])?;
            let r = o
                .get("regex")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("'response_format.regex' (a string) is required"))?;
            Ok(Some(OutputSpec::Regex(r.to_string())))
        }
        other => Err(bad(format!(
            "unknown response_format type '{other}' (text, json_object, json_schema, grammar, regex)"
        ))),
    }
}

/// Compiles `spec` for `served`'s vocabulary, off the async threads.
pub async fn compile(served: &Arc<Served>, spec: OutputSpec) -> Result<Compiled, ApiError> {
    compile_as(served, spec, "response_format").await
}

/// [`compile`], with errors naming `param` (the request field the spec came from).
pub async fn compile_as(
    served: &Arc<Served>,
    spec: OutputSpec,
    param: &'static str,
) -> Result<Compiled, ApiError> {
    let text = served.text.clone();
    tokio::task::spawn_blocking(move || {
        let g = text.grammars().map_err(|e| {
            ApiError::invalid(
                param,
                format!("constrained decoding is not available for this model: {e}"),
            )
        })?;
        g.compile(&spec)
            .map_err(|e| ApiError::invalid(param, e.to_string()))
    })
    .await
    .map_err(|_| ApiError::internal(format!("internal error while compiling {param}")))?
}

/// One constraint per choice, or none.
pub fn constraints(compiled: Option<&Compiled>, n: usize) -> Vec<Option<ConstraintBox>> {
    (0..n).map(|_| compiled.map(Compiled::constraint)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        assert_eq!(parse(None).unwrap(), None);
        assert_eq!(parse(Some(&json!({"type": "text"}))).unwrap(), None);
        assert_eq!(
            parse(Some(&json!({"type": "json_object"}))).unwrap(),
            Some(OutputSpec::JsonObject)
        );
        let s = json!({"type": "object"});
        assert_eq!(
            parse(Some(&json!({"type": "json_schema", "json_schema": {"name": "x", "schema": s, "strict": true}})))
                .unwrap(),
            Some(OutputSpec::JsonSchema(s))
        );
        assert_eq!(
            parse(Some(&json!({"type": "regex", "regex": "a+"}))).unwrap(),
            Some(OutputSpec::Regex("a+".into()))
        );
        for bad in [
            json!("json"),
            json!({}),
            json!({"type": "xml"}),
            json!({"type": "json_object", "schema": {}}),
            json!({"type": "json_schema"}),
            json!({"type": "json_schema", "json_schema": {"schema": {}}}),
            json!({"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}}),
            json!({"type": "json_schema", "json_schema": {"name": "a", "schema": {}, "extra": 1}}),
            json!({"type": "grammar"}),
        ] {
            let e = parse(Some(&bad)).unwrap_err();
            assert!(
                e.param
                    .as_deref()
                    .unwrap_or("")
                    .starts_with("response_format"),
                "{bad}"
            );
        }
    }
}
