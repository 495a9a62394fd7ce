//! The worker daemon as the executor JVM's `PythonWorkerFactory` starts and reaches it,
//! shared by the integration tests that speak raw protocol bytes to it.

use std::io::Read;
use std::net::TcpStream;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use sparkwasm_protocol::{read_i32, read_str, write_str};

/// The worker binary under test.
pub(crate) const WORKER: &str = env!("CARGO_BIN_EXE_sparkwasm-worker");
/// The authentication secret the tests' daemons expect.
pub(crate) const SECRET: &str = "9f1c0ffee0ddba11deadbeef0123456789abcdef0123456789abcdef01234567";

/// A daemon-mode worker process, killed when dropped.
#[allow(dead_code)] // not every test binary uses the kill channel or stdin
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) stdin: Option<ChildStdin>,
    port: u16,
}

impl Daemon {
    /// Starts a daemon for Spark 4.3 with worker reuse, as `PythonWorkerFactory` does, and
    /// reads the port it announces.
    pub(crate) fn start() -> Daemon {
        let mut child = Command::new(WORKER)
            .args(["-m", "pyspark.daemon", "pyspark.worker"])
            .env_clear()
            .env("SPARKWASM_SPARK_VERSION", "4.3.0")
            .env("PYTHON_WORKER_FACTORY_SECRET", SECRET)
            .env("SPARK_REUSE_WORKER", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("worker starts");
        let mut port = [0u8; 4];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut port)
            .expect("the daemon announces its port");
        let port = u16::try_from(i32::from_be_bytes(port)).expect("a valid port");
        let stdin = child.stdin.take();
        Daemon { child, stdin, port }
    }

    /// Connects like PythonWorkerFactory: read the pid, authenticate, expect "ok". Returns
    /// the authenticated stream (60 s read timeout) and the worker's pid.
    pub(crate) fn connect_stream(&self) -> (TcpStream, i32) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let pid = read_i32(&mut stream).unwrap();
        assert!(pid > 0);
        assert!(
            std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "the pid is a live process"
        );
        write_str(&mut stream, SECRET).unwrap();
        assert_eq!(read_str(&mut stream, 16, "auth reply").unwrap(), "ok");
        (stream, pid)
    }

    /// Whether the process exits within `within`.
    #[allow(dead_code)] // not every test binary waits for an exit
    pub(crate) fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
