//! Content hashes for render manifests: `sha256:<hex>`.

use sha2::{Digest, Sha256};

/// Hash of `(path, content)` pairs, independent of iteration order.
pub fn files<'a>(items: impl Iterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut sorted: Vec<(&str, &[u8])> = items.collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    for (path, bytes) in sorted {
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// sha256 of `bytes`.
pub fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Hash of `(path, sha256 of content)` pairs, in the order given (callers pass them
/// sorted by path). Equal to hashing the contents, without re-reading shared files.
pub fn digests<'a>(items: impl Iterator<Item = (&'a str, &'a [u8; 32])>) -> String {
    let mut h = Sha256::new();
    for (path, d) in items {
        h.update((path.len() as u64).to_le_bytes());
        h.update(path.as_bytes());
        h.update(d);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

/// Hash of a JSON value in its canonical form (serde_json maps are sorted).
pub fn json(value: &serde_json::Value) -> String {
    let mut h = Sha256::new();
    h.update(value.to_string().as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}
