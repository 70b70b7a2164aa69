//! The collector's own certificate authority, created on first start.
//!
//! It issues the collector's QUIC server certificate and one client certificate per enrolled
//! agent, for the Ed25519 key the agent generated itself (the private key never leaves the
//! agent). Agents pin the CA by the SHA-256 fingerprint of its certificate.

use anyhow::{Context, Result};
use haidang_proto::wire::SERVER_NAME;
use haidang_proto::{AgentId, fingerprint};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ED25519, PublicKeyData, SignatureAlgorithm,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

const CA_CERT: &str = "ca/ca.der";
const CA_KEY: &str = "ca/ca.key.der";
const SERVER_CERT: &str = "ca/server.der";
const SERVER_KEY: &str = "ca/server.key.der";

/// Validity of agent certificates; agents re-enroll or renew before this.
const AGENT_CERT_DAYS: u64 = 825;

pub struct CertificateAuthority {
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
    server_cert: Vec<u8>,
    server_key: Vec<u8>,
}

impl CertificateAuthority {
    /// Loads the CA from the data directory, creating it (and the server certificate) on
    /// first start.
    pub fn open_or_create(data: &Path) -> Result<CertificateAuthority> {
        let ca_cert_path = data.join(CA_CERT);
        if !ca_cert_path.exists() {
            create(data)?;
        }
        let cert_der = fs::read(&ca_cert_path).with_context(|| format!("cannot read {}", ca_cert_path.display()))?;
        let key_der = read_secret(&data.join(CA_KEY))?;
        let key = KeyPair::try_from(key_der.as_slice()).context("the CA key is not a valid PKCS#8 key")?;
        let issuer = Issuer::new(ca_params()?, key);
        let server_cert = fs::read(data.join(SERVER_CERT)).context("cannot read the server certificate")?;
        let server_key = read_secret(&data.join(SERVER_KEY))?;
        Ok(CertificateAuthority { cert_der, issuer, server_cert, server_key })
    }

    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// `sha256:<64 hex>` of the CA certificate: what agents pin.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.cert_der)
    }

    /// The server's chain (server certificate, then the CA, so agents that only know the
    /// CA's fingerprint can find it) and key.
    pub fn server_identity(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let chain = vec![CertificateDer::from(self.server_cert.clone()), CertificateDer::from(self.cert_der.clone())];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        (chain, key)
    }

    /// Issues a client certificate for an agent's Ed25519 public key.
    pub fn issue_agent_certificate(&self, agent_id: AgentId, public_key: &[u8]) -> Result<Vec<u8>> {
        let key = Ed25519PublicKey(public_key.to_vec());
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, agent_id.to_string());
        params.distinguished_name.push(DnType::OrganizationName, "Hải Đăng agents");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.not_before = (SystemTime::now() - Duration::from_secs(3600)).into();
        params.not_after = (SystemTime::now() + Duration::from_secs(AGENT_CERT_DAYS * 86_400)).into();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(agent_id.as_bytes()));
        Ok(params.signed_by(&key, &self.issuer)?.der().to_vec())
    }
}

struct Ed25519PublicKey(Vec<u8>);

impl PublicKeyData for Ed25519PublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.0
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        &PKCS_ED25519
    }
}

fn ca_params() -> Result<CertificateParams> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "Hải Đăng collector CA");
    params.distinguished_name.push(DnType::OrganizationName, "Khánh Hòa SOC");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    Ok(params)
}

fn create(data: &Path) -> Result<()> {
    let dir = data.join("ca");
    haidang_private::secure_dir(&dir, "data directory")?;
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = ca_params()?;
    params.not_before = (SystemTime::now() - Duration::from_secs(3600)).into();
    params.not_after = (SystemTime::now() + Duration::from_secs(20 * 365 * 86_400)).into();
    let ca_cert = params.self_signed(&ca_key)?;

    let server_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut server = CertificateParams::new(vec![SERVER_NAME.to_string()])?;
    server.distinguished_name.push(DnType::CommonName, SERVER_NAME);
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.not_before = params.not_before;
    server.not_after = params.not_after;
    let issuer = Issuer::new(ca_params()?, &ca_key);
    let server_cert = server.signed_by(&server_key, &issuer)?;

    write_secret(&data.join(CA_KEY), &ca_key.serialize_der())?;
    write_secret(&data.join(SERVER_KEY), &server_key.serialize_der())?;
    write_secret(&data.join(SERVER_CERT), server_cert.der())?;
    // The CA certificate is written last: its presence means the CA is complete.
    write_secret(&data.join(CA_CERT), ca_cert.der())?;
    write_secret(&dir.join("ca.pem"), ca_cert.pem().as_bytes())?;
    Ok(())
}

/// Writes a file only its owner can read, tightening one that exists with a looser mode
/// (the mode given to `open` applies only when it creates the file).
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(fs::Permissions::from_mode(0o600))
            .with_context(|| format!("cannot make {} private", path.display()))?;
    }
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn read_secret(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ca_is_created_once_and_reloaded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = CertificateAuthority::open_or_create(dir.path()).expect("create");
        let again = CertificateAuthority::open_or_create(dir.path()).expect("reload");
        assert_eq!(first.fingerprint(), again.fingerprint());
        assert!(first.fingerprint().starts_with("sha256:") && first.fingerprint().len() == 71);
        let cert = again.issue_agent_certificate(AgentId([5; 16]), &[7; 32]).expect("issue");
        assert!(!cert.is_empty());
    }
}
