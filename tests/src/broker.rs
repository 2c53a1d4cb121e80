//! A tansu broker run as a separate process on loopback, durable (SQLite) or in memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

/// Where the tansu binary is: `$CIVICPULSE_TANSU`, else `tansu` on `PATH`.
pub fn tansu_binary() -> PathBuf {
    std::env::var_os("CIVICPULSE_TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("tansu"))
}

/// How the broker stores its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// SQLite file in the broker's directory: survives a restart.
    Durable,
    /// In memory: lost on restart.
    Memory,
}

/// A running tansu broker; killed when dropped.
#[derive(Debug)]
pub struct TestBroker {
    dir: tempfile::TempDir,
    port: u16,
    storage: Storage,
    child: Option<Child>,
}

impl TestBroker {
    /// A durable broker (SQLite storage) on a free loopback port.
    pub fn start_durable() -> Self {
        Self::start(Storage::Durable)
    }

    /// An in-memory broker on a free loopback port. Reading from the start only: tansu 0.6's
    /// memory engine skips to the next record batch when a fetch starts inside one.
    pub fn start_memory() -> Self {
        Self::start(Storage::Memory)
    }

    fn start(storage: Storage) -> Self {
        let mut broker = Self {
            dir: tempfile::tempdir().expect("broker directory"),
            port: crate::free_port(),
            storage,
            child: None,
        };
        broker.spawn();
        broker
    }

    /// `127.0.0.1:PORT`, for `bootstrap.servers`.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker's working directory (its log and SQLite file).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Kills the broker (`SIGKILL`) and starts it again on the same port and storage.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Kills the broker without restarting it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker process if it is not running.
    pub fn spawn(&mut self) {
        if self.child.is_some() {
            return;
        }
        let url = format!("tcp://127.0.0.1:{}", self.port);
        // tansu joins absolute sqlite paths wrongly, so the file is relative to its cwd.
        let engine = match self.storage {
            Storage::Durable => "sqlite://broker.db".to_owned(),
            Storage::Memory => "memory://tansu/".to_owned(),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("tansu.log"))
            .expect("broker log file");
        let child = Command::new(tansu_binary())
            .current_dir(self.dir.path())
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", &engine])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone().expect("log handle")))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start tansu ({}): {e}; run tests/run, which installs it, or set CIVICPULSE_TANSU",
                    tansu_binary().display()
                )
            });
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", "civicpulse-tests-probe")
            .create()
            .expect("probe client");
        loop {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                panic!("tansu exited with {status}: {}", self.log());
            }
            if consumer
                .fetch_metadata(None, Duration::from_secs(2))
                .is_ok_and(|m| !m.brokers().is_empty())
            {
                return;
            }
            if Instant::now() > deadline {
                panic!("tansu did not answer within 60 s: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The broker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        self.kill();
    }
}
