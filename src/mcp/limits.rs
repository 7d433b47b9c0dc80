//! Bounds on one MCP tool call, checked before any handler runs: the size of the
//! arguments (as compact JSON) and their nesting depth. Pure; the per-call deadline and
//! the blocking-pool hand-off live in [`super::server`], the settings in
//! [`super::settings`] (`[mcp] max_argument_bytes`, `max_argument_depth`).

use serde_json::Value;

/// Why a call's arguments were refused; the message names the limit and how to raise it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgumentError {
    #[error(
        "the arguments are larger than {limit} bytes as JSON ([mcp] max_argument_bytes); send less, or raise the limit in config.toml"
    )]
    TooLarge { limit: usize },
    #[error(
        "the arguments nest deeper than {limit} levels ([mcp] max_argument_depth); flatten them, or raise the limit in config.toml"
    )]
    TooDeep { limit: usize },
}

/// Checks a call's `arguments` (a JSON object) against both limits: see [`check`].
pub fn check_arguments(
    arguments: &serde_json::Map<String, Value>,
    max_bytes: usize,
    max_depth: usize,
) -> Result<(), ArgumentError> {
    // The object itself is the first level.
    if max_depth == 0 || arguments.values().any(|v| depth_exceeds(v, max_depth - 1)) {
        return Err(ArgumentError::TooDeep { limit: max_depth });
    }
    count(arguments, max_bytes)
}

/// Checks `arguments` against both limits. Depth is measured without recursion (an
/// explicit stack), and size by serialising into a counter that stops at the limit, so
/// the check itself allocates nothing proportional to the input.
pub fn check(arguments: &Value, max_bytes: usize, max_depth: usize) -> Result<(), ArgumentError> {
    if depth_exceeds(arguments, max_depth) {
        return Err(ArgumentError::TooDeep { limit: max_depth });
    }
    count(arguments, max_bytes)
}

fn count(arguments: &impl serde::Serialize, max_bytes: usize) -> Result<(), ArgumentError> {
    let mut counter = Counter {
        written: 0,
        limit: max_bytes,
    };
    if serde_json::to_writer(&mut counter, arguments).is_err() || counter.written > max_bytes {
        return Err(ArgumentError::TooLarge { limit: max_bytes });
    }
    Ok(())
}

/// Does `value` nest deeper than `max` (a scalar is depth 0, `{}` or `[]` depth 1)?
fn depth_exceeds(value: &Value, max: usize) -> bool {
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > max {
            return true;
        }
        stack.extend(children.map(|c| (c, depth + 1)));
    }
    false
}

/// A writer that only counts, and fails once past `limit`.
struct Counter {
    written: usize,
    limit: usize,
}

impl std::io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.written += buf.len();
        if self.written > self.limit {
            return Err(std::io::Error::other("over the limit"));
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nested(depth: usize) -> Value {
        let mut v = json!(1);
        for _ in 0..depth {
            v = json!({ "a": [v] });
        }
        v
    }

    #[test]
    fn depth_and_size_are_refused_with_the_limit_named() {
        assert!(check(&json!({"a": "b"}), 100, 2).is_ok());
        assert_eq!(
            check(&json!({"a": {"b": {"c": 1}}}), 100, 2),
            Err(ArgumentError::TooDeep { limit: 2 })
        );
        // `{"a":[...]}` adds two levels per wrapper.
        assert!(check(&nested(5), 10_000, 10).is_ok());
        assert!(check(&nested(6), 10_000, 10).is_err());
        let err = check(&json!({ "s": "x".repeat(200) }), 100, 8).unwrap_err();
        assert_eq!(err, ArgumentError::TooLarge { limit: 100 });
        assert!(
            err.to_string().contains("[mcp] max_argument_bytes"),
            "{err}"
        );
        assert!(check(&json!({ "s": "x".repeat(50) }), 100, 8).is_ok());
        let Value::Object(args) = json!({"a": {"b": 1}}) else {
            unreachable!()
        };
        assert!(check_arguments(&args, 100, 2).is_ok());
        assert!(check_arguments(&args, 100, 1).is_err());
    }
}
