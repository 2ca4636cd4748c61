//! rustls configuration for `wss://`: trust roots, ALPN, and the TLS handshake over TCP.
//!
//! Built only when a URL needs it, so a plain `ws://` run pays nothing for TLS.

use std::net::TcpStream;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::pki_types::ServerName;
use std::path::Path;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};

use crate::engine::Socket;

/// A client configuration that verifies servers against the system's trust store (which
/// honours `SSL_CERT_FILE` and `SSL_CERT_DIR`) and the bundled Mozilla roots.
///
/// # Errors
/// rustls rejected the configuration (an internal error).
pub fn client_config() -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // A missing or partly unreadable system store still leaves the bundled roots; a bad
    // certificate in it is skipped rather than failing every connection.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Runs the TLS handshake over a connected, blocking socket.
///
/// # Errors
/// The host is not a valid server name, or the handshake failed (untrusted or expired
/// certificate, name mismatch, no common protocol, the peer hung up).
pub fn handshake(
    config: Arc<ClientConfig>,
    host: &str,
    tcp: TcpStream,
) -> Result<StreamOwned<ClientConnection, Socket>> {
    let mut sock = Socket::new(tcp);
    // An IPv6 literal arrives from the URL in brackets; rustls wants it bare.
    let name = host.trim_start_matches('[').trim_end_matches(']');
    let server_name = ServerName::try_from(name.to_string())
        .with_context(|| format!("'{host}' is not a valid TLS server name"))?;
    let mut conn = ClientConnection::new(config, server_name).context("setting up TLS")?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    Ok(StreamOwned::new(conn, sock))
}

/// A server configuration from a PEM certificate chain and a PEM private key.
///
/// # Errors
/// A file cannot be read, holds no certificate or key, or the key does not match.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("reading a private key from {}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
