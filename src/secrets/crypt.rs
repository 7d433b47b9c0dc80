//! age encryption of secret files, bytes in and bytes out (no IO). A file is an
//! age-encrypted (binary or ASCII-armored) YAML mapping of keys to strings, readable and
//! writable by the standard `age` CLI. Error messages name files, keys and line numbers,
//! never content: a parser's message can quote the value it choked on, so none is passed
//! on.

use super::SecretError;
use super::refs::valid_key;
use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::{Decryptor, Encryptor, ssh, x25519};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use zeroize::Zeroizing;

/// The decrypted content of one secret file: key → value.
pub type SecretMap = BTreeMap<String, Zeroizing<String>>;

/// Largest plaintext accepted from a file (the ciphertext is bounded by the source too).
const MAX_PLAINTEXT: u64 = 256 * 1024;

enum Identity {
    X25519(x25519::Identity),
    Ssh(ssh::Identity),
}

/// The identities that can decrypt secrets (an age identity file, or an unencrypted SSH
/// private key), and the key for digests derived from them.
pub struct Identities {
    list: Vec<Identity>,
    digest_key: [u8; 32],
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} key(s))", self.list.len())
    }
}

impl Identities {
    fn iter(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.list.iter().map(|i| match i {
            Identity::X25519(k) => k as &dyn age::Identity,
            Identity::Ssh(k) => k as &dyn age::Identity,
        })
    }

    /// The HMAC key for change digests (see [`super::refs::digest`]).
    pub fn digest_key(&self) -> &[u8; 32] {
        &self.digest_key
    }

    /// The public keys of the native age identities (`age1…`), for hints.
    pub fn public_keys(&self) -> Vec<String> {
        self.list
            .iter()
            .filter_map(|i| match i {
                Identity::X25519(k) => Some(k.to_public().to_string()),
                Identity::Ssh(_) => None,
            })
            .collect()
    }
}

/// Why an identity file cannot be used. Never quotes the file: it holds a private key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("not an SSH private key homelabd can read")]
    NotSshKey,
    #[error("a passphrase-protected SSH key cannot be used unattended; use an age identity")]
    Encrypted,
    #[error("unsupported SSH key type")]
    UnsupportedSsh,
    /// The 1-based line that is not an identity.
    #[error("line {0} is not an age identity (AGE-SECRET-KEY-1…)")]
    NotAge(usize),
    #[error("no identity in the file")]
    Empty,
}

/// Parses an identity file: age identities (`AGE-SECRET-KEY-1…`, one per line, `#`
/// comments) or an unencrypted OpenSSH private key.
pub fn parse_identities(text: &str) -> Result<Identities, IdentityError> {
    let digest_key = super::refs::digest_key(text.trim().as_bytes());
    if text.contains("-----BEGIN") {
        let key = ssh::Identity::from_buffer(std::io::Cursor::new(text.as_bytes()), None)
            .map_err(|_| IdentityError::NotSshKey)?;
        return match key {
            ssh::Identity::Unencrypted(_) => Ok(Identities {
                list: vec![Identity::Ssh(key)],
                digest_key,
            }),
            ssh::Identity::Encrypted(_) => Err(IdentityError::Encrypted),
            ssh::Identity::Unsupported(_) => Err(IdentityError::UnsupportedSsh),
        };
    }
    let mut list = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line
            .parse::<x25519::Identity>()
            .map_err(|_| IdentityError::NotAge(i + 1))?;
        list.push(Identity::X25519(key));
    }
    if list.is_empty() {
        return Err(IdentityError::Empty);
    }
    Ok(Identities { list, digest_key })
}

enum Recipient {
    X25519(x25519::Recipient),
    Ssh(ssh::Recipient),
}

/// The recipients of `secrets/.recipients`: age public keys and SSH public keys.
pub struct Recipients {
    list: Vec<Recipient>,
}

impl Recipients {
    /// How many recipients there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// No recipients at all.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

/// Parses a recipients file (the format of `age -R`: one key per line, `#` comments).
pub fn parse_recipients(text: &str) -> Result<Recipients, SecretError> {
    let mut list = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parsed = match line.parse::<x25519::Recipient>() {
            Ok(r) => Recipient::X25519(r),
            Err(_) => match line.parse::<ssh::Recipient>() {
                Ok(r) => Recipient::Ssh(r),
                Err(_) => {
                    return Err(SecretError::Recipients(format!(
                        "line {}: {line:?} is neither an age public key (age1…) nor an SSH \
                         public key (ssh-ed25519 / ssh-rsa)",
                        i + 1
                    )));
                }
            },
        };
        list.push(parsed);
    }
    if list.is_empty() {
        return Err(SecretError::Recipients("no recipients listed".to_owned()));
    }
    Ok(Recipients { list })
}

/// Is `bytes` an ASCII-armored age file (`-----BEGIN AGE ENCRYPTED FILE-----`)?
pub fn is_armored(bytes: &[u8]) -> bool {
    bytes
        .trim_ascii_start()
        .starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
}

/// Decrypts secret file `name` and reads its mapping.
pub fn decrypt(name: &str, bytes: &[u8], ids: &Identities) -> Result<SecretMap, SecretError> {
    let corrupt = |detail: String| SecretError::Corrupt {
        name: name.to_owned(),
        detail,
    };
    let decryptor = Decryptor::new_buffered(ArmoredReader::new(bytes))
        .map_err(|e| corrupt(format!("not an age file ({e})")))?;
    if decryptor.is_scrypt() {
        return Err(corrupt(
            "it is passphrase-encrypted; homelabd needs files encrypted to recipients".to_owned(),
        ));
    }
    let reader = decryptor.decrypt(ids.iter()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => SecretError::NotARecipient {
            name: name.to_owned(),
        },
        other => corrupt(other.to_string()),
    })?;
    let mut plain = Zeroizing::new(Vec::new());
    reader
        .take(MAX_PLAINTEXT + 1)
        .read_to_end(&mut plain)
        .map_err(|e| corrupt(e.to_string()))?;
    if plain.len() as u64 > MAX_PLAINTEXT {
        return Err(corrupt(format!(
            "more than {MAX_PLAINTEXT} bytes of content"
        )));
    }
    parse_mapping(name, &plain)
}

/// Reads decrypted content: a YAML mapping of keys to strings (an empty file is an empty
/// mapping).
pub fn parse_mapping(name: &str, plain: &[u8]) -> Result<SecretMap, SecretError> {
    let bad = |detail: String| SecretError::BadContent {
        name: name.to_owned(),
        detail,
    };
    if plain.iter().all(u8::is_ascii_whitespace) {
        return Ok(SecretMap::new());
    }
    let value: serde_yaml::Value = serde_yaml::from_slice(plain).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" (line {})", l.line()))
            .unwrap_or_default();
        bad(format!("is not valid YAML{at}"))
    })?;
    let serde_yaml::Value::Mapping(map) = value else {
        return Err(bad("must hold a YAML mapping of keys to strings".to_owned()));
    };
    let mut out = SecretMap::new();
    for (k, v) in map {
        let Some(key) = k.as_str() else {
            return Err(bad("has a key that is not a string".to_owned()));
        };
        if !valid_key(key) {
            return Err(bad(format!(
                "key {key:?} must be letters, digits, `_`, `-` or `.`"
            )));
        }
        let Some(value) = v.as_str() else {
            return Err(bad(format!(
                "key {key}: the value must be a string (quote numbers and booleans)"
            )));
        };
        out.insert(key.to_owned(), Zeroizing::new(value.to_owned()));
    }
    Ok(out)
}

/// Encrypts `map` to `recipients`, ASCII-armored or binary.
pub fn encrypt(
    map: &SecretMap,
    recipients: &Recipients,
    armor: bool,
) -> Result<Vec<u8>, SecretError> {
    let plain: BTreeMap<&str, &str> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let yaml = Zeroizing::new(
        serde_yaml::to_string(&plain).map_err(|e| SecretError::Encrypt(e.to_string()))?,
    );
    let encryptor = Encryptor::with_recipients(recipients.list.iter().map(|r| match r {
        Recipient::X25519(k) => k as &dyn age::Recipient,
        Recipient::Ssh(k) => k as &dyn age::Recipient,
    }))
    .map_err(|e| SecretError::Encrypt(e.to_string()))?;
    let format = if armor {
        Format::AsciiArmor
    } else {
        Format::Binary
    };
    let io = |e: std::io::Error| SecretError::Encrypt(e.to_string());
    let armored = ArmoredWriter::wrap_output(Vec::new(), format).map_err(io)?;
    let mut writer = encryptor.wrap_output(armored).map_err(io)?;
    writer.write_all(yaml.as_bytes()).map_err(io)?;
    writer.finish().and_then(ArmoredWriter::finish).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keypair() -> (String, String) {
        let id = x25519::Identity::generate();
        let secret = age::secrecy::ExposeSecret::expose_secret(&id.to_string()).to_owned();
        (secret, id.to_public().to_string())
    }

    fn map(pairs: &[(&str, &str)]) -> SecretMap {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Zeroizing::new((*v).to_owned())))
            .collect()
    }

    #[test]
    fn a_mapping_survives_encryption_in_both_formats() {
        let (secret, public) = keypair();
        let ids = parse_identities(&format!("# created: now\n{secret}\n")).unwrap();
        let recipients = parse_recipients(&format!("# me\n{public}\n\n")).unwrap();
        let m = map(&[("db_password", "p@ss: 'x'\n#y"), ("user", "nc")]);
        for armor in [true, false] {
            let bytes = encrypt(&m, &recipients, armor).unwrap();
            assert_eq!(is_armored(&bytes), armor);
            let back = decrypt("nc", &bytes, &ids).unwrap();
            assert_eq!(back["db_password"].as_str(), "p@ss: 'x'\n#y");
            assert_eq!(back.len(), 2);
        }
    }

    #[test]
    fn other_keys_and_garbage_are_told_apart() {
        let (_, public) = keypair();
        let (other_secret, _) = keypair();
        let bytes = encrypt(
            &map(&[("k", "v")]),
            &parse_recipients(&public).unwrap(),
            true,
        )
        .unwrap();
        let ids = parse_identities(&other_secret).unwrap();
        assert_eq!(
            decrypt("nc", &bytes, &ids).unwrap_err(),
            SecretError::NotARecipient { name: "nc".into() }
        );
        // A flipped byte in the payload (the end of a binary file) fails authentication.
        let (mine, mine_public) = keypair();
        let ids = parse_identities(&mine).unwrap();
        let recipients = parse_recipients(&mine_public).unwrap();
        let mut broken = encrypt(&map(&[("k", "v")]), &recipients, false).unwrap();
        let at = broken.len() - 5;
        broken[at] ^= 0x55;
        assert!(matches!(
            decrypt("nc", &broken, &ids).unwrap_err(),
            SecretError::Corrupt { .. }
        ));
        assert!(matches!(
            decrypt("nc", b"hello", &ids).unwrap_err(),
            SecretError::Corrupt { .. }
        ));
    }

    #[test]
    fn content_errors_never_quote_the_content() {
        for bad in [
            "- hunter2\n",
            "k: [hunter2]\n",
            "k: hunter2: x\n",
            "\"bad key\": hunter2\n",
        ] {
            let err = parse_mapping("nc", bad.as_bytes()).unwrap_err().to_string();
            assert!(!err.contains("hunter2"), "{err}");
        }
        assert!(
            parse_mapping("nc", b"port: 5432\n")
                .unwrap_err()
                .to_string()
                .contains("quote")
        );
        assert!(parse_mapping("nc", b"\n").unwrap().is_empty());
    }

    #[test]
    fn bad_identity_and_recipient_lines_are_named_by_line() {
        let err = parse_identities("# c\nAGE-SECRET-KEY-1NOTAKEY\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "line 2 is not an age identity (AGE-SECRET-KEY-1…)");
        assert!(!err.contains("NOTAKEY"));
        let err = parse_recipients("age1nope\n").err().unwrap().to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(parse_recipients("# only a comment\n").is_err());
    }
}
