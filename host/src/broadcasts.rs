//! The broadcast registry of one JVM connection (§4.5 of the protocol notes).
//!
//! The JVM remembers which broadcasts each worker socket already holds and sends only the
//! difference with every task header, so the registry lives as long as the connection and
//! applies each header's removals and additions in turn:
//!
//! * **path mode**: an added id names an executor-local file with the pickled value. The
//!   registry keeps the path and reads the file only when a guest asks for the value,
//!   straight into the guest's buffer.
//! * **decryption-server mode** (`spark.io.encryption.enabled`): the values come decrypted
//!   from a JVM server: connect, authenticate (TCP), read `i64 id` + the pickle for every
//!   added id, in header order, with no length prefix (the pickle's `STOP` ends it), write
//!   one ack byte, close. The bytes are kept in memory. Spark 3.5 sends nothing more of the
//!   header until this is done, so [`BroadcastRegistry::apply`] runs inside the header read
//!   (`read_task_header_with_broadcast_hook`).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use sparkwasm_protocol::{
    handshake, pickle, read_i64, BroadcastServer, BroadcastUpdate, ProtocolError,
};
use sparkwasm_runtime::BroadcastRead;

use crate::stream::Stream;

/// How long to wait for the JVM's decryption server to accept, as Spark's own
/// `spark.python.authenticate.socketTimeout` default: it is already listening when the
/// header names it, so a longer wait means something is wrong.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a broadcast's value is.
#[derive(Debug)]
enum Value {
    /// An executor-local file holding the pickle (path mode).
    File(PathBuf),
    /// The pickle itself (decryption-server mode).
    Bytes(Vec<u8>),
}

/// Broadcast values by id, for one connection.
#[derive(Debug)]
pub struct BroadcastRegistry {
    values: HashMap<i64, Value>,
    max_value_bytes: usize,
    prefer_ipv6: bool,
}

impl BroadcastRegistry {
    /// An empty registry. Values streamed from a decryption server may have at most
    /// `max_value_bytes` bytes (a guest could not hold a larger one anyway); the server is
    /// reached on `::1` instead of `127.0.0.1` when `prefer_ipv6`.
    pub fn new(max_value_bytes: usize, prefer_ipv6: bool) -> Self {
        BroadcastRegistry {
            values: HashMap::new(),
            max_value_bytes,
            prefer_ipv6,
        }
    }

    /// Applies one header's delta: drops the removed ids, records the added ones and, in
    /// decryption-server mode, fetches their values from the server before returning.
    pub fn apply(&mut self, update: &BroadcastUpdate) -> Result<(), ProtocolError> {
        for id in &update.removed {
            // Python's registry would raise on an unknown id; nothing is lost by ignoring it.
            self.values.remove(id);
        }
        let Some(server) = &update.decryption_server else {
            for entry in &update.added {
                let Some(path) = &entry.path else {
                    return Err(ProtocolError::Malformed {
                        what: format!("broadcast {}: no path and no decryption server", entry.id),
                    });
                };
                self.values
                    .insert(entry.id, Value::File(PathBuf::from(path)));
            }
            return Ok(());
        };
        if update.added.is_empty() {
            return Ok(());
        }
        let ids: Vec<i64> = update.added.iter().map(|e| e.id).collect();
        let fetched = self.fetch_decrypted(server, &ids)?;
        for (id, bytes) in fetched {
            self.values.insert(id, Value::Bytes(bytes));
        }
        Ok(())
    }

    /// Whether the registry holds `id`.
    pub fn contains(&self, id: i64) -> bool {
        self.values.contains_key(&id)
    }

    /// Copies broadcast `id` into `buf` if it fits. A file is opened and measured first, so
    /// nothing is read (or allocated) for a value that does not fit.
    pub fn read(&self, id: i64, buf: &mut [u8]) -> io::Result<BroadcastRead> {
        match self.values.get(&id) {
            None => Ok(BroadcastRead::Unknown),
            Some(Value::Bytes(bytes)) => {
                if bytes.len() > buf.len() {
                    return Ok(BroadcastRead::NeedCapacity(bytes.len() as u64));
                }
                buf[..bytes.len()].copy_from_slice(bytes);
                Ok(BroadcastRead::Copied(bytes.len()))
            }
            Some(Value::File(path)) => {
                let with_path =
                    |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
                let mut file = File::open(path).map_err(with_path)?;
                let len = file.metadata().map_err(with_path)?.len();
                let Some(dest) = usize::try_from(len).ok().and_then(|n| buf.get_mut(..n)) else {
                    return Ok(BroadcastRead::NeedCapacity(len));
                };
                file.read_exact(dest).map_err(with_path)?;
                // The file must not have grown under us: the guest would get a cut value.
                if file.read(&mut [0u8; 1]).map_err(with_path)? != 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{} changed while it was read", path.display()),
                    ));
                }
                Ok(BroadcastRead::Copied(dest.len()))
            }
        }
    }

    /// Connects to the decryption server and reads the values of `ids`, in order.
    fn fetch_decrypted(
        &self,
        server: &BroadcastServer,
        ids: &[i64],
    ) -> Result<Vec<(i64, Vec<u8>)>, ProtocolError> {
        let failed = |what: String| {
            move |e: io::Error| ProtocolError::Io(io::Error::new(e.kind(), format!("{what}: {e}")))
        };
        let mut stream = match server {
            BroadcastServer::Tcp { port, secret } => {
                let port = u16::try_from(*port).map_err(|_| ProtocolError::Malformed {
                    what: format!("broadcast decryption server port {port}"),
                })?;
                let address = if self.prefer_ipv6 {
                    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
                } else {
                    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
                };
                let tcp = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT).map_err(failed(
                    format!("connecting to the broadcast decryption server at {address}"),
                ))?;
                let mut stream = Stream::Tcp(tcp);
                handshake::authenticate_to_server(&mut stream, secret)?;
                stream
            }
            BroadcastServer::Unix { path } => {
                Stream::Unix(UnixStream::connect(path).map_err(failed(format!(
                    "connecting to the broadcast decryption server at {path}"
                )))?)
            }
        };
        let mut values = Vec::with_capacity(ids.len());
        {
            // Buffered for the pickle walk's small reads; nothing is read past the last
            // value's STOP, because the server sends nothing more until it gets the ack.
            let mut reader = BufReader::new(&mut stream);
            for &id in ids {
                let sent = read_i64(&mut reader)?;
                if sent != id {
                    return Err(ProtocolError::Malformed {
                        what: format!(
                            "the broadcast decryption server sent broadcast {sent}, expected {id}"
                        ),
                    });
                }
                let value = pickle::read_pickle(&mut reader, self.max_value_bytes).map_err(
                    |e| match e {
                        ProtocolError::Malformed { what } => ProtocolError::Malformed {
                            what: format!("broadcast {id} from the decryption server: {what}"),
                        },
                        other => other,
                    },
                )?;
                values.push((id, value));
            }
        }
        // The server waits for one byte before it lets the JVM go on (Python sends "1").
        stream.write_all(b"1")?;
        stream.flush()?;
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sparkwasm_protocol::{
        jvm, read_str, read_task_header_with_broadcast_hook, write_i64, write_str, BroadcastEntry,
        Limits, ServerAddress, SparkVersion, TaskContext, TaskHeader,
    };
    use std::collections::BTreeMap;
    use std::net::TcpListener;
    use std::os::unix::net::UnixListener;
    use std::sync::mpsc;

    const SECRET: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// Pickles as Python writes them: `pickle.dumps(100, 5)` and `pickle.dumps([1, "a"], 2)`.
    const PICKLE_100: &[u8] = b"\x80\x05K\x64.";
    const PICKLE_LIST: &[u8] = b"\x80\x02]q\x00(K\x01X\x01\x00\x00\x00aq\x01e.";

    fn added(id: i64, path: Option<&str>) -> BroadcastEntry {
        BroadcastEntry {
            id,
            path: path.map(Into::into),
        }
    }

    fn read_all(registry: &BroadcastRegistry, id: i64) -> Option<Vec<u8>> {
        let mut small = [0u8; 2];
        let need = match registry.read(id, &mut small).unwrap() {
            BroadcastRead::Unknown => return None,
            BroadcastRead::Copied(n) => return Some(small[..n].to_vec()),
            BroadcastRead::NeedCapacity(n) => usize::try_from(n).unwrap(),
        };
        let mut buf = vec![0u8; need + 3];
        match registry.read(id, &mut buf).unwrap() {
            BroadcastRead::Copied(n) => Some(buf[..n].to_vec()),
            other => panic!("{other:?}"),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sparkwasm-bc-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn path_mode_reads_lazily_and_applies_removals() {
        let dir = temp_dir("path");
        let file = dir.join("broadcast_3");
        let mut registry = BroadcastRegistry::new(1 << 20, false);
        registry
            .apply(&BroadcastUpdate {
                decryption_server: None,
                removed: vec![],
                added: vec![added(3, Some(file.to_str().unwrap()))],
            })
            .unwrap();
        // Lazily: the file may appear after the header named it.
        std::fs::write(&file, PICKLE_LIST).unwrap();
        assert!(registry.contains(3));
        assert_eq!(read_all(&registry, 3).unwrap(), PICKLE_LIST);
        assert_eq!(read_all(&registry, 4), None);
        // A missing file is an I/O error naming it, not a panic.
        registry
            .apply(&BroadcastUpdate {
                decryption_server: None,
                removed: vec![3, 99],
                added: vec![added(5, Some("/nonexistent/sparkwasm/b5"))],
            })
            .unwrap();
        assert_eq!(read_all(&registry, 3), None);
        let err = registry.read(5, &mut [0u8; 8]).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/sparkwasm/b5"),
            "{err}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    /// Plays `EncryptedPythonBroadcastServer`: auth (TCP), then id + pickle per value, then
    /// waits for the ack byte and reports it.
    fn serve(mut s: Stream, values: Vec<(i64, Vec<u8>)>, ack: mpsc::Sender<u8>) {
        if s.needs_auth() {
            let secret = read_str(&mut s, 1024, "secret").unwrap();
            write_str(&mut s, if secret == SECRET { "ok" } else { "err" }).unwrap();
            s.flush().unwrap();
            if secret != SECRET {
                return;
            }
        }
        for (id, pickle) in values {
            write_i64(&mut s, id).unwrap();
            s.write_all(&pickle).unwrap();
        }
        s.flush().unwrap();
        let mut byte = [0u8; 1];
        s.read_exact(&mut byte).unwrap();
        ack.send(byte[0]).unwrap();
    }

    fn tcp_server(values: Vec<(i64, Vec<u8>)>) -> (i32, mpsc::Receiver<u8>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = i32::from(listener.local_addr().unwrap().port());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            serve(Stream::Tcp(s), values, tx);
        });
        (port, rx)
    }

    #[test]
    fn decryption_server_mode_reads_each_value_by_its_stop_and_acks() {
        let (port, ack) = tcp_server(vec![(7, PICKLE_100.to_vec()), (8, PICKLE_LIST.to_vec())]);
        let mut registry = BroadcastRegistry::new(1 << 20, false);
        registry
            .apply(&BroadcastUpdate {
                decryption_server: Some(ServerAddress::Tcp {
                    port,
                    secret: SECRET.into(),
                }),
                removed: vec![],
                added: vec![added(7, None), added(8, None)],
            })
            .unwrap();
        assert_eq!(ack.recv().unwrap(), b'1');
        assert_eq!(read_all(&registry, 7).unwrap(), PICKLE_100);
        assert_eq!(read_all(&registry, 8).unwrap(), PICKLE_LIST);
    }

    #[test]
    fn decryption_server_over_a_unix_socket_needs_no_auth() {
        let dir = temp_dir("uds");
        let path = dir.join("bc.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let (tx, ack) = mpsc::channel();
        std::thread::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            serve(Stream::Unix(s), vec![(1, PICKLE_100.to_vec())], tx);
        });
        let mut registry = BroadcastRegistry::new(1 << 20, false);
        registry
            .apply(&BroadcastUpdate {
                decryption_server: Some(ServerAddress::Unix {
                    path: path.display().to_string(),
                }),
                removed: vec![],
                added: vec![added(1, None)],
            })
            .unwrap();
        assert_eq!(ack.recv().unwrap(), b'1');
        assert_eq!(read_all(&registry, 1).unwrap(), PICKLE_100);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn decryption_server_errors_are_typed() {
        let update = |port, secret: &str, ids: &[i64]| BroadcastUpdate {
            decryption_server: Some(ServerAddress::Tcp {
                port,
                secret: secret.into(),
            }),
            removed: vec![],
            added: ids.iter().map(|id| added(*id, None)).collect(),
        };
        let mut registry = BroadcastRegistry::new(1 << 20, false);
        // Wrong secret.
        let (port, _ack) = tcp_server(vec![]);
        assert!(matches!(
            registry.apply(&update(port, "wrong", &[1])),
            Err(ProtocolError::AuthFailed)
        ));
        // The server sends another id than the header announced.
        let (port, _ack) = tcp_server(vec![(2, PICKLE_100.to_vec())]);
        let err = registry.apply(&update(port, SECRET, &[1])).unwrap_err();
        assert!(
            err.to_string().contains("sent broadcast 2, expected 1"),
            "{err}"
        );
        // A value that is not a pickle.
        let (port, _ack) = tcp_server(vec![(1, b"\xffgarbage".to_vec())]);
        let err = registry.apply(&update(port, SECRET, &[1])).unwrap_err();
        assert!(
            err.to_string()
                .contains("broadcast 1 from the decryption server"),
            "{err}"
        );
        // A value above the limit.
        let mut small = BroadcastRegistry::new(3, false);
        let (port, _ack) = tcp_server(vec![(1, PICKLE_LIST.to_vec())]);
        assert!(matches!(
            small.apply(&update(port, SECRET, &[1])),
            Err(ProtocolError::TooLarge { .. })
        ));
        // Nobody listening.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = i32::from(closed.local_addr().unwrap().port());
        drop(closed);
        let err = registry.apply(&update(port, SECRET, &[1])).unwrap_err();
        assert!(
            err.to_string().contains("broadcast decryption server"),
            "{err}"
        );
        assert!(!registry.contains(1));
    }

    /// A reader that hands out `first` bytes, then blocks until told to go on: Spark 3.5's
    /// writer thread, which sends the rest of the header only once the decryption server
    /// was drained.
    struct GatedReader {
        bytes: Vec<u8>,
        pos: usize,
        first: usize,
        gate: Option<mpsc::Receiver<u8>>,
    }

    impl Read for GatedReader {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.pos == self.first {
                if let Some(gate) = self.gate.take() {
                    gate.recv_timeout(Duration::from_secs(10)).map_err(|_| {
                        io::Error::new(io::ErrorKind::TimedOut, "the server was never drained")
                    })?;
                }
            }
            let end = if self.pos < self.first {
                self.first
            } else {
                self.bytes.len()
            };
            let n = buf.len().min(end - self.pos);
            buf[..n].copy_from_slice(&self.bytes[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    #[test]
    fn spark_3_5_header_read_drains_the_server_before_the_command_arrives() {
        let (port, ack) = tcp_server(vec![(4, PICKLE_100.to_vec())]);
        let command = b"SPWASM-command".to_vec();
        let header = TaskHeader {
            partition_index: 0,
            python_version: "3.11".into(),
            task_context: TaskContext {
                is_barrier: false,
                barrier_server: None,
                stage_id: 1,
                partition_id: 0,
                attempt_number: 0,
                task_attempt_id: 9,
                cpus: 1,
                resources: BTreeMap::new(),
                local_properties: BTreeMap::new(),
            },
            spark_files_dir: "/tmp".into(),
            python_includes: vec![],
            broadcasts: BroadcastUpdate {
                decryption_server: Some(ServerAddress::Tcp {
                    port,
                    secret: SECRET.into(),
                }),
                removed: vec![],
                added: vec![added(4, None)],
            },
            eval_type: 0,
            runner_conf: vec![],
            eval_conf: vec![],
            command: sparkwasm_protocol::Command::Rdd(command.clone()),
        };
        let mut bytes = Vec::new();
        jvm::write_task_header(&mut bytes, SparkVersion::V3_5, &header).unwrap();
        // 3.5: eval type and the command follow the broadcast section.
        let first = bytes.len() - 4 - 4 - command.len();
        let mut reader = GatedReader {
            bytes,
            pos: 0,
            first,
            gate: Some(ack),
        };
        let mut registry = BroadcastRegistry::new(1 << 20, false);
        let read = read_task_header_with_broadcast_hook(
            &mut reader,
            SparkVersion::V3_5,
            &Limits::default(),
            |update| registry.apply(update),
        )
        .unwrap()
        .unwrap();
        assert_eq!(read.command, sparkwasm_protocol::Command::Rdd(command));
        assert_eq!(read_all(&registry, 4).unwrap(), PICKLE_100);
    }
}
