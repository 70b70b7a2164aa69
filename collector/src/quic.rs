//! The collector's QUIC endpoint: TLS 1.3 (rustls, ring), the server certificate from our
//! CA, and client certificates verified against that CA when an agent presents one.
//! Enrollment connections present none; the ingest layer decides per ALPN what it needs.

use crate::ca::CertificateAuthority;
use anyhow::{Context, Result};
use haidang_proto::update::ALPN_UPDATE;
use haidang_proto::wire::{ALPN_AGENT, ALPN_ENROLL};
use quinn::crypto::rustls::QuicServerConfig;
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// Receive window of a connection until it is authenticated: enough for an enrollment
/// request, so a peer without a certificate or token cannot make the collector buffer more.
pub const UNAUTHENTICATED_RECEIVE_WINDOW: u32 = 64 * 1024;
/// Bidirectional streams a connection may open until it is authenticated.
pub const UNAUTHENTICATED_STREAMS: u32 = 1;
/// What an authenticated agent's connection is raised to.
pub const AGENT_RECEIVE_WINDOW: u32 = 16 * 1024 * 1024;
pub const AGENT_STREAMS: u32 = 4;

/// Transport settings shared by the collector; small windows keep an idle agent's
/// connection cheap (the fleet is tens of thousands of mostly idle agents). Every
/// connection starts with the unauthenticated window and stream count; an agent's is raised
/// once its certificate is accepted (the per-stream window, fixed at the handshake, is then
/// bounded by the connection's).
pub fn transport() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.max_concurrent_bidi_streams(UNAUTHENTICATED_STREAMS.into());
    t.max_concurrent_uni_streams(0u32.into());
    t.stream_receive_window((8u32 * 1024 * 1024).into());
    t.receive_window(UNAUTHENTICATED_RECEIVE_WINDOW.into());
    t.send_window(1024 * 1024);
    t.datagram_receive_buffer_size(None);
    t.max_idle_timeout(Some(quinn::IdleTimeout::from(quinn::VarInt::from_u32(90_000))));
    t.keep_alive_interval(None);
    t.initial_rtt(Duration::from_millis(10));
    t
}

/// Receive buffer asked for on the collector's UDP socket (the kernel caps it at
/// `net.core.rmem_max`). Thousands of agents handshaking at once (after a collector restart,
/// say) arrive as bursts that overflow the default 208 KiB; every dropped Initial packet
/// costs an agent an exponentially growing retransmission delay (seconds, measured).
const UDP_RECV_BUFFER: usize = 8 * 1024 * 1024;

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
    tls.alpn_protocols = vec![ALPN_AGENT.to_vec(), ALPN_ENROLL.to_vec(), ALPN_UPDATE.to_vec()];
    tls.max_early_data_size = 0;
    // No session tickets: agents do not resume (the in-memory session cache holds 256 of a
    // fleet of tens of thousands and is lost on restart), so tickets only cost CPU on both
    // ends of every handshake (measured: about 6% of the collector's and 15% of the agent's
    // per enrollment) and memory on the agent.
    tls.send_tls13_tickets = 0;
    let crypto = QuicServerConfig::try_from(tls).context("TLS configuration unusable for QUIC")?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport()));
    let socket = std::net::UdpSocket::bind(addr).with_context(|| format!("cannot listen for QUIC on {addr}"))?;
    let udp = quinn::udp::UdpSocketState::new((&socket).into()).context("cannot configure the UDP socket")?;
    if let Err(e) = udp.set_recv_buffer_size((&socket).into(), UDP_RECV_BUFFER) {
        tracing::warn!(error = %e, "cannot enlarge the UDP receive buffer; bursts of handshakes may be dropped");
    }
    let runtime = quinn::default_runtime().context("no async runtime for QUIC")?;
    quinn::Endpoint::new(quinn::EndpointConfig::default(), Some(config), socket, runtime)
        .with_context(|| format!("cannot listen for QUIC on {addr}"))
}
