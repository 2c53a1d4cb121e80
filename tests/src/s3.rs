//! A local S3-compatible object store for lakes at `s3://` URLs: moto's server, run as a separate
//! process on loopback, as the tansu broker is.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::wait_for;
use crate::python::{self, TableSummary};
use crate::query::request;

/// The bucket every test lake lives in.
pub const BUCKET: &str = "civicpulse";

/// Credentials the server accepts (moto accepts any; the services must still send them).
const ACCESS_KEY: &str = "civicpulse-test";
const SECRET_KEY: &str = "civicpulse-test-secret";

/// A moto S3 server with bucket [`BUCKET`]; stopped when dropped.
pub struct S3Server {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl S3Server {
    /// Starts the server (logging to `log_dir/moto.log`) and creates the bucket.
    pub fn start(log_dir: &Path) -> Self {
        std::fs::create_dir_all(log_dir).expect("log directory");
        let port = crate::free_port();
        let log = log_dir.join("moto.log");
        let file = std::fs::File::create(&log).expect("moto log");
        let child = Command::new(python::python())
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::from(file.try_clone().expect("log handle")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto: {e}"));
        let mut this = Self { child, port, log };
        let created = wait_for(Duration::from_secs(60), || {
            if let Ok(Some(status)) = this.child.try_wait() {
                panic!("moto exited with {status}: {}", this.log());
            }
            let r = request(port, "PUT", &format!("/{BUCKET}"), None, &[]).ok()?;
            (r.status == 200).then_some(())
        });
        assert!(created.is_some(), "moto did not come up: {}", this.log());
        this
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The lake root `s3://<bucket>/<prefix>`.
    pub fn root(&self, prefix: &str) -> String {
        format!("s3://{BUCKET}/{prefix}")
    }

    /// The lake's `storage_options` as civicpulse's configuration names them.
    pub fn storage_options(&self) -> Vec<(&'static str, String)> {
        vec![
            ("aws_endpoint", self.endpoint()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", ACCESS_KEY.into()),
            ("aws_secret_access_key", SECRET_KEY.into()),
            ("aws_region", "us-east-1".into()),
        ]
    }

    /// A configuration file's `[lake]` section for root `s3://<bucket>/<prefix>`.
    pub fn lake_toml(&self, prefix: &str) -> String {
        let mut toml = format!(
            "[lake]\nroot = \"{}\"\n\n[lake.storage_options]\n",
            self.root(prefix)
        );
        for (key, value) in self.storage_options() {
            toml.push_str(&format!("{key} = \"{value}\"\n"));
        }
        toml
    }

    /// The same options as `CIVICPULSE_LAKE__STORAGE_OPTIONS__*` environment variables (how a
    /// Kubernetes Secret hands credentials to a service).
    pub fn lake_env(&self) -> Vec<(String, String)> {
        self.storage_options()
            .into_iter()
            .map(|(k, v)| {
                (
                    format!("CIVICPULSE_LAKE__STORAGE_OPTIONS__{}", k.to_uppercase()),
                    v,
                )
            })
            .collect()
    }

    /// The `AWS_*` variables the Python readers and boto3 take.
    pub fn python_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Reads the table at `url` with Python `deltalake` (the second reader).
    pub fn read_table(&self, url: &str, keys: bool) -> TableSummary {
        python::read_table_at(url, keys, &self.python_env())
    }

    /// Rows in the table at `url` per its log; `None` while it does not exist.
    pub fn count_rows(&self, url: &str) -> Option<u64> {
        python::count_rows_at(url, &self.python_env())
    }

    /// Every object key in the bucket, sorted.
    pub fn keys(&self) -> Vec<String> {
        let out = python::run_script_with_env("s3_keys.py", &[BUCKET], &self.python_env());
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("s3_keys.py output: {e}: {out}"))
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
