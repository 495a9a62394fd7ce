//! Header field 6, the broadcast-variable delta (§4.5).
//!
//! The JVM tracks, per worker socket, which broadcasts the worker already holds and sends
//! only additions and removals, so the worker must keep its registry for the lifetime of the
//! connection and apply each [`BroadcastUpdate`] in turn.

use std::io::Read;

use crate::task_context::{check_port, ServerAddress};
use crate::wire::{read_bool, read_count, read_i32, read_i64, read_str};
use crate::{Limits, ProtocolError, SparkVersion};

/// The broadcast decryption server (`EncryptedPythonBroadcastServer`) connection info.
///
/// An alias, because the barrier server uses the same "port + secret or path" shape.
pub type BroadcastServer = ServerAddress;

/// One broadcast added for this task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BroadcastEntry {
    /// The broadcast id (non-negative).
    pub id: i64,
    /// Executor-local file holding the value's bytes; `None` in decryption-server mode, where
    /// the value is streamed from [`BroadcastUpdate::decryption_server`] instead.
    pub path: Option<String>,
}

/// The broadcast delta of one task.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct BroadcastUpdate {
    /// Set when `spark.io.encryption.enabled` and there are additions: the worker connects,
    /// authenticates (TCP), reads `i64 id` + the raw value for each added entry in order, and
    /// writes one ack byte (§4.5).
    pub decryption_server: Option<BroadcastServer>,
    /// Ids to drop from the registry (decoded from the wire's `-id - 1`).
    pub removed: Vec<i64>,
    /// Entries to add, in wire order (which is the order the decryption server streams them).
    pub added: Vec<BroadcastEntry>,
}

/// Reads the broadcast section.
pub(crate) fn read_broadcasts<R: Read + ?Sized>(
    r: &mut R,
    version: SparkVersion,
    limits: &Limits,
) -> Result<BroadcastUpdate, ProtocolError> {
    let needs_server = read_bool(r, "broadcasts: needsDecryptionServer")?;
    let count = read_count(r, limits.max_entries, "broadcast entries")?;
    let decryption_server = if needs_server {
        let port = read_i32(r)?;
        if port == -1 && version.supports_unix_sockets() {
            let path = read_str(r, limits.max_string, "broadcast decryption server path")?;
            Some(ServerAddress::Unix { path })
        } else {
            let port = check_port(port, "broadcast decryption server")?;
            let secret = read_str(r, limits.max_string, "broadcast decryption server secret")?;
            Some(ServerAddress::Tcp { port, secret })
        }
    } else {
        None
    };

    let mut update = BroadcastUpdate {
        decryption_server,
        ..BroadcastUpdate::default()
    };
    // Like Python (`setup_broadcasts`), the sign decides, not the position: the JVM writes
    // removals first, but nothing depends on that.
    for _ in 0..count {
        let bid = read_i64(r)?;
        if bid >= 0 {
            let path = if needs_server {
                None
            } else {
                Some(read_str(r, limits.max_string, "broadcast path")?)
            };
            update.added.push(BroadcastEntry { id: bid, path });
        } else {
            // `!bid` is `-bid - 1` without the overflow at i64::MIN.
            update.removed.push(!bid);
        }
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], v: SparkVersion) -> Result<BroadcastUpdate, ProtocolError> {
        read_broadcasts(&mut &bytes[..], v, &Limits::default())
    }

    #[test]
    fn captured_path_mode() {
        let mut b = vec![0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 5];
        b.extend_from_slice(b"/a/b1");
        let u = read(&b, SparkVersion::V4_3).unwrap();
        assert_eq!(u.decryption_server, None);
        assert!(u.removed.is_empty());
        assert_eq!(
            u.added,
            vec![BroadcastEntry {
                id: 3,
                path: Some("/a/b1".into())
            }]
        );
    }

    #[test]
    fn captured_encrypted_mode_and_removals() {
        let secret = "ab".repeat(32);
        let mut b = vec![1, 0, 0, 0, 3, 0, 0, 0xb4, 0xa5, 0, 0, 0, 0x40];
        b.extend_from_slice(secret.as_bytes());
        b.extend_from_slice(&(-8i64).to_be_bytes()); // remove 7
        b.extend_from_slice(&i64::MIN.to_be_bytes()); // remove i64::MAX, no overflow
        b.extend_from_slice(&0i64.to_be_bytes()); // add 0
        let u = read(&b, SparkVersion::V3_5).unwrap();
        assert_eq!(
            u.decryption_server,
            Some(ServerAddress::Tcp {
                port: 46245,
                secret: secret.clone()
            })
        );
        assert_eq!(u.removed, vec![7, i64::MAX]);
        assert_eq!(u.added, vec![BroadcastEntry { id: 0, path: None }]);
        assert!(!format!("{u:?}").contains(&secret));
    }

    #[test]
    fn unix_server_only_from_4_1() {
        let mut b = vec![1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2];
        b.extend_from_slice(b"/s");
        b.extend_from_slice(&1i64.to_be_bytes());
        let u = read(&b, SparkVersion::V4_1).unwrap();
        assert_eq!(
            u.decryption_server,
            Some(ServerAddress::Unix { path: "/s".into() })
        );
        assert!(matches!(
            read(&b, SparkVersion::V4_0),
            Err(ProtocolError::Malformed { .. })
        ));
    }
}
