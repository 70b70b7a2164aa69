//! The collector's QUIC endpoint: TLS 1.3 (rustls, ring), the server certificate from our
//! CA, and client certificates verified against that CA when an agent presents one.
//! Enrollment connections present none; the ingest layer decides per ALPN what it needs.

use crate::ca::CertificateAuthority;
use anyhow::{Context, Result};
use haidang_proto::wire::{ALPN_AGENT, ALPN_ENROLL};
use quinn::crypto::rustls::QuicServerConfig;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Transport settings shared by the collector; small windows keep an idle agent's
/// connection cheap (the fleet is tens of thousands of mostly idle agents).
pub fn transport() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(4u32.into());
    t.max_concurrent_uni_streams(0u32.into());
    t.stream_receive_window((8u32 * 1024 * 1024).into());
    t.receive_window((16u32 * 1024 * 1024).into());
    t.send_window(1024 * 1024);
    t.datagram_receive_buffer_size(None);
    t.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(90_000))));
    t.keep_alive_interval(None);
    t.initial_rtt(Duration::from_millis(10));
    t
}

pub fn endpoint(ca: &CertificateAuthority, addr: SocketAddr) -> Result<quinn::Endpoint> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca.cert_der().to_vec())).context("the CA certificate is invalid")?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .context("cannot build the client certificate verifier")?;
    let (chain, key) = ca.server_identity();
    let mut tls = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .context("the server certificate or key is invalid")?;
    tls.alpn_protocols = vec![ALPN_AGENT.to_vec(), ALPN_ENROLL.to_vec()];
    tls.max_early_data_size = 0;
    let crypto = QuicServerConfig::try_from(tls).context("TLS configuration unusable for QUIC")?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport()));
    quinn::Endpoint::server(config, addr).with_context(|| format!("cannot listen for QUIC on {addr}"))
}
