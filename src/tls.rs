//! rustls for both roles: the client's configuration (trust roots, `--ca`, `-k`, a client
//! certificate, ALPN) and its handshake over a socket with a deadline, with certificate
//! failures explained in words; the server's configuration (`--tls-cert`, `--tls-key`, and
//! `--tls-ca` for mutual TLS) and the subject of a client's certificate; for both, the key
//! log of `SSLKEYLOGFILE`.
//!
//! A client's configuration is built only when a URL needs it, so a plain `ws://` run pays
//! nothing for TLS.

use std::sync::Arc;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rustls::pki_types::ServerName;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, StreamOwned};

use crate::stream::Socket;

/// How `wsx connect` trusts servers and identifies itself.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    /// Trust only the authorities in this PEM file (`--ca`), instead of the default roots.
    pub ca: Option<PathBuf>,
    /// Do not verify the server's certificate at all (`-k/--insecure`).
    pub insecure: bool,
    /// A client certificate chain and its key (`--cert`, `--key`), PEM.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// A client configuration. By default servers are verified against the system's trust store
/// (which honours `SSL_CERT_FILE` and `SSL_CERT_DIR`) and the bundled Mozilla roots.
///
/// # Errors
/// A `--ca`, `--cert` or `--key` file cannot be read or used.
pub fn client_config(opts: &ClientTls) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match &opts.ca {
        Some(ca) => {
            let (added, _) = roots.add_parsable_certificates(read_certs(ca)?);
            if added == 0 {
                anyhow::bail!("{} holds no usable CA certificate", ca.display());
            }
        }
        None => {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            // A missing or partly unreadable system store still leaves the bundled roots; a
            // bad certificate in it is skipped rather than failing every connection.
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?
        .with_root_certificates(roots);
    let mut config = match &opts.identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(read_certs(cert)?, read_key(key)?)
            .context("the client certificate and key do not go together")?,
        None => builder.with_no_client_auth(),
    };
    if opts.insecure {
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(NoVerification(provider)));
    }
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if let Some(log) = key_log() {
        config.key_log = log;
    }
    Ok(Arc::new(config))
}

/// `SSLKEYLOGFILE`, as browsers and curl honour it: the TLS secrets of every handshake are
/// appended there in the NSS key log format, so that Wireshark can decrypt the session.
/// Nothing unless the variable is set; a file that cannot be opened is a warning on stderr.
fn key_log() -> Option<Arc<dyn rustls::KeyLog>> {
    let path = std::env::var_os("SSLKEYLOGFILE").filter(|p| !p.is_empty())?;
    let opened = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&path);
    if let Err(e) = opened {
        crate::diag::say(&format!(
            "wsx: warning: SSLKEYLOGFILE {}: {e}; TLS secrets are not logged",
            Path::new(&path).display()
        ));
        return None;
    }
    Some(Arc::new(rustls::KeyLogFile::new()))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("reading certificates from {}", path.display()))?;
    if certs.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", path.display());
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("reading a private key from {}", path.display()))
}

/// `-k/--insecure`: accepts any certificate, but still checks that the server holds the key
/// of the certificate it presents (the handshake signatures).
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Runs the TLS handshake over a connected, blocking socket, for `host` (a name, or an IP
/// address without brackets).
///
/// # Errors
/// The host is not a valid server name, or the handshake failed; certificate problems are
/// explained in words (untrusted issuer, another name, expired).
pub fn handshake(
    config: Arc<ClientConfig>,
    host: &str,
    mut sock: Socket,
) -> Result<StreamOwned<ClientConnection, Socket>> {
    let server_name = ServerName::try_from(host.to_string())
        .with_context(|| format!("'{host}' is not a valid TLS server name"))?;
    let mut conn = ClientConnection::new(config, server_name).context("setting up TLS")?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)
            .map_err(|e| anyhow::anyhow!(explain(&e, host)))?;
    }
    Ok(StreamOwned::new(conn, sock))
}

/// A handshake failure in words: what is wrong with the certificate, and what to do about it.
fn explain(err: &std::io::Error, host: &str) -> String {
    use rustls::CertificateError as C;
    let Some(rustls::Error::InvalidCertificate(cert)) =
        err.get_ref().and_then(|e| e.downcast_ref())
    else {
        return err.to_string();
    };
    match cert {
        C::UnknownIssuer => {
            "the server's certificate is not signed by a trusted authority (trust its CA with --ca FILE, or skip verification with -k)".to_string()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            format!("the server's certificate is not valid for {host}")
        }
        C::Expired | C::ExpiredContext { .. } => "the server's certificate has expired".to_string(),
        C::NotValidYet | C::NotValidYetContext { .. } => "the server's certificate is not valid yet".to_string(),
        other => format!("the server's certificate is invalid: {other:?}"),
    }
}

/// A server configuration from a PEM certificate chain and a PEM private key.
///
/// # Errors
/// A file cannot be read, holds no certificate or key, or the key does not match.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>> {
    let (certs, key) = (read_certs(cert)?, read_key(key)?);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("setting up TLS")?;
    let builder = match client_ca {
        // Mutual TLS: a client must present a certificate signed by one of these.
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            let (added, _) = roots.add_parsable_certificates(read_certs(ca)?);
            if added == 0 {
                anyhow::bail!("{} holds no usable CA certificate", ca.display());
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .context("setting up client certificate verification")?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .context("the TLS certificate and key do not go together")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    if let Some(log) = key_log() {
        config.key_log = log;
    }
    Ok(Arc::new(config))
}

/// The subject of a client's certificate (`CN=alice, O=example`), from its DER bytes.
pub fn subject(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(parsed.subject().to_string())
}
