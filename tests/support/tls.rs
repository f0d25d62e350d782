//! TLS helpers for the end-to-end tests: a private CA made with rcgen, an HTTPS upstream
//! (tokio-rustls + hyper) that counts handshakes and decrypted requests, a gateway
//! starter that accepts an `https://` announce line, and an HTTPS client that pins the
//! ALPN protocol it offers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::{TcpListener, TcpStream};

use super::gateway::{Gateway, SECRET};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A private certificate authority.
pub struct TestCa {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A leaf certificate and its PKCS#8 key, both PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().expect("ca key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("ca cert");
        TestCa {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for `names` (DNS names or IP addresses).
    pub fn leaf(&self, names: &[&str]) -> Leaf {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params
            .distinguished_name
            .push(DnType::CommonName, "signet test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn roots(&self) -> rustls::RootCertStore {
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(self.pem.as_bytes()) {
            roots.add(c.expect("ca pem")).expect("ca anchor");
        }
        roots
    }
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pem");
    p
}

pub fn server_config(leaf: &Leaf, alpn: &[&[u8]]) -> Arc<rustls::ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("leaf cert pem");
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("leaf key pem");
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server cert");
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

/// An HTTPS upstream answering every request with 200 and `body` (JSON).
pub struct HttpsUpstream {
    pub addr: std::net::SocketAddr,
    /// TLS handshakes that completed.
    pub handshakes: Arc<AtomicUsize>,
    /// TLS handshakes that failed (e.g. the client refused our certificate).
    pub failed_handshakes: Arc<AtomicUsize>,
    /// Requests received over an established TLS session (so: decrypted).
    pub requests: Arc<AtomicUsize>,
    /// `Host` header of each request.
    pub hosts: Arc<std::sync::Mutex<Vec<String>>>,
}

impl HttpsUpstream {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
    pub fn failed_handshakes(&self) -> usize {
        self.failed_handshakes.load(Ordering::SeqCst)
    }
}

pub async fn https_upstream(leaf: &Leaf, body: &'static str) -> HttpsUpstream {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(leaf, &[b"http/1.1"]));
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let up = HttpsUpstream {
        addr: l.local_addr().expect("addr"),
        handshakes: Arc::default(),
        failed_handshakes: Arc::default(),
        requests: Arc::default(),
        hosts: Arc::default(),
    };
    let (ok, bad, reqs, hosts) = (
        up.handshakes.clone(),
        up.failed_handshakes.clone(),
        up.requests.clone(),
        up.hosts.clone(),
    );
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                continue;
            };
            let (acceptor, ok, bad, reqs, hosts) = (
                acceptor.clone(),
                ok.clone(),
                bad.clone(),
                reqs.clone(),
                hosts.clone(),
            );
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    bad.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                ok.fetch_add(1, Ordering::SeqCst);
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        reqs.fetch_add(1, Ordering::SeqCst);
                        let host = req
                            .headers()
                            .get("host")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        hosts.lock().expect("lock").push(host);
                        async move {
                            let _ = req.into_body().collect().await;
                            http::Response::builder()
                                .header("content-type", "application/json")
                                .body(Full::new(Bytes::from_static(body.as_bytes())))
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    up
}

/// Starts `signet serve` (see [`super::gateway::start`]); returns the gateway and the
/// announced scheme (`https` with a TLS listener).
pub fn start(upstream_url: &str, env: &[(&str, &str)]) -> (Gateway, String) {
    let g = super::gateway::start(upstream_url, env, None);
    let scheme = g.scheme.clone();
    (g, scheme)
}

/// Runs `signet serve` expecting it to refuse to start; returns (exit code, stderr).
pub fn start_fails(upstream_url: &str, env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet"))
        .arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("SIGNET_UPSTREAM_URL", upstream_url)
        .env("SIGNET_PORT", "0")
        .env("SIGNET_HOST", "127.0.0.1")
        .env("SIGNET_AUDIT_LOG_PATH", dir.path().join("audit.jsonl"))
        .env("SIGNET_HMAC_SECRET", SECRET)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    for _ in 0..1000 {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait");
    let log_exists = dir.path().join("audit.jsonl").exists();
    assert!(!log_exists, "a refused start must not create the audit log");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// What an HTTPS request to the gateway got back.
pub struct TlsGot {
    pub alpn: Option<Vec<u8>>,
    pub version: http::Version,
    pub status: u16,
    pub body: Vec<u8>,
}

/// One HTTPS request to `addr`, trusting `roots`, offering exactly `alpn`; speaks HTTP/2
/// when the server picked `h2`, else HTTP/1.1.
pub async fn https_request(
    addr: &str,
    roots: rustls::RootCertStore,
    alpn: &[&[u8]],
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> TlsGot {
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let name = ServerName::try_from(host.to_owned()).expect("server name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the gateway");
    let negotiated = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    let mut b = http::Request::builder()
        .method(method)
        .uri(format!("https://{addr}{path}"));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let req = b
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("request");
    let io = TokioIo::new(tls);
    let resp = if negotiated.as_deref() == Some(b"h2") {
        let (mut send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
            .await
            .expect("h2 handshake");
        tokio::spawn(conn);
        send.send_request(req).await.expect("h2 request")
    } else {
        let (mut send, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .expect("h1 handshake");
        tokio::spawn(conn);
        send.send_request(req).await.expect("h1 request")
    };
    let version = resp.version();
    let status = resp.status().as_u16();
    let body = tokio::time::timeout(Duration::from_secs(20), resp.into_body().collect())
        .await
        .expect("body timeout")
        .expect("body")
        .to_bytes()
        .to_vec();
    TlsGot {
        alpn: negotiated,
        version,
        status,
        body,
    }
}
