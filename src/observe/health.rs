//! Health probes (the IO shell of `spec.health`): one attempt of an HTTP check (reqwest,
//! a timeout, no redirects, the body never read), a TCP check (a connection opened within
//! a timeout), or the provider's own signal through its observer
//! ([`super::Observer::health`]). What an attempt means is decided in
//! `reconcile::health`.

use super::{Observer, Target};
use crate::model::health::Probe;
use crate::reconcile::health::Attempt;
use std::sync::OnceLock;
use std::time::Duration;

/// The longest one attempt may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// One attempt of `probe` for `target`, bounded by `timeout` (at most
/// [`ATTEMPT_TIMEOUT`]). `observer` gives the provider's signal; without one (or when
/// it has none) the provider check is the last apply's exit status, `applied`.
pub async fn attempt(
    probe: &Probe,
    target: &Target,
    observer: Option<&dyn Observer>,
    applied: bool,
    timeout: Duration,
) -> Attempt {
    let timeout = timeout.min(ATTEMPT_TIMEOUT);
    match probe {
        Probe::Http { url, expect_status } => http(url, *expect_status, timeout).await,
        Probe::Tcp { host, port } => tcp(host, *port, timeout).await,
        Probe::Provider => {
            let signal = match observer {
                Some(o) => tokio::time::timeout(timeout, o.health(target))
                    .await
                    .unwrap_or_else(|_| {
                        Some(Attempt {
                            passed: false,
                            detail: format!("no answer within {} s", timeout.as_secs()),
                        })
                    }),
                None => None,
            };
            signal.unwrap_or_else(|| exit_status(applied))
        }
    }
}

/// The provider check of a provider without a signal of its own (Terraform, Ansible):
/// the last apply's exit status.
fn exit_status(applied: bool) -> Attempt {
    Attempt {
        passed: applied,
        detail: if applied {
            "the last apply exited 0".to_owned()
        } else {
            "the last apply did not succeed".to_owned()
        },
    }
}

/// The one HTTP client of every probe, or the error building it gave (kept, so each
/// probe reports it).
fn client() -> Result<&'static reqwest::Client, &'static reqwest::Error> {
    static CLIENT: OnceLock<Result<reqwest::Client, reqwest::Error>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // Needs a process-wide provider; an error only means one is installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .user_agent(concat!("homelabd/", env!("CARGO_PKG_VERSION"), " health"))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(reqwest::Error::without_url)
        })
        .as_ref()
}

async fn http(url: &str, expect: u16, timeout: Duration) -> Attempt {
    let client = match client() {
        Ok(c) => c,
        Err(e) => {
            return Attempt {
                passed: false,
                detail: format!("no HTTP client: {e}"),
            };
        }
    };
    // The body is never read: the status says it all, and a hostile answer cannot
    // make the daemon hold more than the headers.
    match client.get(url).timeout(timeout).send().await {
        Ok(answer) => {
            let status = answer.status().as_u16();
            Attempt {
                passed: status == expect,
                detail: if status == expect {
                    format!("HTTP {status}")
                } else {
                    format!("HTTP {status}, expected {expect}")
                },
            }
        }
        Err(e) => Attempt {
            passed: false,
            detail: if e.is_timeout() {
                format!("no HTTP answer within {} s", timeout.as_secs())
            } else {
                // Without the URL: it is in the definition, and the reason stays short.
                format!("HTTP request failed: {}", error_chain(&e.without_url()))
            },
        },
    }
}

/// An error with its sources ("error sending request: connection refused").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

async fn tcp(host: &str, port: u16, timeout: Duration) -> Attempt {
    let address = crate::reconcile::endpoint::host_port(host, &port.to_string());
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect((host, port))).await {
        Ok(Ok(_stream)) => Attempt {
            passed: true,
            detail: format!("TCP {address} open"),
        },
        Ok(Err(e)) => Attempt {
            passed: false,
            detail: format!("TCP {address}: {e}"),
        },
        Err(_) => Attempt {
            passed: false,
            detail: format!(
                "TCP {address}: no connection within {} s",
                timeout.as_secs()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Target {
        Target {
            resource: "web".into(),
            provider: crate::model::Provider::Docker,
            rendered_dir: std::env::temp_dir(),
            work_dir: std::env::temp_dir(),
            secrets: Default::default(),
        }
    }

    #[tokio::test]
    async fn tcp_passes_on_an_open_port_and_fails_on_a_closed_one() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Probe::Tcp {
            host: "127.0.0.1".into(),
            port,
        };
        let a = attempt(&open, &target(), None, false, Duration::from_secs(5)).await;
        assert!(a.passed, "{a:?}");
        drop(listener);
        let a = attempt(&open, &target(), None, false, Duration::from_secs(5)).await;
        assert!(!a.passed);
        assert!(
            a.detail.starts_with(&format!("TCP 127.0.0.1:{port}: ")),
            "{a:?}"
        );
    }

    #[tokio::test]
    async fn http_compares_the_status_and_a_provider_without_a_signal_uses_the_exit_status() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for status in ["200 OK", "500 Internal Server Error"] {
                let (mut s, _) = listener.accept().unwrap();
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        let probe = Probe::Http {
            url: format!("http://127.0.0.1:{port}/healthz"),
            expect_status: 200,
        };
        let t = Duration::from_secs(5);
        let ok = attempt(&probe, &target(), None, false, t).await;
        assert_eq!(ok.detail, "HTTP 200");
        assert!(ok.passed);
        let bad = attempt(&probe, &target(), None, false, t).await;
        assert_eq!(bad.detail, "HTTP 500, expected 200");
        assert!(!bad.passed);
        server.join().unwrap();
        assert!(
            attempt(&Probe::Provider, &target(), None, true, t)
                .await
                .passed
        );
        assert!(
            !attempt(&Probe::Provider, &target(), None, false, t)
                .await
                .passed
        );
    }
}
