//! `haidang-agent enroll`: trade a one-time token for a client certificate.

use crate::net::{read_frame, resolve};
use crate::state::{Identity, State};
use crate::tls;
use anyhow::{Context, Result, bail};
use haidang_proto::Timestamp;
use haidang_proto::enroll::{EnrollRequest, EnrollResponse};
use haidang_proto::wire::{SERVER_NAME, encode_frame};
use ring::signature::Ed25519KeyPair;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(15);

pub struct Options<'a> {
    pub server: &'a str,
    pub token: &'a str,
    pub ca_fingerprint: &'a str,
    pub state: &'a State,
}

pub async fn enroll(opts: Options<'_>) -> Result<Identity> {
    if opts.state.is_enrolled() {
        let id = opts.state.identity().map(|i| i.agent_id).unwrap_or_default();
        bail!("{} already holds an enrolled agent ({id}); remove it to enroll again", opts.state.root.display());
    }
    let pin = tls::parse_fingerprint(opts.ca_fingerprint)?;
    let token = opts.token.trim();
    if token.is_empty() {
        bail!("--token is empty");
    }
    let addr = resolve(opts.server).await?;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| anyhow::anyhow!("cannot generate a key"))?;
    let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| anyhow::anyhow!("cannot load the new key"))?;
    let hostname = hostname();
    let request = EnrollRequest::new(&key, token, &hostname, std::env::consts::OS, crate::version::running());

    let (config, pin_report) = tls::enrollment(&pin)?;
    let endpoint = tls::client_endpoint(addr)?;
    let connecting = endpoint.connect_with(config, addr, SERVER_NAME)?;
    let conn = match tokio::time::timeout(TIMEOUT, connecting).await {
        Err(_) => bail!("cannot reach the collector at {} (no answer within {} s)", opts.server, TIMEOUT.as_secs()),
        Ok(Err(e)) => {
            if let Some(seen) = pin_report.lock().ok().and_then(|r| r.clone()) {
                bail!(
                    "the collector at {} is not the one pinned: its CA fingerprint is {seen}, not {pin}; check --ca-fingerprint (`haidang-collector ca fingerprint`)",
                    opts.server
                );
            }
            bail!("cannot connect to the collector at {}: {e}", opts.server);
        }
        Ok(Ok(conn)) => conn,
    };
    let exchange = async {
        let (mut send, mut recv) = conn.open_bi().await?;
        send.write_all(&encode_frame(&request)).await?;
        send.finish()?;
        read_frame::<EnrollResponse>(&mut recv).await?.context("the collector closed the enrollment without answering")
    };
    let response = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| anyhow::anyhow!("the collector did not answer the enrollment within {} s", TIMEOUT.as_secs()))?
        .context("enrollment failed")?;
    conn.close(0u32.into(), b"enrolled");
    endpoint.wait_idle().await;
    let enrolled = match response {
        EnrollResponse::Enrolled(e) => e,
        EnrollResponse::Refused(r) => bail!("enrollment refused by the collector: {} ({})", r.message, r.code),
    };
    if haidang_proto::fingerprint(&enrolled.ca_certificate) != pin {
        bail!("the collector returned a CA certificate that does not match the pinned fingerprint");
    }
    let identity = Identity {
        agent_id: enrolled.agent_id.to_string(),
        server: opts.server.to_string(),
        group: enrolled.group,
        ca_fingerprint: pin,
        enrolled_at: Timestamp::now().to_rfc3339(),
        // Recorded by the first `run`, which can read the firmware's identifiers.
        machine: None,
    };
    opts.state.create_dir()?;
    opts.state.save(&identity, pkcs8.as_ref(), &enrolled.certificate, &enrolled.ca_certificate)?;
    Ok(identity)
}

pub fn hostname() -> String {
    sysinfo::System::host_name().unwrap_or_else(|| "unknown".into())
}
