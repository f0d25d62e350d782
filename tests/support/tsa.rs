//! A real local RFC 3161 TSA for the end-to-end tests (`local-tsa.sh`: OpenSSL behind a
//! small Python HTTP server on 127.0.0.1), and a TLS front for it: a tokio-rustls
//! listener that terminates TLS with a given certificate and forwards the bytes to the
//! plain TSA, counting handshakes, so the gateway can be pointed at an `https://` TSA.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::{TcpListener, TcpStream};

use super::tls::{Leaf, server_config};

/// The running TSA; killed on drop.
pub struct Tsa {
    child: Child,
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    /// Its root CA certificate (PEM): what tokens verify against.
    pub root: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Tsa {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Tsa {
    /// The plain TSA's address.
    pub fn addr(&self) -> SocketAddr {
        let hostport = self
            .url
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .expect("TSA URL");
        hostport.parse().expect("TSA address")
    }
}

/// A script of `tests/support` (`local-tsa.sh`, `tsa-sign.sh`).
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(name)
}

/// Builds a fresh TSA (new CA and certificates) and serves it on a free port.
pub fn start() -> Tsa {
    let dir = tempfile::tempdir().expect("tmp");
    let tsa = dir.path().join("tsa");
    let o = Command::new("bash")
        .arg(script("local-tsa.sh"))
        .arg("init")
        .arg(&tsa)
        .output()
        .expect("bash");
    assert!(
        o.status.success(),
        "TSA init (openssl required): {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut child = Command::new("bash")
        .arg(script("local-tsa.sh"))
        .arg("serve")
        .arg(&tsa)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn TSA");
    let out = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(out).lines();
    let url = loop {
        let l = lines.next().expect("TSA printed its URL").expect("line");
        if let Some(u) = l.strip_prefix("TSA_URL=") {
            break u.to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Tsa {
        child,
        url,
        root: tsa.join("ca.crt"),
        _dir: dir,
    }
}

/// A TLS-terminating front for a plain TCP service.
pub struct TlsFront {
    pub addr: SocketAddr,
    /// Handshakes that completed (each then forwarded to the backend).
    pub handshakes: Arc<AtomicUsize>,
    /// Handshakes that failed (e.g. the client refused our certificate).
    pub failed_handshakes: Arc<AtomicUsize>,
}

impl TlsFront {
    pub fn url(&self) -> String {
        format!("https://{}/", self.addr)
    }
    pub fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
    pub fn failed_handshakes(&self) -> usize {
        self.failed_handshakes.load(Ordering::SeqCst)
    }
}

/// Serves TLS with `leaf` on a free 127.0.0.1 port and copies each decrypted
/// connection to and from `backend`.
pub async fn tls_front(leaf: &Leaf, backend: SocketAddr) -> TlsFront {
    let acceptor = tokio_rustls::TlsAcceptor::from(server_config(leaf, &[b"http/1.1"]));
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let front = TlsFront {
        addr: l.local_addr().expect("addr"),
        handshakes: Arc::default(),
        failed_handshakes: Arc::default(),
    };
    let (ok, bad) = (front.handshakes.clone(), front.failed_handshakes.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = l.accept().await else {
                continue;
            };
            let (acceptor, ok, bad) = (acceptor.clone(), ok.clone(), bad.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    bad.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                ok.fetch_add(1, Ordering::SeqCst);
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    front
}
