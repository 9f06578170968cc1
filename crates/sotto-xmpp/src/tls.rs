//! rustls client configuration: the `ring` provider, Mozilla's roots or one PEM file,
//! verification always on.

use crate::XmppError;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::Path;
use std::sync::Arc;

/// Build the client config. `alpn`: `xmpp-client` for direct TLS (XEP-0368).
pub(crate) fn client_config(
    trusted_root: Option<&Path>,
    direct: bool,
) -> Result<Arc<rustls::ClientConfig>, XmppError> {
    let mut roots = RootCertStore::empty();
    match trusted_root {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path).map_err(|e| {
                XmppError::Misuse(format!("cannot read trusted root {}: {e}", path.display()))
            })?;
            for c in certs {
                let c = c.map_err(|e| {
                    XmppError::Misuse(format!("bad PEM in {}: {e}", path.display()))
                })?;
                roots.add(c).map_err(|e| {
                    XmppError::Misuse(format!(
                        "unusable CA certificate in {}: {e}",
                        path.display()
                    ))
                })?;
            }
            if roots.is_empty() {
                return Err(XmppError::Misuse(format!(
                    "no certificate in {}",
                    path.display()
                )));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    // Explicit provider: does not depend on which rustls crypto features other crates enable.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| XmppError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if direct {
        cfg.alpn_protocols = vec![b"xmpp-client".to_vec()];
    }
    Ok(Arc::new(cfg))
}

/// The name the certificate must carry: the JID's domain (RFC 6120 §13.7.2.1), whatever
/// host we connected to.
pub(crate) fn server_name(domain: &str) -> Result<ServerName<'static>, XmppError> {
    ServerName::try_from(domain.to_owned())
        .map_err(|_| XmppError::Misuse(format!("not a valid domain: {domain}")))
}

/// Map a TLS handshake I/O error to certificate / TLS / network.
pub(crate) fn classify(e: &std::io::Error) -> XmppError {
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return match tls {
            rustls::Error::InvalidCertificate(c) => XmppError::Certificate(format!("{c:?}")),
            rustls::Error::NoCertificatesPresented => {
                XmppError::Certificate("server presented no certificate".into())
            }
            other => XmppError::Tls(other.to_string()),
        };
    }
    XmppError::net(e)
}
