//! OpenPGP commit signatures (git's default `gpg.format`): a detached signature over the
//! commit object without its `gpgsig` header, checked with the pure-Rust `pgp` crate
//! (rpgp) against a keyring of public keys. rpgp verifies the cryptography; which key is
//! valid — bound to its primary key, not expired, not revoked — is decided here, as gpg
//! would: a signature by an expired or revoked key is refused (git's `%G?` says `Y` / `R`
//! and `git merge --verify-signatures` refuses those too).

use super::{Reason, Verdict};
use chrono::{DateTime, Utc};
use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag, Timestamp};

/// Trusted OpenPGP certificates (public keys with their subkeys and self-signatures).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    pub certs: Vec<SignedPublicKey>,
}

impl Keyring {
    /// Reads armored (one or more `PUBLIC KEY BLOCK`s, e.g. files concatenated with `cat`)
    /// or binary keyring data. Returns the certificates and a message per unreadable one.
    pub fn parse(data: &[u8]) -> (Keyring, Vec<String>) {
        let mut keyring = Keyring::default();
        let mut errors = Vec::new();
        let text = std::str::from_utf8(data).ok();
        let armored = text.filter(|t| t.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----"));
        let mut results: Vec<pgp::errors::Result<SignedPublicKey>> = Vec::new();
        match armored {
            Some(text) => {
                const BEGIN: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
                for block in text.split(BEGIN).skip(1) {
                    let block = format!("{BEGIN}{block}");
                    match SignedPublicKey::from_armor_many(block.as_bytes()) {
                        Ok((certs, _)) => results.extend(certs),
                        Err(e) => errors.push(format!("unreadable armored key block: {e}")),
                    }
                }
            }
            None => match SignedPublicKey::from_bytes_many(data) {
                Ok(certs) => results.extend(certs),
                Err(e) => errors.push(format!("unreadable binary keyring: {e}")),
            },
        }
        for result in results {
            match result {
                Ok(cert) => keyring.certs.push(cert),
                Err(e) => errors.push(format!("unreadable public key: {e}")),
            }
        }
        (keyring, errors)
    }
}

/// The key that made a signature: a certificate's primary key or one of its subkeys.
enum Signer<'a> {
    Primary(&'a SignedPublicKey),
    Sub(&'a SignedPublicKey, &'a SignedPublicSubKey),
}

impl Signer<'_> {
    fn cert(&self) -> &SignedPublicKey {
        match self {
            Signer::Primary(cert) | Signer::Sub(cert, _) => cert,
        }
    }
}

fn hex(fingerprint: &pgp::types::Fingerprint) -> String {
    format!("{fingerprint:X}")
}

/// Does `sig` name `key` as its issuer (by fingerprint or key id)?
fn issued_by(sig: &Signature, key: &impl KeyDetails) -> bool {
    let fingerprint = key.fingerprint();
    let key_id = key.legacy_key_id();
    sig.issuer_fingerprint().iter().any(|f| **f == fingerprint)
        || sig.issuer_key_id().iter().any(|id| **id == key_id)
}

fn find<'a>(sig: &Signature, keyring: &'a Keyring) -> Option<Signer<'a>> {
    keyring.certs.iter().find_map(|cert| {
        if issued_by(sig, &cert.primary_key) {
            return Some(Signer::Primary(cert));
        }
        cert.public_subkeys
            .iter()
            .find(|sub| issued_by(sig, &sub.key))
            .map(|sub| Signer::Sub(cert, sub))
    })
}

fn time(t: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(i64::from(t.as_secs()), 0).unwrap_or_default()
}

/// The newest of `signatures` that passes `valid` (self-signatures: the newest one says
/// what holds now).
fn newest<'a>(
    signatures: impl Iterator<Item = &'a Signature>,
    valid: impl Fn(&Signature) -> bool,
) -> Option<&'a Signature> {
    signatures
        .filter(|s| valid(s))
        .max_by_key(|s| s.created().map(|t| t.as_secs()).unwrap_or(0))
}

/// When a key created at `created` expires under self-signature `sig` (`None`: never).
fn expiry(created: Timestamp, sig: Option<&Signature>) -> Option<DateTime<Utc>> {
    let secs = sig?.key_expiration_time()?.as_secs();
    (secs > 0).then(|| time(created) + chrono::Duration::seconds(i64::from(secs)))
}

/// Verifies an armored OpenPGP signature of `signed` at time `now`.
pub fn verify(armored: &[u8], signed: &[u8], now: DateTime<Utc>, keyring: &Keyring) -> Verdict {
    let sig = match DetachedSignature::from_armor_single(armored) {
        Ok((sig, _)) => sig.signature,
        Err(e) => {
            return Verdict::refused(
                Reason::BadSignature,
                format!("unreadable OpenPGP signature: {e}"),
            );
        }
    };
    let Some(signer) = find(&sig, keyring) else {
        let issuer = sig
            .issuer_fingerprint()
            .first()
            .map(|f| hex(f))
            .or_else(|| {
                sig.issuer_key_id()
                    .first()
                    .map(|id| ::hex::encode_upper(id.as_ref()))
            })
            .unwrap_or_else(|| "an unnamed key".to_owned());
        return Verdict::refused(
            Reason::UnknownKey,
            format!("OpenPGP key {issuer} is not in gpg_keyring"),
        );
    };
    let cert = signer.cert();
    let primary = &cert.primary_key;
    let fingerprint = hex(&primary.fingerprint());
    let checked = match &signer {
        Signer::Primary(_) => sig.verify(primary, signed),
        Signer::Sub(_, sub) => sig.verify(&sub.key, signed),
    };
    if let Err(e) = checked {
        return Verdict::refused(
            Reason::BadSignature,
            format!("OpenPGP signature by {fingerprint} does not match the commit: {e}"),
        );
    }
    if cert
        .details
        .revocation_signatures
        .iter()
        .any(|r| r.verify_key(primary).is_ok())
    {
        return Verdict::refused(
            Reason::Revoked,
            format!("OpenPGP key {fingerprint} is revoked"),
        );
    }
    // The primary key's validity comes from its newest valid self-signature on a user id.
    let certification = newest(
        cert.details.users.iter().flat_map(|u| {
            u.signatures
                .iter()
                .filter(move |s| s.verify_certification(primary, Tag::UserId, &u.id).is_ok())
        }),
        |_| true,
    )
    .or_else(|| {
        newest(cert.details.direct_signatures.iter(), |s| {
            s.verify_key(primary).is_ok()
        })
    });
    if certification.is_none() {
        return Verdict::refused(
            Reason::UnknownKey,
            format!("OpenPGP key {fingerprint} has no valid self-signature"),
        );
    }
    if let Some(at) = expiry(primary.created_at(), certification)
        && now >= at
    {
        return Verdict::refused(
            Reason::Expired,
            format!("OpenPGP key {fingerprint} expired at {at}"),
        );
    }
    if let Signer::Sub(_, sub) = &signer {
        let sub_hex = hex(&sub.key.fingerprint());
        let valid = |s: &Signature, typ: SignatureType| {
            s.typ() == Some(typ) && s.verify_subkey_binding(primary, &sub.key).is_ok()
        };
        if sub
            .signatures
            .iter()
            .any(|s| valid(s, SignatureType::SubkeyRevocation))
        {
            return Verdict::refused(
                Reason::Revoked,
                format!("OpenPGP subkey {sub_hex} of {fingerprint} is revoked"),
            );
        }
        let Some(binding) = newest(sub.signatures.iter(), |s| {
            valid(s, SignatureType::SubkeyBinding)
        }) else {
            return Verdict::refused(
                Reason::UnknownKey,
                format!("OpenPGP subkey {sub_hex} is not bound to {fingerprint}"),
            );
        };
        if !binding.key_flags().sign() {
            return Verdict::refused(
                Reason::UnknownKey,
                format!("OpenPGP subkey {sub_hex} of {fingerprint} is not a signing key"),
            );
        }
        if let Some(at) = expiry(sub.key.created_at(), Some(binding))
            && now >= at
        {
            return Verdict::refused(
                Reason::Expired,
                format!("OpenPGP subkey {sub_hex} of {fingerprint} expired at {at}"),
            );
        }
    }
    let signer_name = cert
        .details
        .users
        .iter()
        .find_map(|u| u.id.as_str().map(str::to_owned))
        .unwrap_or_else(|| fingerprint.clone());
    Verdict::Verified {
        signer: signer_name,
        key: fingerprint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_keyring_trusts_nothing_and_says_why() {
        let (keyring, errors) = Keyring::parse(
            b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot base64 at all\n-----END PGP PUBLIC KEY BLOCK-----\n",
        );
        assert!(keyring.certs.is_empty());
        assert_eq!(errors.len(), 1, "{errors:?}");
        let (keyring, _) = Keyring::parse(b"\x99\x00\x01garbage");
        assert!(keyring.certs.is_empty());
    }

    #[test]
    fn a_signature_from_an_empty_keyring_is_an_unknown_key_or_unreadable() {
        let verdict = verify(
            b"-----BEGIN PGP SIGNATURE-----\n\n-----END PGP SIGNATURE-----\n",
            b"x",
            Utc::now(),
            &Keyring::default(),
        );
        assert!(
            matches!(
                verdict,
                Verdict::Refused {
                    reason: Reason::BadSignature,
                    ..
                }
            ),
            "{verdict:?}"
        );
    }
}
