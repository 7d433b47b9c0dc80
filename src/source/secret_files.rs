//! Which files of a revision are secrets: the loader keeps them (as ciphertext, within a
//! smaller size bound) and `secrets` reads them.

/// The folder of secret files in the repository.
pub const DIR: &str = "secrets/";
/// The recipients file (`age -R` format), relative to the repository root.
pub const RECIPIENTS_FILE: &str = "secrets/.recipients";
/// Largest secret file read: a mapping of passwords and keys, never a data set.
pub const MAX_SECRET_FILE_BYTES: u64 = 256 * 1024;

/// Is this snapshot path one the source loader keeps for secrets (`secrets/**.age` and
/// `secrets/.recipients`)?
pub fn is_secret_path(path: &str) -> bool {
    path == RECIPIENTS_FILE || (path.starts_with(DIR) && path.ends_with(".age"))
}
