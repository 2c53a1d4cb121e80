//! kpi-query run as a process over a test lake, and the HTTP calls the tests make to it.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use crate::process::{ServiceProcess, wait_for};

/// Bearer token the tests' kpi-query requires.
pub const TOKEN: &str = "test-token-4f1c";
/// PostgreSQL user and password of the tests' kpi-query.
pub const PG_USER: &str = "civicpulse";
/// See [`PG_USER`].
pub const PG_PASSWORD: &str = "test-password-9d2e";

/// A running kpi-query.
pub struct KpiQuery {
    /// The process.
    pub process: ServiceProcess,
    /// HTTP port on 127.0.0.1.
    pub http_port: u16,
    /// PostgreSQL port on 127.0.0.1.
    pub pg_port: u16,
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Whether the body ended cleanly (a cut-off stream does not).
    pub complete: bool,
}

impl HttpResponse {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl KpiQuery {
    /// Starts kpi-query on `lake` with a token and a password, plus `env` (e.g. limits as
    /// `CIVICPULSE_QUERY__TIMEOUT_SECS`), and waits until it answers.
    pub fn start(lake: &Path, env: &[(&str, &str)], logs: &Path) -> Self {
        // Free ports are found by binding and releasing: another test may take one meanwhile.
        for _ in 0..2 {
            if let Some(started) = Self::try_start(lake, env, logs) {
                return started;
            }
        }
        Self::try_start(lake, env, logs).expect("kpi-query starts")
    }

    /// `None` if a port was taken between choosing and binding it.
    fn try_start(lake: &Path, env: &[(&str, &str)], logs: &Path) -> Option<Self> {
        let http_port = crate::free_port();
        let pg_port = crate::free_port();
        let http = format!("127.0.0.1:{http_port}");
        let pg = format!("127.0.0.1:{pg_port}");
        let mut all_env = vec![
            ("CIVICPULSE_QUERY_TOKEN", TOKEN),
            ("CIVICPULSE_QUERY_PASSWORD", PG_PASSWORD),
            ("CIVICPULSE_TELEMETRY__LOG_LEVEL", "info"),
        ];
        all_env.extend_from_slice(env);
        let mut process = ServiceProcess::start_without_http(
            "kpi-query",
            &[
                "--lake",
                lake.to_str().expect("UTF-8"),
                "--http",
                &http,
                "--pg",
                &pg,
            ],
            &all_env,
            logs,
        );
        let this_port = http_port;
        let mut port_taken = false;
        let up = wait_for(Duration::from_secs(60), || {
            if let Some(status) = process.exited() {
                if process.log().contains("Address already in use") {
                    port_taken = true;
                    return Some(());
                }
                panic!("kpi-query exited with {status}: {}", process.log());
            }
            let r = request(this_port, "GET", "/health", None, &[]).ok()?;
            (r.status == 200).then_some(())
        });
        assert!(up.is_some(), "kpi-query did not come up: {}", process.log());
        if port_taken {
            return None;
        }
        let pg_up = wait_for(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", pg_port)).ok()
        });
        assert!(pg_up.is_some(), "kpi-query's PostgreSQL port is not open");
        Some(Self {
            process,
            http_port,
            pg_port,
        })
    }

    /// The process id (for its memory).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// `GET path` with the token.
    pub fn get(&self, path: &str) -> HttpResponse {
        self.call(
            "GET",
            path,
            None,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
    }

    /// `POST /sql` with `sql` as body and `query` (`format=csv&as_of=…`, may be empty).
    pub fn sql(&self, sql: &str, query: &str) -> HttpResponse {
        let path = if query.is_empty() {
            "/sql".to_owned()
        } else {
            format!("/sql?{query}")
        };
        self.call(
            "POST",
            &path,
            Some(sql.as_bytes()),
            &[("Authorization", &format!("Bearer {TOKEN}"))],
        )
    }

    /// The JSON rows of `sql`, panicking on an error status.
    pub fn rows(&self, sql: &str) -> Vec<serde_json::Value> {
        let r = self.sql(sql, "");
        assert_eq!(r.status, 200, "{sql}: {}", r.text());
        r.json().as_array().expect("rows").clone()
    }

    /// Any request, headers as given.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        headers: &[(&str, &str)],
    ) -> HttpResponse {
        request(self.http_port, method, path, body, headers)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}\n{}", self.process.log()))
    }

    /// A libpq connection string for `psql` and psycopg.
    pub fn pg_dsn(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user={PG_USER} password={PG_PASSWORD} dbname=civicpulse sslmode=disable",
            self.pg_port
        )
    }
}

/// One HTTP/1.0 request on loopback (the service then ends the body by closing).
pub fn request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> std::io::Result<HttpResponse> {
    request_with_timeout(port, method, path, body, headers, Duration::from_secs(120))
}

/// [`request`] that gives up when no byte arrives for `timeout` (a body cut off then is
/// reported as incomplete, no answer at all as an error).
pub fn request_with_timeout(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
    timeout: Duration,
) -> std::io::Result<HttpResponse> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = body.unwrap_or_default();
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    let read = stream.read_to_end(&mut raw);
    let complete = read.is_ok();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| match read {
            // Nothing (or half a head) within the timeout, or the connection reset.
            Err(e) => std::io::Error::new(e.kind(), format!("no HTTP head in the answer: {e}")),
            Ok(_) => std::io::Error::other("no HTTP head in the answer"),
        })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let body = raw[split + 4..].to_vec();
    // A declared length that was not delivered is a cut-off body too.
    let complete = complete
        && headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .is_none_or(|n| n == body.len());
    Ok(HttpResponse {
        status,
        headers,
        body,
        complete,
    })
}

/// URL-encodes a query-string value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
