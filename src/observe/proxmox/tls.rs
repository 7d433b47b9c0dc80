//! TLS for the Proxmox API: the rustls configurations behind each [`TrustMode`].
//!
//! Homelab clusters mostly run on the self-signed certificates Proxmox generates, so
//! besides the system trust store there are two ways to trust them without turning
//! verification off: the cluster's own CA file, or the SHA-256 fingerprint of the node's
//! certificate (what the GUI shows). A pinned fingerprint replaces the chain and name
//! checks, never the proof that the server holds the certificate's key: handshake
//! signatures are always verified.

use super::ProxmoxError;
use super::settings::TrustMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A pinned fingerprint that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    #[error("{0:?} is not hex; {EXPECTED_FINGERPRINT}")]
    NotHex(String),
    #[error("{text:?} has {bytes} bytes; {EXPECTED_FINGERPRINT}")]
    Length { text: String, bytes: usize },
}

const EXPECTED_FINGERPRINT: &str =
    "expected the SHA-256 fingerprint as 32 hex bytes, e.g. \"AA:BB:…:FF\"";

/// Parses `AA:BB:…` (32 bytes; case and colons optional, as the GUI or
/// `openssl x509 -fingerprint -sha256` print it).
pub fn parse_fingerprint(text: &str) -> Result<[u8; 32], FingerprintError> {
    let trimmed = text.trim();
    let hex_digits: String = trimmed.chars().filter(|c| *c != ':').collect();
    let bytes =
        hex::decode(&hex_digits).map_err(|_| FingerprintError::NotHex(trimmed.to_owned()))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| FingerprintError::Length {
        text: trimmed.to_owned(),
        bytes: bytes.len(),
    })
}

/// `AA:BB:…`, the form Proxmox shows.
pub fn format_fingerprint(digest: &[u8]) -> String {
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The SHA-256 fingerprint of a DER certificate.
pub fn fingerprint_of(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

/// The ring provider, set on each configuration (not installed process-wide).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration for a trust mode, or `None` for [`TrustMode::System`], which
/// uses reqwest's platform verifier (the system trust store).
pub fn client_config(mode: &TrustMode) -> Result<Option<rustls::ClientConfig>, ProxmoxError> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProxmoxError::Client(format!("TLS versions: {e}")))?;
    let config = match mode {
        TrustMode::System => return Ok(None),
        TrustMode::CaFile(path) => builder
            .with_root_certificates(load_roots(path)?)
            .with_no_client_auth(),
        TrustMode::Fingerprint(digest) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedCertificate {
                fingerprint: *digest,
                algorithms,
            }))
            .with_no_client_auth(),
        TrustMode::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate { algorithms }))
            .with_no_client_auth(),
    };
    Ok(Some(config))
}

/// Every certificate in a PEM file, as trust anchors.
fn load_roots(path: &Path) -> Result<rustls::RootCertStore, ProxmoxError> {
    let err = |message: String| ProxmoxError::CaFile {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(path).map_err(|e| err(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        let cert = cert.map_err(|e| err(format!("not valid PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| err(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(err(
            "holds no certificate; expected a PEM CA such as /etc/pve/pve-root-ca.pem".into(),
        ));
    }
    Ok(roots)
}

/// Accepts exactly the certificate whose SHA-256 digest was pinned.
#[derive(Debug)]
pub struct PinnedCertificate {
    fingerprint: [u8; 32],
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedCertificate {
    /// A verifier for `fingerprint` with the ring provider's signature algorithms.
    pub fn new(fingerprint: [u8; 32]) -> PinnedCertificate {
        PinnedCertificate {
            fingerprint,
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

/// Why a pinned certificate was refused: both fingerprints, so the user can compare
/// with the node's Certificates page.
#[derive(Debug, thiserror::Error)]
#[error("certificate fingerprint {actual} does not match the pinned {expected}")]
struct FingerprintMismatch {
    expected: String,
    actual: String,
}

impl ServerCertVerifier for PinnedCertificate {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = fingerprint_of(end_entity.as_ref());
        if bool::from(actual.ct_eq(&self.fingerprint)) {
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            rustls::OtherError(Arc::new(FingerprintMismatch {
                expected: format_fingerprint(&self.fingerprint),
                actual: format_fingerprint(&actual),
            })),
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// `verify_tls = false`: any certificate. Handshake signatures are still checked, which
/// costs nothing and keeps a broken server from passing silently.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVER_PEM: &[u8] = include_bytes!("../../../tests/fixtures/pve/tls/server.pem");
    const CA_PEM: &[u8] = include_bytes!("../../../tests/fixtures/pve/tls/ca.pem");
    /// `openssl x509 -in tests/fixtures/pve/tls/server.pem -noout -fingerprint -sha256`.
    const SERVER_FINGERPRINT: &str = "23:32:FF:5E:83:26:A3:15:10:67:E0:8B:B4:80:2A:53:61:F8:28:D2:D1:2F:1F:D1:EC:EC:74:0D:1B:02:0B:83";

    fn der(pem: &[u8]) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem).unwrap()
    }

    fn name() -> ServerName<'static> {
        ServerName::try_from("pve.home.arpa").unwrap()
    }

    #[test]
    fn fingerprints_parse_in_the_forms_people_paste() {
        let upper = parse_fingerprint(SERVER_FINGERPRINT).unwrap();
        let lower = parse_fingerprint(&SERVER_FINGERPRINT.to_lowercase()).unwrap();
        let bare = parse_fingerprint(&SERVER_FINGERPRINT.replace(':', "")).unwrap();
        assert_eq!(upper, lower);
        assert_eq!(upper, bare);
        assert_eq!(format_fingerprint(&upper), SERVER_FINGERPRINT);
        let short = parse_fingerprint("AB:CD").unwrap_err().to_string();
        assert!(short.contains("has 2 bytes"), "{short}");
        let junk = parse_fingerprint("not-a-fingerprint")
            .unwrap_err()
            .to_string();
        assert!(junk.contains("not hex"), "{junk}");
    }

    #[test]
    fn the_computed_fingerprint_matches_what_openssl_prints() {
        let digest = fingerprint_of(der(SERVER_PEM).as_ref());
        assert_eq!(format_fingerprint(&digest), SERVER_FINGERPRINT);
    }

    #[test]
    fn a_pinned_certificate_is_accepted_whatever_its_name_or_issuer() {
        let verifier = PinnedCertificate::new(parse_fingerprint(SERVER_FINGERPRINT).unwrap());
        let cert = der(SERVER_PEM);
        // The name does not match the certificate's SAN and no CA is trusted: the pin
        // stands in for both.
        verifier
            .verify_server_cert(&cert, &[], &name(), &[], UnixTime::now())
            .unwrap();
    }

    #[test]
    fn another_certificate_is_refused_with_both_fingerprints() {
        let verifier = PinnedCertificate::new(parse_fingerprint(SERVER_FINGERPRINT).unwrap());
        let other = der(CA_PEM);
        let err = verifier
            .verify_server_cert(&other, &[], &name(), &[], UnixTime::now())
            .unwrap_err()
            .to_string();
        let ca_fp = format_fingerprint(&fingerprint_of(other.as_ref()));
        assert!(
            err.contains(SERVER_FINGERPRINT) && err.contains(&ca_fp),
            "{err}"
        );
    }

    #[test]
    fn a_pin_offers_the_providers_signature_schemes() {
        // Handshake signatures go through rustls' own verification with these schemes;
        // the HTTPS tests against the simulator exercise them end to end.
        let verifier = PinnedCertificate::new([0; 32]);
        let schemes = verifier.supported_verify_schemes();
        assert!(
            schemes.contains(&SignatureScheme::ECDSA_NISTP256_SHA256),
            "{schemes:?}"
        );
        assert!(
            schemes.contains(&SignatureScheme::RSA_PSS_SHA256),
            "{schemes:?}"
        );
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "nothing here\n").unwrap();
        let err = client_config(&TrustMode::CaFile(empty.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("holds no certificate") && err.contains("empty.pem"),
            "{err}"
        );
        let missing = dir.path().join("missing.pem");
        let err = client_config(&TrustMode::CaFile(missing))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.pem"), "{err}");
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, CA_PEM).unwrap();
        assert!(client_config(&TrustMode::CaFile(good)).unwrap().is_some());
    }

    #[test]
    fn the_system_mode_leaves_verification_to_the_platform() {
        assert!(client_config(&TrustMode::System).unwrap().is_none());
        assert!(client_config(&TrustMode::Insecure).unwrap().is_some());
    }
}
