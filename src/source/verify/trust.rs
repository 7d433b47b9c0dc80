//! The trust material, read from the files `[source.verify]` names. Read again for every
//! new head, so editing allowed_signers or the keyring takes effect without a restart.

use super::Mode;
use super::allowed_signers::AllowedSigners;
use super::openpgp::Keyring;
use std::path::{Path, PathBuf};

/// `[source.verify]`, validated: the mode and where the trust material lives (absolute
/// paths; relative ones in the config file are resolved against its directory).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    pub mode: Mode,
    /// SSH keys in git's `gpg.ssh.allowedSignersFile` format.
    pub allowed_signers: Option<PathBuf>,
    /// OpenPGP public keys, armored or binary.
    pub gpg_keyring: Option<PathBuf>,
}

impl Policy {
    /// True when commits must be verified.
    pub fn enabled(&self) -> bool {
        self.mode != Mode::Off
    }

    /// Reads the trust material.
    pub fn load_trust(&self) -> Result<Trust, VerifyError> {
        let mut trust = Trust::default();
        if let Some(path) = &self.allowed_signers {
            let text = read(path)?;
            trust.ssh = AllowedSigners::parse(&String::from_utf8_lossy(&text));
            trust.warnings.extend(
                trust
                    .ssh
                    .errors
                    .iter()
                    .map(|e| format!("{}: {e} (line ignored)", path.display())),
            );
        }
        if let Some(path) = &self.gpg_keyring {
            let (keyring, errors) = Keyring::parse(&read(path)?);
            trust.pgp = keyring;
            trust.warnings.extend(
                errors
                    .into_iter()
                    .map(|e| format!("{}: {e} (ignored)", path.display())),
            );
        }
        Ok(trust)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, VerifyError> {
    std::fs::read(path).map_err(|source| VerifyError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The keys commits may be signed with.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// SSH signers.
    pub ssh: AllowedSigners,
    /// OpenPGP certificates.
    pub pgp: Keyring,
    /// Lines or keys that could not be used (they trust nothing), for the log.
    pub warnings: Vec<String>,
}

impl Trust {
    /// Is GitHub's web-flow key (it signs merges made in GitHub's UI) trusted?
    pub fn trusts_github_web_flow(&self) -> bool {
        self.pgp.certs.iter().any(|cert| {
            cert.details.users.iter().any(|u| {
                u.id.as_str()
                    .is_some_and(|id| id.contains("noreply@github.com"))
            })
        })
    }
}

/// Trust material that cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
