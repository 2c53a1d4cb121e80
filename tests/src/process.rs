//! The workspace's service binaries run as processes, as an operator runs them.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The path of workspace binary `name`, beside the running executable: a test runs from
/// `target/<profile>/deps/`, the bench from `target/<profile>/`. `tests/run` builds every binary
/// before the tests run.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("running executable");
    let dir = exe.parent().expect("executable directory");
    let candidates = [Some(dir), dir.parent()];
    let found = candidates
        .into_iter()
        .flatten()
        .map(|d| d.join(name))
        .find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!(
            "{name} is missing beside {}: build it first (`cargo build --workspace --bins`, as tests/run does)",
            exe.display()
        )
    })
}

/// A running service process; killed when dropped.
#[derive(Debug)]
pub struct ServiceProcess {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    http_port: u16,
}

impl ServiceProcess {
    /// Starts binary `name` with `args` and `env`, logging to `log_dir/<name>-<pid>.log`;
    /// `--http 127.0.0.1:<port>` is added so the test can read `/metrics`.
    pub fn start(name: &str, args: &[&str], env: &[(&str, &str)], log_dir: &Path) -> Self {
        Self::spawn(name, args, env, log_dir, true)
    }

    /// Starts binary `name` like [`start`](Self::start), for programs without `--http`.
    pub fn start_without_http(
        name: &str,
        args: &[&str],
        env: &[(&str, &str)],
        log_dir: &Path,
    ) -> Self {
        Self::spawn(name, args, env, log_dir, false)
    }

    fn spawn(name: &str, args: &[&str], env: &[(&str, &str)], log_dir: &Path, http: bool) -> Self {
        let http_port = crate::free_port();
        let http_args = if http {
            vec!["--http".to_owned(), format!("127.0.0.1:{http_port}")]
        } else {
            Vec::new()
        };
        std::fs::create_dir_all(log_dir).expect("log directory");
        let log = log_dir.join(format!("{name}-{http_port}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(binary(name))
            .args(args)
            .args(&http_args)
            .envs(env.iter().copied())
            .env("CIVICPULSE_HASH_KEY", crate::TEST_HASH_KEY)
            .env_remove("RUST_LOG")
            .stdout(Stdio::from(file.try_clone().expect("log handle")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Self {
            name: name.to_owned(),
            child: Some(child),
            log,
            http_port,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// `SIGKILL`: the process stops wherever it is.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `SIGTERM` and wait up to `timeout` for a graceful exit.
    pub fn terminate(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{} ignored SIGTERM for {timeout:?}: {}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Whether the process has exited (and how).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The process's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The current value of Prometheus metric `name` (summed over label sets whose labels
    /// contain `label_filter`), or `None` while the endpoint is not up.
    pub fn metric(&self, name: &str, label_filter: &str) -> Option<f64> {
        let body = http_get(self.http_port, "/metrics")?;
        let mut total = None;
        for line in body.lines().filter(|l| !l.starts_with('#')) {
            let (key, value) = line.rsplit_once(' ')?;
            let metric = key.split('{').next().unwrap_or(key);
            if metric == name && key.contains(label_filter) {
                *total.get_or_insert(0.0) += value.parse::<f64>().ok()?;
            }
        }
        total.or(Some(0.0))
    }

    /// The body of `GET /healthz`, or `None` while the endpoint is not up.
    pub fn health(&self) -> Option<String> {
        http_get(self.http_port, "/healthz")
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A minimal HTTP/1.0 GET on loopback (no client crate needed for two endpoints).
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    status.contains(" 200 ").then(|| body.to_owned())
}

/// Polls `check` every 200 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What a command-line client run did.
#[derive(Debug)]
pub struct CommandRun {
    /// Whether it exited with success before its deadline.
    pub ok: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error (with a note when it was killed at the deadline).
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs `cmd` with its output in temporary files, killed after `deadline`.
pub fn run_with_deadline(mut cmd: Command, deadline: Duration) -> CommandRun {
    let dir = tempfile::tempdir().expect("output directory");
    let file = |name: &str| std::fs::File::create(dir.path().join(name)).expect("output file");
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(file("out"))
        .stderr(file("err"))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    let mut stderr = read("err");
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {deadline:?})"));
    }
    CommandRun {
        ok: status.is_some_and(|s| s.success()),
        stdout: read("out"),
        stderr,
        elapsed: started.elapsed(),
    }
}
