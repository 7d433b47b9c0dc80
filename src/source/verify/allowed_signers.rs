//! git's `gpg.ssh.allowedSignersFile` format (ssh-keygen(1) "ALLOWED SIGNERS"), parsed
//! without IO: one signer a line,
//!
//! ```text
//! # comment
//! alice@example.com,bob@example.com namespaces="git",valid-after="20240101" ssh-ed25519 AAAA… comment
//! ```
//!
//! principals (comma-separated, optionally quoted), optional options, the key type and
//! its base64 data, and an optional comment. Options understood: `namespaces` (the
//! signature's namespace must be listed), `valid-after` / `valid-before`
//! (`YYYYMMDD[HHMM[SS]][Z]`), `cert-authority` (certificate signers are not supported:
//! such a line is reported and never matches). Times without `Z` are read as UTC, where
//! ssh-keygen would use the local time zone — homelabd hosts normally run on UTC.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use ssh_key::public::KeyData;

/// One usable line of an allowed signers file.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowedSigner {
    /// The principals (identities) the key signs for, e.g. `alice@example.com`.
    pub principals: Vec<String>,
    /// The public key.
    pub key: KeyData,
    /// `namespaces="…"`: the namespaces the key may sign in (`None`: any).
    pub namespaces: Option<Vec<String>>,
    /// `valid-after`: signatures made before this time are refused.
    pub valid_after: Option<DateTime<Utc>>,
    /// `valid-before`: signatures made at or after this time are refused.
    pub valid_before: Option<DateTime<Utc>>,
    /// Line number in the file (1-based), for messages.
    pub line: usize,
}

/// A line that could not be used, with its number and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct LineError {
    pub line: usize,
    #[source]
    pub why: LineFault,
}

/// Why a line of an allowed signers file is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineFault {
    #[error("no principals before the key")]
    NoPrincipals,
    #[error("expected options or a key type after the principals")]
    NoKeyType,
    #[error("expected a key type after the options")]
    NoKeyTypeAfterOptions,
    #[error("expected the key's base64 data")]
    NoKeyData,
    #[error(
        "unknown option {0:?} (expected namespaces, valid-after, valid-before or cert-authority)"
    )]
    UnknownOption(String),
    #[error("{0:?} is not a time (expected YYYYMMDD[HHMM[SS]][Z])")]
    BadTime(String),
    #[error("{key_type} key is not readable: {source}")]
    BadKey {
        key_type: String,
        #[source]
        source: ssh_key::Error,
    },
    #[error("cert-authority lines are not supported (list the signers' own keys)")]
    CertAuthority,
}

/// The parsed file: every usable signer, and every line that was not usable. A bad line
/// never hides the good ones; the caller decides whether to fail on errors.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AllowedSigners {
    pub signers: Vec<AllowedSigner>,
    pub errors: Vec<LineError>,
}

impl AllowedSigners {
    /// Parses the text of an allowed signers file.
    pub fn parse(text: &str) -> AllowedSigners {
        let mut out = AllowedSigners::default();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match parse_line(trimmed, line) {
                Ok(Some(signer)) => out.signers.push(signer),
                Ok(None) => {}
                Err(why) => out.errors.push(LineError { line, why }),
            }
        }
        out
    }

    /// The entries whose key is `key`.
    pub fn for_key<'a>(&'a self, key: &'a KeyData) -> impl Iterator<Item = &'a AllowedSigner> {
        self.signers.iter().filter(move |s| &s.key == key)
    }
}

impl AllowedSigner {
    /// Whether the entry allows signatures in `namespace`.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces
            .as_ref()
            .is_none_or(|list| list.iter().any(|n| n == namespace))
    }
}

/// Splits off the next whitespace-separated field, honouring double quotes (a quoted
/// field may contain spaces and commas).
fn next_field(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    if s.is_empty() {
        return None;
    }
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Some((&s[..i], &s[i..])),
            _ => {}
        }
    }
    Some((s, ""))
}

/// Splits on commas outside double quotes.
fn split_commas(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// Is `field` a key type (`ssh-ed25519`, `ecdsa-sha2-nistp256`, `sk-…@openssh.com`…)?
fn is_key_type(field: &str) -> bool {
    field.starts_with("ssh-") || field.starts_with("ecdsa-") || field.starts_with("sk-")
}

fn parse_line(line: &str, number: usize) -> Result<Option<AllowedSigner>, LineFault> {
    // The caller skips blank lines, so a line without a first field has no principals.
    let (principals_field, rest) = next_field(line).ok_or(LineFault::NoPrincipals)?;
    let principals: Vec<String> = split_commas(unquote(principals_field))
        .into_iter()
        .map(|p| p.trim().to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    if principals.is_empty() {
        return Err(LineFault::NoPrincipals);
    }
    let (mut field, mut rest) = next_field(rest).ok_or(LineFault::NoKeyType)?;
    let mut namespaces = None;
    let mut valid_after = None;
    let mut valid_before = None;
    let mut cert_authority = false;
    if !is_key_type(field) {
        for option in split_commas(field) {
            let (name, value) = match option.split_once('=') {
                Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(unquote(v.trim()))),
                None => (option.trim().to_ascii_lowercase(), None),
            };
            match (name.as_str(), value) {
                ("cert-authority", None) => cert_authority = true,
                ("namespaces", Some(v)) => {
                    namespaces = Some(
                        v.split(',')
                            .map(|n| n.trim().to_owned())
                            .filter(|n| !n.is_empty())
                            .collect(),
                    )
                }
                ("valid-after", Some(v)) => valid_after = Some(parse_time(v)?),
                ("valid-before", Some(v)) => valid_before = Some(parse_time(v)?),
                (other, _) => {
                    return Err(LineFault::UnknownOption(other.to_owned()));
                }
            }
        }
        (field, rest) = next_field(rest).ok_or(LineFault::NoKeyTypeAfterOptions)?;
    }
    let (data, _comment) = next_field(rest).ok_or(LineFault::NoKeyData)?;
    let key = ssh_key::PublicKey::from_openssh(&format!("{field} {data}")).map_err(|source| {
        LineFault::BadKey {
            key_type: field.to_owned(),
            source,
        }
    })?;
    if cert_authority {
        return Err(LineFault::CertAuthority);
    }
    Ok(Some(AllowedSigner {
        principals,
        key: key.key_data().clone(),
        namespaces,
        valid_after,
        valid_before,
        line: number,
    }))
}

/// `YYYYMMDD[HHMM[SS]][Z]`, as ssh-keygen accepts it (read as UTC either way).
fn parse_time(text: &str) -> Result<DateTime<Utc>, LineFault> {
    let digits = text.strip_suffix(['Z', 'z']).unwrap_or(text);
    let bad = || LineFault::BadTime(text.to_owned());
    if !digits.bytes().all(|b| b.is_ascii_digit()) || ![8, 12, 14].contains(&digits.len()) {
        return Err(bad());
    }
    let num = |range: std::ops::Range<usize>| digits.get(range).and_then(|s| s.parse::<u32>().ok());
    let year = num(0..4).ok_or_else(bad)? as i32;
    let date =
        NaiveDate::from_ymd_opt(year, num(4..6).ok_or_else(bad)?, num(6..8).ok_or_else(bad)?)
            .ok_or_else(bad)?;
    let time = NaiveTime::from_hms_opt(
        num(8..10).unwrap_or(0),
        num(10..12).unwrap_or(0),
        num(12..14).unwrap_or(0),
    )
    .ok_or_else(bad)?;
    Ok(NaiveDateTime::new(date, time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOjeHr2jzLhFPzVSaFB1mfRccZzPatSrTH1sr2qn9LDO";

    #[test]
    fn principals_options_and_comments_are_read() {
        let text = format!(
            "# operators\n\nalice@example.com,bob@example.com namespaces=\"file,git\",valid-after=\"20240101\",valid-before=\"20250601123000Z\" {KEY} alice's laptop\n"
        );
        let parsed = AllowedSigners::parse(&text);
        assert_eq!(parsed.errors, vec![]);
        let s = &parsed.signers[0];
        assert_eq!(s.principals, ["alice@example.com", "bob@example.com"]);
        assert_eq!(s.line, 3);
        assert!(s.allows_namespace("git") && !s.allows_namespace("ssh"));
        assert_eq!(
            s.valid_after.unwrap().to_rfc3339(),
            "2024-01-01T00:00:00+00:00"
        );
        assert_eq!(
            s.valid_before.unwrap().to_rfc3339(),
            "2025-06-01T12:30:00+00:00"
        );
    }

    #[test]
    fn a_line_without_options_allows_every_namespace() {
        let parsed = AllowedSigners::parse(&format!("\"ops@example.com\" {KEY}"));
        assert_eq!(parsed.signers[0].principals, ["ops@example.com"]);
        assert!(parsed.signers[0].allows_namespace("git"));
        assert_eq!(parsed.signers[0].valid_before, None);
    }

    #[test]
    fn bad_lines_are_reported_with_their_number_and_keep_the_good_ones() {
        let text = format!(
            "a@x {KEY}\nb@x ssh-ed25519 notbase64\nc@x valid-after=\"yesterday\" {KEY}\nd@x frobnicate {KEY}\ne@x cert-authority {KEY}\nlonely\n"
        );
        let parsed = AllowedSigners::parse(&text);
        assert_eq!(parsed.signers.len(), 1);
        let lines: Vec<usize> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6]);
        assert!(
            parsed.errors[1].why.to_string().contains("YYYYMMDD"),
            "{:?}",
            parsed.errors[1]
        );
        assert!(parsed.errors[2].why.to_string().contains("frobnicate"));
        assert!(parsed.errors[3].why.to_string().contains("cert-authority"));
    }

    #[test]
    fn times_accept_the_three_lengths() {
        assert!(parse_time("20240229").is_ok());
        assert!(parse_time("202402291230").is_ok());
        assert!(parse_time("20240229123059Z").is_ok());
        assert!(parse_time("20230229").is_err()); // not a leap year
        assert!(parse_time("2024022").is_err());
    }
}
