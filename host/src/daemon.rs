//! Daemon mode (`-m pyspark.daemon …`), as `pyspark/daemon.py` behaves: listen on loopback,
//! tell the JVM the port on stdout, fork one worker process per JVM connection (Spark 4.x
//! checks that the pid it is sent is a live process, and kills workers by pid), kill workers
//! the JVM names on stdin, and shut down on stdin EOF or SIGTERM.
//!
//! The daemon process stays single-threaded so that `fork` is safe: the sandbox (with its
//! threads) is only ever created in the forked children.

use std::collections::HashSet;
use std::io::{self, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::os::fd::AsFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, signal, SigHandler, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, getpid, setpgid, ForkResult, Pid};
use sparkwasm_protocol::handshake;

use crate::config::WorkerConfig;
use crate::connection::{Connection, ConnectionEnd};
use crate::stream::Stream;

/// Where the daemon listens.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Listener {
    fn accept(&self) -> io::Result<Stream> {
        match self {
            Listener::Tcp(l) => {
                let (s, _) = l.accept()?;
                s.set_nodelay(true)?;
                Ok(Stream::Tcp(s))
            }
            Listener::Unix(l, _) => Ok(Stream::Unix(l.accept()?.0)),
        }
    }
}

/// Runs the daemon until the JVM closes its stdin or sends SIGTERM.
pub fn run(config: WorkerConfig) -> anyhow::Result<()> {
    // Our own process group, so shutdown can take every worker with it (as daemon.py).
    let _ = setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // SAFETY: installing SIG_IGN runs no code of ours in signal context.
    unsafe { signal(Signal::SIGHUP, SigHandler::SigIgn) }?;
    let (term_read, term_write) = UnixStream::pair()?;
    term_read.set_nonblocking(true)?;
    signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, term_write)?;

    let listener = listen(&config)?;
    announce(&listener)?;

    let mut children: HashSet<Pid> = HashSet::new();
    let stdin = io::stdin();
    let mut kill_buffer = Vec::with_capacity(4);
    loop {
        reap(&mut children);
        let listener_fd = match &listener {
            Listener::Tcp(l) => l.as_fd(),
            Listener::Unix(l, _) => l.as_fd(),
        };
        let mut fds = [
            PollFd::new(listener_fd, PollFlags::POLLIN),
            PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
            PollFd::new(term_read.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(1000u16)) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready = |fd: &PollFd| fd.revents().is_some_and(|r| !r.is_empty());
        let (accept_ready, stdin_ready, term_ready) =
            (ready(&fds[0]), ready(&fds[1]), ready(&fds[2]));
        if term_ready {
            break;
        }
        if stdin_ready {
            // Kill requests: a 4-byte big-endian pid each; EOF means shut down. Read the fd
            // itself: `Stdin` buffers, which would hide bytes from the next poll.
            let mut chunk = [0u8; 64];
            match nix::unistd::read(stdin.as_fd(), &mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    kill_buffer.extend_from_slice(&chunk[..n]);
                    while kill_buffer.len() >= 4 {
                        let pid: [u8; 4] = kill_buffer[..4].try_into().expect("four bytes");
                        kill_buffer.drain(..4);
                        let pid = Pid::from_raw(i32::from_be_bytes(pid));
                        // Only our own workers: a stale or foreign pid is ignored.
                        if children.contains(&pid) {
                            let _ = kill(pid, Signal::SIGKILL);
                        }
                    }
                }
                Err(Errno::EINTR | Errno::EAGAIN) => {}
                Err(_) => break,
            }
        }
        if accept_ready {
            let stream = match listener.accept() {
                Ok(stream) => stream,
                Err(e) => {
                    eprintln!("sparkwasm daemon: accept failed: {e}");
                    continue;
                }
            };
            // SAFETY: the daemon is single-threaded (no sandbox, no runtime threads live
            // here), so the child starts from a consistent copy of the whole process.
            match unsafe { fork() } {
                Ok(ForkResult::Child) => {
                    drop(listener);
                    let code = run_child(stream, config);
                    std::process::exit(code);
                }
                Ok(ForkResult::Parent { child }) => {
                    children.insert(child);
                }
                Err(e) => {
                    // As daemon.py: report the failure in place of a pid.
                    let mut stream = stream;
                    let _ = handshake::write_pid(&mut stream, -(e as i32).abs());
                }
            }
        }
    }
    shutdown(&listener, &children);
    Ok(())
}

fn listen(config: &WorkerConfig) -> io::Result<Listener> {
    if std::env::var("PYTHON_UNIX_DOMAIN_ENABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")) {
        let dir = std::env::var("PYTHON_WORKER_FACTORY_SOCK_DIR")
            .unwrap_or_else(|_| std::env::temp_dir().display().to_string());
        let path = PathBuf::from(dir).join(format!(".sparkwasm-{}.sock", getpid()));
        let _ = std::fs::remove_file(&path);
        return Ok(Listener::Unix(UnixListener::bind(&path)?, path));
    }
    let listener = if config.prefer_ipv6 {
        TcpListener::bind((Ipv6Addr::LOCALHOST, 0))?
    } else {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
    };
    Ok(Listener::Tcp(listener))
}

/// Tells the JVM where to connect: the very first bytes on stdout.
fn announce(listener: &Listener) -> io::Result<()> {
    let mut stdout = io::stdout().lock();
    match listener {
        Listener::Tcp(l) => {
            let port = i32::from(l.local_addr()?.port());
            stdout.write_all(&port.to_be_bytes())?;
        }
        Listener::Unix(_, path) => {
            sparkwasm_protocol::write_str(&mut stdout, &path.display().to_string())?;
        }
    }
    stdout.flush()
}

fn reap(children: &mut HashSet<Pid>) {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return,
            Ok(status) => {
                if let Some(pid) = status.pid() {
                    children.remove(&pid);
                }
            }
        }
    }
}

fn shutdown(listener: &Listener, children: &HashSet<Pid>) {
    if let Listener::Unix(_, path) = listener {
        let _ = std::fs::remove_file(path);
    }
    // Workers restore SIGHUP's default action, so this ends them; the daemon ignores it.
    let _ = kill(Pid::from_raw(0), Signal::SIGHUP);
    for pid in children {
        let _ = kill(*pid, Signal::SIGTERM);
    }
}

/// The forked worker: announce our pid, authenticate the JVM, serve its tasks.
fn run_child(mut stream: Stream, config: WorkerConfig) -> i32 {
    // SAFETY: restoring default dispositions runs no code of ours in signal context.
    unsafe {
        let _ = signal(Signal::SIGHUP, SigHandler::SigDfl);
        let _ = signal(Signal::SIGTERM, SigHandler::SigDfl);
    }
    // The kill channel belongs to the daemon; a worker never reads it.
    if let Ok(devnull) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(devnull.as_fd());
    }
    let pid = getpid().as_raw();
    if handshake::write_pid(&mut stream, pid)
        .and_then(|_| stream.flush())
        .is_err()
    {
        return 1;
    }
    if stream.needs_auth() {
        let Some(secret) = config.secret.clone() else {
            eprintln!("sparkwasm worker: TCP mode without PYTHON_WORKER_FACTORY_SECRET");
            return 1;
        };
        if let Err(e) =
            handshake::accept_client(&mut stream, &secret, &sparkwasm_protocol::Limits::default())
        {
            eprintln!("sparkwasm worker: authentication failed: {e}");
            return 1;
        }
    }
    serve(stream, config)
}

/// Serves a connection and maps the outcome to an exit code, draining after a failure.
pub(crate) fn serve(stream: Stream, config: WorkerConfig) -> i32 {
    let drain_handle = stream.try_clone();
    let end = Connection::new(stream, config).and_then(Connection::serve);
    match end {
        Ok(ConnectionEnd::Closed | ConnectionEnd::Done) => 0,
        Ok(ConnectionEnd::TaskFailed) => {
            // As daemon.py: after a failure, wait for the JVM to close the socket rather than
            // resetting it under a reply it may still be reading.
            if let Ok(mut s) = drain_handle {
                let _ = io::copy(&mut s, &mut io::sink());
            }
            0
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::UnexpectedEof
            ) =>
        {
            0
        }
        Err(e) => {
            eprintln!("sparkwasm worker {}: connection failed: {e}", getpid());
            1
        }
    }
}
