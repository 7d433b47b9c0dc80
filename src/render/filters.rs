//! Template helpers that make user data safe in each output language.
//!
//! Every tool that reads rendered files has an expression language of its own, evaluated
//! after homelabd is done: Ansible's Jinja, compose's `${VAR}`, Terraform's `${}` / `%{}`,
//! Kubernetes' `$(VAR)`, ARM's `[expression]`, CloudFormation's intrinsic functions and
//! `{{resolve:...}}`. Each filter here writes a value as a literal of the file's syntax
//! *and* escapes it for that language, so a value from a definition stays data (see
//! docs/charts.md, "Values are data"). All filters are pure and recurse into lists and
//! maps.

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};
use std::borrow::Cow;

/// Deeper values are refused: no definition needs them, and recursion stays bounded.
const MAX_DEPTH: usize = 32;

/// `{{ x | hcl }}`: an HCL literal for any value. Strings are quoted with JSON escapes,
/// and `${` / `%{` are doubled so Terraform never reads user data as an interpolation.
pub fn hcl(value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write_hcl(value, &mut out, 0)?;
    Ok(out)
}

fn write_hcl(value: &Value, out: &mut String, depth: usize) -> Result<(), Error> {
    if depth > MAX_DEPTH {
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
        ValueKind::String => hcl_quote(value.as_str().unwrap_or_default(), out),
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
                hcl_quote(&key.to_string(), out);
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

fn hcl_quote(s: &str, out: &mut String) {
    let mut quoted = String::new();
    quote(s, &mut quoted);
    out.push_str(&quoted.replace("${", "$${").replace("%{", "%%{"));
}

/// Writes `s` as a double-quoted string that means the same in JSON, YAML and HCL: `"`
/// and `\` escaped, `\n` `\r` `\t` as such, every other control character (and the
/// Unicode line separators, which YAML 1.1 treats as line breaks) as `\uXXXX`. JSON's
/// `\b` and `\f` are avoided because HCL does not know them.
fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// How one target language wants a value written: a JSON-shaped literal (JSON, and YAML
/// flow style) with each string passed through `value` (or `key` for map keys).
struct Dialect {
    /// The filter's name, for error messages.
    name: &'static str,
    value: Escape,
    key: Escape,
}

/// A string written for a target language, or why the language would not read it as
/// the literal it is.
type Escape = fn(&str) -> Result<Cow<'_, str>, Unwritable>;

/// A string no escape makes literal; the text becomes the filter's template error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum Unwritable {
    #[error(
        "{0:?} contains a CloudFormation dynamic reference ({{{{resolve:...}}}}), \
         which CloudFormation would resolve and cannot escape"
    )]
    DynamicReference(String),
    #[error(
        "a map with the key {0:?} would be a CloudFormation intrinsic function; \
         values must be plain data"
    )]
    Intrinsic(String),
}

fn write(dialect: &Dialect, value: &Value, out: &mut String, depth: usize) -> Result<(), Error> {
    let refuse = |why: String| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("{}: {why}", dialect.name),
        )
    };
    if depth > MAX_DEPTH {
        return Err(refuse("value nested too deeply".to_owned()));
    }
    match value.kind() {
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                format!("{} of an undefined value", dialect.name),
            ));
        }
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if value.is_true() { "true" } else { "false" }),
        ValueKind::Number => {
            out.push_str(&serde_json::to_string(value).map_err(|e| refuse(format!("number: {e}")))?)
        }
        ValueKind::String => {
            let escaped = (dialect.value)(value.as_str().unwrap_or_default())
                .map_err(|e| refuse(e.to_string()))?;
            quote(&escaped, out);
        }
        ValueKind::Seq | ValueKind::Iterable => {
            out.push('[');
            for (i, item) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write(dialect, &item, out, depth + 1)?;
            }
            out.push(']');
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in value.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let text = key.to_string();
                let escaped = (dialect.key)(&text).map_err(|e| refuse(e.to_string()))?;
                quote(&escaped, out);
                out.push_str(": ");
                write(dialect, &value.get_item(&key)?, out, depth + 1)?;
            }
            out.push('}');
        }
        _ => {
            return Err(refuse(format!("cannot write a {}", value.kind())));
        }
    }
    Ok(())
}

fn render(dialect: &Dialect, value: &Value) -> Result<String, Error> {
    let mut out = String::new();
    write(dialect, value, &mut out, 0)?;
    Ok(out)
}

fn same(s: &str) -> Result<Cow<'_, str>, Unwritable> {
    Ok(Cow::Borrowed(s))
}

/// Every `$` doubled: compose and Kubernetes both read `$$` as a literal `$`.
fn double_dollars(s: &str) -> Result<Cow<'_, str>, Unwritable> {
    Ok(if s.contains('$') {
        Cow::Owned(s.replace('$', "$$"))
    } else {
        Cow::Borrowed(s)
    })
}

/// `{{ x | ansible }}`: a YAML flow literal that Ansible never templates. Ansible only
/// templates strings holding a `{` (`{{`, `{%`, `{#`), so a value with a `{` anywhere in
/// it (a key or a nested string) is tagged `!unsafe`, Ansible's documented mark for data
/// that must never be templated; a list or map is tagged as a whole, which covers
/// everything inside. A value like `{{ lookup('pipe', 'id') }}` then reaches tasks and
/// role templates as those characters instead of running on the controller.
///
/// Why not tag every string: Ansible 2.19 reads a tagged scalar again as if it were
/// unquoted, so `!unsafe "29"` would turn into a number and `!unsafe "*"` fails to load.
/// No string that holds a `{` resolves to anything but a string.
pub fn ansible(value: &Value) -> Result<String, Error> {
    let json = render(
        &Dialect {
            name: "ansible",
            value: same,
            key: same,
        },
        value,
    )?;
    Ok(if holds_brace(value, 0)? {
        format!("!unsafe {json}")
    } else {
        json
    })
}

fn holds_brace(value: &Value, depth: usize) -> Result<bool, Error> {
    if depth > MAX_DEPTH {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "ansible: value nested too deeply",
        ));
    }
    Ok(match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().contains('{'),
        ValueKind::Seq | ValueKind::Iterable => {
            for item in value.try_iter()? {
                if holds_brace(&item, depth + 1)? {
                    return Ok(true);
                }
            }
            false
        }
        ValueKind::Map => {
            for key in value.try_iter()? {
                if key.to_string().contains('{') || holds_brace(&value.get_item(&key)?, depth + 1)?
                {
                    return Ok(true);
                }
            }
            false
        }
        _ => false,
    })
}

/// Ansible's own variables, set by Ansible itself; a definition must not override them.
const ANSIBLE_MAGIC_VARS: &[&str] = &[
    "group_names",
    "groups",
    "hostvars",
    "inventory_dir",
    "inventory_file",
    "inventory_hostname",
    "inventory_hostname_short",
    "omit",
    "play_hosts",
    "playbook_dir",
    "role_name",
    "role_names",
    "role_path",
    "vars",
];

/// `{{ name | ansible_var_name }}`: a play variable's name, refused unless it is a plain
/// identifier outside Ansible's own namespace. `ansible_*` variables configure how
/// Ansible connects and runs, so a definition could turn them against the controller:
/// `ansible_connection: local` runs the whole play (with `become`) on the host that runs
/// homelabd, and `ansible_ssh_common_args` can start a command there via ProxyCommand.
pub fn ansible_var_name(name: &str) -> Result<String, Error> {
    let refuse = |why: &str| {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("ansible: variable {name:?} {why}"),
        ))
    };
    let mut chars = name.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !identifier {
        return refuse("is not a valid variable name (letters, digits and _)");
    }
    if name.to_ascii_lowercase().starts_with("ansible_") {
        return refuse(
            "is one of Ansible's connection and behaviour settings, which definitions may \
             not set (the chart sets them from its values, e.g. ssh_user)",
        );
    }
    if ANSIBLE_MAGIC_VARS.contains(&name) {
        return refuse("is one of Ansible's special variables");
    }
    let mut out = String::new();
    quote(name, &mut out);
    Ok(out)
}

/// `{{ x | compose }}`: a JSON (YAML) literal for a docker compose file, with every `$`
/// in a string doubled so compose never interpolates `${VAR}` or `$VAR` from the host's
/// environment. Map keys are written as they are: compose interpolates values only, so a
/// doubled key would stay doubled.
pub fn compose(value: &Value) -> Result<String, Error> {
    render(
        &Dialect {
            name: "compose",
            value: double_dollars,
            key: same,
        },
        value,
    )
}

/// `{{ x | kube_command }}`: a JSON (YAML) literal for a container's `command`, `args`
/// or `env[].value`, where Kubernetes expands `$(VAR)`. Every `$` is doubled (`$$` is
/// Kubernetes' escape for `$`), so the container sees exactly the user's string.
pub fn kube_command(value: &Value) -> Result<String, Error> {
    render(
        &Dialect {
            name: "kube_command",
            value: double_dollars,
            key: same,
        },
        value,
    )
}

/// ARM evaluates a string that starts with `[` and ends with `]`; `[[` at the start is
/// its escape for a literal `[`. Other strings are literal already and stay as they are.
fn arm_escape(s: &str) -> Result<Cow<'_, str>, Unwritable> {
    Ok(if s.starts_with('[') && s.ends_with(']') {
        Cow::Owned(format!("[{s}"))
    } else {
        Cow::Borrowed(s)
    })
}

/// `{{ x | arm }}`: a JSON literal for an ARM template in which no string (keys
/// included: tag names can be expressions too) is read as a template expression.
pub fn arm(value: &Value) -> Result<String, Error> {
    render(
        &Dialect {
            name: "arm",
            value: arm_escape,
            key: arm_escape,
        },
        value,
    )
}

/// CloudFormation resolves `{{resolve:ssm:...}}` / `{{resolve:secretsmanager:...}}`
/// dynamic references in string properties and has no escape for them, so a value that
/// holds one is refused rather than let it read a parameter or secret into the stack.
fn cfn_string(s: &str) -> Result<Cow<'_, str>, Unwritable> {
    let lower = s.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("{{") {
        let after = rest[at + 2..].trim_start();
        if after.starts_with("resolve") && after["resolve".len()..].trim_start().starts_with(':') {
            return Err(Unwritable::DynamicReference(s.to_owned()));
        }
        rest = &rest[at + 2..];
    }
    Ok(Cow::Borrowed(s))
}

/// A map with a key `Ref`, `Condition` or `Fn::...` is an intrinsic function call.
fn cfn_key(s: &str) -> Result<Cow<'_, str>, Unwritable> {
    if s == "Ref" || s == "Condition" || s.starts_with("Fn::") {
        return Err(Unwritable::Intrinsic(s.to_owned()));
    }
    cfn_string(s)
}

/// `{{ x | cfn }}`: a JSON literal for a CloudFormation template. Strings are literal
/// outside `Fn::Sub` already; what CloudFormation would still evaluate — a map that is
/// an intrinsic function (`Ref`, `Fn::GetAtt`, `Fn::ImportValue`, ...) or a dynamic
/// reference `{{resolve:...}}` — is refused with an error.
pub fn cfn(value: &Value) -> Result<String, Error> {
    render(
        &Dialect {
            name: "cfn",
            value: cfn_string,
            key: cfn_key,
        },
        value,
    )
}

/// `${` becomes `${!`, `Fn::Sub`'s escape for a literal `${`.
fn cfn_sub_escape(s: &str) -> Result<Cow<'_, str>, Unwritable> {
    let s = cfn_string(s)?;
    Ok(if s.contains("${") {
        Cow::Owned(s.replace("${", "${!"))
    } else {
        s
    })
}

/// `{{ x | cfn_sub }}`: like [`cfn`], for a string that becomes part of an `Fn::Sub`
/// template: `${` is written `${!` so `${AWS::Region}` stays those characters.
pub fn cfn_sub(value: &Value) -> Result<String, Error> {
    render(
        &Dialect {
            name: "cfn_sub",
            value: cfn_sub_escape,
            key: cfn_key,
        },
        value,
    )
}

/// `{{ x | sh }}`: one POSIX shell word that the shell reads back as exactly `x`'s text
/// (numbers and booleans as written): single quotes, with `'` written `'\''`. Nothing
/// inside is expanded — no `$(...)`, backticks, `$VAR`, globs or word splitting.
pub fn sh(value: &Value) -> Result<String, Error> {
    let text = match value.kind() {
        ValueKind::String => value.as_str().unwrap_or_default().to_owned(),
        ValueKind::Number | ValueKind::Bool => value.to_string(),
        kind => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("sh: cannot write a {kind} as a shell word"),
            ));
        }
    };
    if text.contains('\0') {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "sh: a shell word cannot hold a NUL character",
        ));
    }
    Ok(format!("'{}'", text.replace('\'', "'\\''")))
}

/// `{{ fail("message") }}`: stops rendering this resource with the chart's message.
pub fn fail(message: String) -> Result<Value, Error> {
    Err(Error::new(ErrorKind::InvalidOperation, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(j: serde_json::Value) -> Value {
        Value::from(minijinja::value::Serde(&j))
    }

    fn h(j: serde_json::Value) -> String {
        hcl(&v(j)).unwrap()
    }

    #[test]
    fn strings_cannot_break_out_or_interpolate() {
        assert_eq!(h(json!("a\"b")), r#""a\"b""#);
        assert_eq!(
            h(json!("${file(\"/etc/passwd\")}")),
            r#""$${file(\"/etc/passwd\")}""#
        );
        assert_eq!(h(json!("%{ if x }")), r#""%%{ if x }""#);
        assert_eq!(h(json!("line\nbreak")), r#""line\nbreak""#);
    }

    #[test]
    fn hcl_writes_backspace_and_form_feed_as_unicode_escapes_hcl_understands() {
        assert_eq!(
            h(json!("a\u{8}b\u{c}c\u{7f}")),
            r#""a\u0008b\u000cc\u007f""#
        );
    }

    #[test]
    fn collections_use_hcl_syntax() {
        assert_eq!(h(json!([1, "x", true, null])), r#"[1, "x", true, null]"#);
        assert_eq!(h(json!({"b": 1, "a": "x"})), r#"{ "a" = "x", "b" = 1 }"#);
        assert_eq!(h(json!({})), "{}");
    }

    #[test]
    fn ansible_tags_whatever_holds_a_brace_and_nothing_else() {
        assert_eq!(
            ansible(&v(json!("{{ lookup('pipe','id') }}"))).unwrap(),
            r#"!unsafe "{{ lookup('pipe','id') }}""#
        );
        assert_eq!(
            ansible(&v(json!([1, 2.5, true, null, "{% if x %}"]))).unwrap(),
            r#"!unsafe [1, 2.5, true, null, "{% if x %}"]"#
        );
        assert_eq!(
            ansible(&v(json!({"{#k#}": "v"}))).unwrap(),
            r#"!unsafe {"{#k#}": "v"}"#
        );
        // Strings without a `{` are never templated and keep their type: "29" is no number.
        assert_eq!(ansible(&v(json!("29"))).unwrap(), r#""29""#);
        assert_eq!(ansible(&v(json!(["*", "a"]))).unwrap(), r#"["*", "a"]"#);
        assert_eq!(ansible(&v(json!(7))).unwrap(), "7");
        assert_eq!(ansible(&v(json!({}))).unwrap(), "{}");
    }

    #[test]
    fn ansible_var_names_outside_ansibles_namespace_only() {
        assert_eq!(ansible_var_name("motd").unwrap(), r#""motd""#);
        for bad in [
            "ansible_connection",
            "ansible_ssh_common_args",
            "ANSIBLE_become_exe",
            "hostvars",
            "{{ x }}",
            "a-b",
            "1a",
            "",
        ] {
            let err = ansible_var_name(bad).unwrap_err().to_string();
            assert!(err.contains("ansible: variable"), "{bad}: {err}");
        }
    }

    #[test]
    fn compose_doubles_dollars_in_values_but_not_in_keys() {
        assert_eq!(
            compose(&v(json!({"A$B": "${HOME} $X $$ $(id)"}))).unwrap(),
            r#"{"A$B": "$${HOME} $$X $$$$ $$(id)"}"#
        );
        assert_eq!(
            compose(&v(json!(["sh", "-c", "echo $PATH"]))).unwrap(),
            r#"["sh", "-c", "echo $$PATH"]"#
        );
        assert_eq!(compose(&v(json!("plain"))).unwrap(), r#""plain""#);
    }

    #[test]
    fn kube_command_doubles_every_dollar() {
        assert_eq!(
            kube_command(&v(json!(["echo", "$(HOME)", "$$(X)", "a$b"]))).unwrap(),
            r#"["echo", "$$(HOME)", "$$$$(X)", "a$$b"]"#
        );
    }

    #[test]
    fn arm_escapes_only_what_arm_would_evaluate() {
        assert_eq!(
            arm(&v(json!("[concat('a','b')]"))).unwrap(),
            r#""[[concat('a','b')]""#
        );
        // A string that does not end with `]` is literal; ARM wants no escape there.
        assert_eq!(arm(&v(json!("[test] value"))).unwrap(), r#""[test] value""#);
        assert_eq!(arm(&v(json!("[[x]"))).unwrap(), r#""[[[x]""#);
        assert_eq!(
            arm(&v(json!({"[k]": ["[v]", 1]}))).unwrap(),
            r#"{"[[k]": ["[[v]", 1]}"#
        );
    }

    #[test]
    fn cfn_refuses_intrinsic_functions_and_dynamic_references() {
        assert_eq!(
            cfn(&v(json!({"a": "${AWS::Region}"}))).unwrap(),
            r#"{"a": "${AWS::Region}"}"#
        );
        for bad in [
            json!({"Ref": "AWS::AccountId"}),
            json!([{"Fn::ImportValue": "x"}]),
            json!({"Condition": "c"}),
            json!("{{resolve:secretsmanager:db}}"),
            json!("x {{ Resolve : ssm:/p }}"),
        ] {
            let err = cfn(&v(bad.clone())).unwrap_err().to_string();
            assert!(err.contains("cfn:"), "{bad}: {err}");
        }
    }

    #[test]
    fn cfn_sub_escapes_substitutions() {
        assert_eq!(
            cfn_sub(&v(json!("arn:${AWS::Region}:${Instance}"))).unwrap(),
            r#""arn:${!AWS::Region}:${!Instance}""#
        );
    }

    #[test]
    fn sh_quotes_one_word() {
        assert_eq!(sh(&v(json!("a b"))).unwrap(), "'a b'");
        assert_eq!(
            sh(&v(json!("$(id) `id` ${X} it's"))).unwrap(),
            r"'$(id) `id` ${X} it'\''s'"
        );
        assert_eq!(sh(&v(json!(5432))).unwrap(), "'5432'");
        assert!(sh(&v(json!(["a"]))).is_err());
        assert!(sh(&v(json!("a\0b"))).is_err());
    }

    #[test]
    fn quoting_keeps_yaml_and_json_readers_in_agreement() {
        let nasty = "a\u{1}\u{85}\u{2028}\"\\\n'é";
        let out = compose(&v(json!(nasty))).unwrap();
        assert_eq!(out, r#""a\u0001\u0085\u2028\"\\\n'é""#);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, nasty);
    }

    #[test]
    fn deep_values_are_refused_not_overflowed() {
        let mut deep = json!("x");
        for _ in 0..40 {
            deep = json!([deep]);
        }
        assert!(ansible(&v(deep.clone())).is_err());
        assert!(hcl(&v(deep)).is_err());
    }
}
