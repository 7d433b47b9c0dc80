//! A template's `validation.rules`, evaluated against a definition's `spec` (pure).

use crate::model::ValidationRule;
use serde_json::Value;

/// Why a rule failed, or `None` when it holds.
pub fn check(rule: &ValidationRule, spec: &Value) -> Option<(String, String)> {
    let found = spec.pointer(&rule.field);
    let Some(value) = found else {
        return rule
            .required
            .then(|| ("the field to be set".to_owned(), "nothing".to_owned()));
    };
    let shown = value.to_string();
    if let Some(n) = value.as_f64() {
        if let Some(min) = rule.min.filter(|m| n < *m) {
            return Some((format!(">= {min}"), shown));
        }
        if let Some(max) = rule.max.filter(|m| n > *m) {
            return Some((format!("<= {max}"), shown));
        }
    } else if rule.min.is_some() || rule.max.is_some() {
        return Some(("a number".to_owned(), shown));
    }
    if let Some(options) = &rule.one_of
        && !options.contains(value)
    {
        return Some((format!("one of {}", Value::Array(options.clone())), shown));
    }
    if let Some(expected) = &rule.equals
        && value != expected
    {
        return Some((expected.to_string(), shown));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: Value) -> ValidationRule {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn bounds_sets_and_required_fields() {
        let spec =
            json!({"requirements": {"memory_gb": 4}, "deployment": {"environment": "staging"}});
        let min = rule(json!({"field": "/requirements/memory_gb", "min": 8, "message": "m"}));
        assert_eq!(check(&min, &spec), Some((">= 8".into(), "4".into())));
        let ok = rule(json!({"field": "/requirements/memory_gb", "max": 8, "message": "m"}));
        assert_eq!(check(&ok, &spec), None);
        let env = rule(
            json!({"field": "/deployment/environment", "one_of": ["production"], "message": "m"}),
        );
        assert!(check(&env, &spec).is_some());
        let req =
            rule(json!({"field": "/deployment/backup_required", "required": true, "message": "m"}));
        assert_eq!(check(&req, &spec).map(|x| x.1), Some("nothing".into()));
        let optional =
            rule(json!({"field": "/deployment/backup_required", "equals": true, "message": "m"}));
        assert_eq!(check(&optional, &spec), None);
    }
}
