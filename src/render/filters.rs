//! Template helpers that make user data safe in each output language.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};

/// `{{ x | hcl }}`: an HCL literal for any value. Strings are quoted with JSON escapes,
/// and `${` / `%{` are doubled so Terraform never reads user data as an interpolation.
pub fn hcl(value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_hcl(value, &mut out, 0)?;
    Ok(out)
}

fn write_hcl(value: &Value, out: &mut String, depth: usize) -> Result<(), Error> {
    if depth > 32 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "value nested too deeply for hcl",
        ));
    }
    match value.kind() {
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "hcl of an undefined value",
            ));
        }
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => out.push_str(&value.to_string()),
        ValueKind::String => quote(value.as_str().unwrap_or_default(), out),
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_hcl(&item, out, depth + 1)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            let keys: Vec<Value> = value.try_iter()?.collect();
            if keys.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push_str("{ ");
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quote(&key.to_string(), out);
                out.push_str(" = ");
                write_hcl(&value.get_item(key)?, out, depth + 1)?;
            }
            out.push_str(" }");
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot write a {} as HCL", value.kind()),
            ));
        }
    }
    Ok(())
}

fn quote(s: &str, out: &mut String) {
    let json = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    out.push_str(&json.replace("${", "$${").replace("%{", "%%{"));
}

/// `{{ fail("message") }}`: stops rendering this resource with the chart's message.
pub fn fail(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(v: serde_json::Value) -> String {
        hcl(&Value::from(minijinja::value::Serde(&v))).unwrap()
    }

    #[test]
    fn strings_cannot_break_out_or_interpolate() {
        assert_eq!(h(serde_json::json!("a\"b")), r#""a\"b""#);
        assert_eq!(
            h(serde_json::json!("${file(\"/etc/passwd\")}")),
            r#""$${file(\"/etc/passwd\")}""#
        );
        assert_eq!(h(serde_json::json!("%{ if x }")), r#""%%{ if x }""#);
        assert_eq!(h(serde_json::json!("line\nbreak")), r#""line\nbreak""#);
    }

    #[test]
    fn collections_use_hcl_syntax() {
        assert_eq!(
            h(serde_json::json!([1, "x", true, null])),
            r#"[1, "x", true, null]"#
        );
        assert_eq!(
            h(serde_json::json!({"b": 1, "a": "x"})),
            r#"{ "a" = "x", "b" = 1 }"#
        );
        assert_eq!(h(serde_json::json!({})), "{}");
    }
}
