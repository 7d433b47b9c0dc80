//! Finding the age identity that decrypts secrets (IO): the systemd credential
//! `age-identity` (`LoadCredential=age-identity:/etc/homelabd/age.key`), else the file
//! named by `HOMELABD_AGE_IDENTITY_FILE`, else `[secrets] identity_file`.

use super::{Identities, SecretError, parse_identities};
use std::path::{Path, PathBuf};

/// The systemd credential holding the identity.
pub const IDENTITY_CREDENTIAL: &str = "age-identity";
/// The environment variable naming an identity file.
pub const IDENTITY_ENV: &str = "HOMELABD_AGE_IDENTITY_FILE";

/// The identity file to use, in order of precedence, or `None` when none is set.
pub fn locate_identity(configured: Option<&Path>) -> Option<PathBuf> {
    let credential = std::env::var_os("CREDENTIALS_DIRECTORY")
        .map(|dir| PathBuf::from(dir).join(IDENTITY_CREDENTIAL))
        .filter(|p| p.is_file());
    credential
        .or_else(|| {
            std::env::var_os(IDENTITY_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| configured.map(Path::to_path_buf))
}

/// Reads the identity: `Ok(None)` when none is configured, an error when one is
/// configured but cannot be read or parsed.
pub fn load_identity(configured: Option<&Path>) -> Result<Option<Identities>, SecretError> {
    let Some(path) = locate_identity(configured) else {
        return Ok(None);
    };
    let err = |detail: String| SecretError::Identity {
        path: path.display().to_string(),
        detail,
    };
    let meta = std::fs::metadata(&path).map_err(|e| err(e.to_string()))?;
    if meta.len() > 64 * 1024 {
        return Err(err("larger than 64 KiB: not an identity file".to_owned()));
    }
    let text =
        zeroize::Zeroizing::new(std::fs::read_to_string(&path).map_err(|e| err(e.to_string()))?);
    parse_identities(&text)
        .map(Some)
        .map_err(|e| err(e.to_string()))
}
