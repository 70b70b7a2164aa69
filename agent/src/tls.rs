//! TLS for the agent's QUIC connections.
//!
//! Enrollment pins the collector's CA by fingerprint: the collector sends its CA certificate
//! in the chain, the agent finds the one whose SHA-256 matches the pin and verifies the
//! server certificate against it. After enrollment the stored CA is the only trust root and
//! the agent authenticates with its client certificate.

use anyhow::{Context, Result};
use haidang_proto::fingerprint;
use haidang_proto::wire::{ALPN_AGENT, ALPN_ENROLL};
use quinn::crypto::rustls::QuicClientConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the pinning verifier saw, for a clear error message when the pin does not match.
pub type PinReport = Arc<Mutex<Option<String>>>;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Checks the `sha256:<64 hex>` form.
pub fn parse_fingerprint(s: &str) -> Result<String> {
    let s = s.trim().to_ascii_lowercase();
    let hexpart = s.strip_prefix("sha256:").unwrap_or(&s);
    if hexpart.len() != 64 || !hexpart.bytes().all(|b| b.is_ascii_hexdigit()) {
        anyhow::bail!(
            "--ca-fingerprint must be sha256:<64 hex digits>, as printed by `haidang-collector ca fingerprint`"
        );
    }
    Ok(format!("sha256:{hexpart}"))
}

#[derive(Debug)]
struct PinnedCa {
    pin: String,
    provider: Arc<CryptoProvider>,
    report: PinReport,
}

impl ServerCertVerifier for PinnedCa {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(ca) = intermediates.iter().find(|c| fingerprint(c) == self.pin) else {
            let seen: Vec<String> = intermediates.iter().map(|c| fingerprint(c)).collect();
            if let Ok(mut r) = self.report.lock() {
                *r = Some(seen.join(", "));
            }
            return Err(rustls::Error::General("collector CA fingerprint mismatch".into()));
        };
        let mut roots = RootCertStore::empty();
        roots.add(ca.clone().into_owned()).map_err(|e| rustls::Error::General(format!("pinned CA unusable: {e}")))?;
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))?;
        inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

pub fn transport() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(60_000))));
    t.keep_alive_interval(Some(Duration::from_secs(20)));
    t.max_concurrent_uni_streams(0u32.into());
    t.initial_rtt(Duration::from_millis(10));
    t
}

fn quic(tls: rustls::ClientConfig) -> Result<quinn::ClientConfig> {
    let crypto = QuicClientConfig::try_from(tls).context("TLS configuration unusable for QUIC")?;
    let mut config = quinn::ClientConfig::new(Arc::new(crypto));
    config.transport_config(Arc::new(transport()));
    Ok(config)
}

/// Client config for enrollment: no client certificate, CA pinned by fingerprint.
pub fn enrollment(pin: &str) -> Result<(quinn::ClientConfig, PinReport)> {
    let provider = provider();
    let report = PinReport::default();
    let verifier = PinnedCa { pin: pin.to_string(), provider: provider.clone(), report: report.clone() };
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN_ENROLL.to_vec()];
    Ok((quic(tls)?, report))
}

/// Client config for an enrolled agent: the stored CA is the root, the agent's certificate
/// authenticates it.
pub fn enrolled(ca: &[u8], cert: &[u8], key_pkcs8: &[u8]) -> Result<quinn::ClientConfig> {
    enrolled_for(ALPN_AGENT, ca, cert, key_pkcs8)
}

/// As [`enrolled`], for another protocol of enrolled agents (updates).
pub fn enrolled_for(alpn: &[u8], ca: &[u8], cert: &[u8], key_pkcs8: &[u8]) -> Result<quinn::ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca.to_vec())).context("the stored CA certificate is invalid")?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_pkcs8.to_vec()));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![CertificateDer::from(cert.to_vec())], key)
        .context("the agent certificate or key is invalid")?;
    tls.alpn_protocols = vec![alpn.to_vec()];
    quic(tls)
}

/// A client endpoint on an ephemeral port of the right address family.
pub fn client_endpoint(server: std::net::SocketAddr) -> Result<quinn::Endpoint> {
    let bind: std::net::SocketAddr = if server.is_ipv6() { "[::]:0".parse()? } else { "0.0.0.0:0".parse()? };
    match quinn::Endpoint::client(bind) {
        #[cfg(windows)]
        Err(e) if crate::plain_udp::refused_socket_option(&e) => {
            tracing::warn!(error = %e, "Winsock refuses quinn-udp's socket options (as Wine does): QUIC goes over plain datagrams, without ECN");
            crate::plain_udp::client_endpoint(bind).context("cannot open a UDP socket")
        }
        endpoint => endpoint.context("cannot open a UDP socket"),
    }
}
