//! HMAC-SHA256 signatures of webhook bodies (pure, no IO): checked on the incoming
//! hooks (`http`) and put on outgoing notifications (`notify_out`), one format for both.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Why a signature header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `sha256=` followed by 64 hex digits.
    #[error("malformed signature (expected sha256=<64 hex digits>)")]
    Malformed,
    /// Well-formed, but not the HMAC of the message under the secret.
    #[error("signature does not match")]
    Mismatch,
}

/// Checks `header` (`sha256=<hex>`) against HMAC-SHA256(`secret`, `parts` concatenated),
/// comparing in constant time.
pub fn verify(secret: &[u8], parts: &[&[u8]], header: &str) -> Result<(), SignatureError> {
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let mut given = [0u8; 32];
    hex::decode_to_slice(hex_sig, &mut given).map_err(|_| SignatureError::Malformed)?;
    let expected = mac(secret, parts);
    if bool::from(expected.ct_eq(&given)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// HMAC-SHA256(`secret`, `parts` concatenated).
pub fn mac(secret: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        m.update(part);
    }
    m.finalize().into_bytes().into()
}

/// `sha256=<hex>` of HMAC-SHA256(`secret`, `parts` concatenated): what a sender puts in
/// its signature header.
pub fn sign(secret: &[u8], parts: &[&[u8]]) -> String {
    format!("sha256={}", hex::encode(mac(secret, parts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test case 2.
    #[test]
    fn rfc4231_case_2() {
        let sig = sign(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            sig,
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            verify(b"Jefe", &[b"what do ya want for nothing?"], &sig),
            Ok(())
        );
    }

    #[test]
    fn rejects_bad_headers() {
        let good = sign(b"k", &[b"body"]);
        assert_eq!(
            verify(b"k", &[b"body!"], &good),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &[b"body"], &good),
            Err(SignatureError::Mismatch)
        );
        let bare = good.trim_start_matches("sha256=");
        assert_eq!(
            verify(b"k", &[b"body"], bare),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"k", &[b"body"], "sha256=abc"),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(b"k", &[b"body"], "sha256=zz"),
            Err(SignatureError::Malformed)
        );
        let upper = format!("sha256={}", bare.to_uppercase());
        assert_eq!(verify(b"k", &[b"body"], &upper), Ok(()));
    }
}
