//! Header field 3, the task context, in its three encodings (§4.2): binary A (3.5/4.0),
//! binary B (4.1) and JSON (4.2/4.3), plus [`ServerAddress`], the "port + secret or socket
//! path" pair the JVM uses for the barrier and broadcast-decryption servers.
//!
//! The non-barrier secret (TCP mode sends the runner's real secret even for ordinary tasks,
//! §11.15) is read and dropped: it is only kept inside [`ServerAddress::Tcp`] when the task
//! really needs to talk to a barrier server, and `Debug` redacts it there.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;

use serde_json::{Map, Value};

use crate::wire::{read_bool, read_count, read_i32, read_i64, read_str};
use crate::{Limits, ProtocolError, SparkVersion, TaskContextEncoding};

/// Where a JVM-side helper server listens, and how to authenticate to it (§3.6).
///
/// `Debug` prints the secret as `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub enum ServerAddress {
    /// Loopback TCP port; connect, then authenticate as client with `secret`.
    Tcp {
        /// The loopback port (1..=65535).
        port: i32,
        /// The auth secret. Never log it.
        secret: String,
    },
    /// Unix domain socket path (4.1+); there is no authentication.
    Unix {
        /// Absolute path of the socket.
        path: String,
    },
}

impl fmt::Debug for ServerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerAddress::Tcp { port, .. } => f
                .debug_struct("Tcp")
                .field("port", port)
                .field("secret", &"<redacted>")
                .finish(),
            ServerAddress::Unix { path } => f.debug_struct("Unix").field("path", path).finish(),
        }
    }
}

/// Validates a TCP port read from the wire: a listening server never has port 0 or one
/// outside the 16-bit range, so such a value means the stream is out of sync.
pub(crate) fn check_port(port: i32, what: &str) -> Result<i32, ProtocolError> {
    if (1..=65535).contains(&port) {
        Ok(port)
    } else {
        Err(ProtocolError::malformed(format!(
            "{what}: port {port} is not in 1..=65535"
        )))
    }
}

/// The task's `TaskContext` as the worker sees it (`pyspark.TaskContext`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskContext {
    /// Whether this is a barrier-stage task.
    pub is_barrier: bool,
    /// The barrier server, present iff `is_barrier` (§4.2 "Barrier sub-protocol").
    pub barrier_server: Option<ServerAddress>,
    /// Stage id.
    pub stage_id: i32,
    /// Partition id.
    pub partition_id: i32,
    /// Attempt number of this task.
    pub attempt_number: i32,
    /// Task attempt id (unique within the application).
    pub task_attempt_id: i64,
    /// CPUs assigned to the task (4.3: `ceil(cpuAmount)`).
    pub cpus: i32,
    /// Resources by key, each with its addresses. The resource's `name` on the wire is
    /// dropped; Spark sets it equal to the key.
    pub resources: BTreeMap<String, Vec<String>>,
    /// Local properties (`sc.setLocalProperty`, `spark.rdd.scope`, `callSite.short`, …).
    pub local_properties: BTreeMap<String, String>,
}

/// Reads the task context in the encoding of `version`.
pub(crate) fn read_task_context<R: Read + ?Sized>(
    r: &mut R,
    version: SparkVersion,
    limits: &Limits,
) -> Result<TaskContext, ProtocolError> {
    match version.task_context_encoding() {
        TaskContextEncoding::BinaryA => {
            let is_barrier = read_bool(r, "task context: isBarrier")?;
            let port = read_i32(r)?;
            // Read even when not a barrier task (it is "" then); dropped unless needed.
            let secret = read_str(r, limits.max_string, "task context: secret")?;
            let barrier_server = if is_barrier {
                let port = check_port(port, "task context: barrier boundPort")?;
                Some(ServerAddress::Tcp { port, secret })
            } else {
                None
            };
            read_binary_tail(r, limits, is_barrier, barrier_server)
        }
        TaskContextEncoding::BinaryB => {
            let is_barrier = read_bool(r, "task context: isBarrier")?;
            let barrier_server = if is_barrier {
                let port = read_i32(r)?;
                if port == -1 {
                    let path = read_str(r, limits.max_string, "task context: barrier socket path")?;
                    Some(ServerAddress::Unix { path })
                } else {
                    let port = check_port(port, "task context: barrier port")?;
                    let secret = read_str(r, limits.max_string, "task context: secret")?;
                    Some(ServerAddress::Tcp { port, secret })
                }
            } else {
                None
            };
            read_binary_tail(r, limits, is_barrier, barrier_server)
        }
        TaskContextEncoding::Json => {
            let json = read_str(r, limits.max_string, "task context JSON")?;
            parse_json_task_context(&json, limits)
        }
    }
}

/// The part shared by binary A and B after the barrier fields.
fn read_binary_tail<R: Read + ?Sized>(
    r: &mut R,
    limits: &Limits,
    is_barrier: bool,
    barrier_server: Option<ServerAddress>,
) -> Result<TaskContext, ProtocolError> {
    let stage_id = read_i32(r)?;
    let partition_id = read_i32(r)?;
    let attempt_number = read_i32(r)?;
    let task_attempt_id = read_i64(r)?;
    let cpus = read_i32(r)?;

    let n_resources = read_count(r, limits.max_entries, "task context: resources")?;
    let mut resources = BTreeMap::new();
    for _ in 0..n_resources {
        let key = read_str(r, limits.max_string, "task context: resource key")?;
        let _name = read_str(r, limits.max_string, "task context: resource name")?;
        let n_addr = read_count(r, limits.max_entries, "task context: resource addresses")?;
        // Grows with the data actually read, so a lying count costs nothing up front.
        let mut addresses = Vec::new();
        for _ in 0..n_addr {
            addresses.push(read_str(
                r,
                limits.max_string,
                "task context: resource address",
            )?);
        }
        resources.insert(key, addresses);
    }

    let n_props = read_count(r, limits.max_entries, "task context: local properties")?;
    let mut local_properties = BTreeMap::new();
    for _ in 0..n_props {
        let k = read_str(r, limits.max_string, "task context: local property key")?;
        let v = read_str(r, limits.max_string, "task context: local property value")?;
        local_properties.insert(k, v);
    }

    Ok(TaskContext {
        is_barrier,
        barrier_server,
        stage_id,
        partition_id,
        attempt_number,
        task_attempt_id,
        cpus,
        resources,
        local_properties,
    })
}

fn json_err(what: impl fmt::Display) -> ProtocolError {
    ProtocolError::malformed(format!("task context JSON: {what}"))
}

fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value, ProtocolError> {
    obj.get(key)
        .ok_or_else(|| json_err(format_args!("missing field {key}")))
}

fn field_i64(obj: &Map<String, Value>, key: &str) -> Result<i64, ProtocolError> {
    field(obj, key)?
        .as_i64()
        .ok_or_else(|| json_err(format_args!("field {key} is not a 64-bit integer")))
}

fn field_i32(obj: &Map<String, Value>, key: &str) -> Result<i32, ProtocolError> {
    let v = field(obj, key)?
        .as_i64()
        .and_then(|v| i32::try_from(v).ok());
    v.ok_or_else(|| json_err(format_args!("field {key} is not a 32-bit integer")))
}

/// Parses the JSON task context of 4.2/4.3. Key order is arbitrary and unknown keys (for
/// example 4.3's `cpuAmount`) are ignored, because json4s's order is unspecified and Spark
/// adds keys between releases.
pub(crate) fn parse_json_task_context(
    json: &str,
    limits: &Limits,
) -> Result<TaskContext, ProtocolError> {
    // serde_json's recursion limit keeps deeply nested input from overflowing the stack.
    let value: Value =
        serde_json::from_str(json).map_err(|e| json_err(format_args!("invalid JSON ({e})")))?;
    let Value::Object(obj) = value else {
        return Err(json_err("not a JSON object"));
    };

    let is_barrier = field(&obj, "isBarrier")?
        .as_bool()
        .ok_or_else(|| json_err("field isBarrier is not a boolean"))?;

    // connInfo/secret describe the transport, not the barrier: they are present for every
    // task (§4.2) but only meaningful for barrier tasks. Otherwise they are ignored, and the
    // secret dies with `obj` at the end of this function.
    let barrier_server = if is_barrier {
        match field(&obj, "connInfo")? {
            Value::Number(n) => {
                let port = n
                    .as_i64()
                    .and_then(|p| i32::try_from(p).ok())
                    .ok_or_else(|| json_err("field connInfo is not a 32-bit integer"))?;
                let port = check_port(port, "task context JSON: connInfo")?;
                let secret = match obj.get("secret") {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => {
                        return Err(json_err(
                            "barrier task over TCP (connInfo is a port) has no secret",
                        ))
                    }
                    Some(_) => return Err(json_err("field secret is not a string")),
                };
                Some(ServerAddress::Tcp { port, secret })
            }
            Value::String(path) => Some(ServerAddress::Unix { path: path.clone() }),
            _ => {
                return Err(json_err(
                    "field connInfo is neither an integer nor a string",
                ))
            }
        }
    } else {
        None
    };

    let stage_id = field_i32(&obj, "stageId")?;
    let partition_id = field_i32(&obj, "partitionId")?;
    let attempt_number = field_i32(&obj, "attemptNumber")?;
    let task_attempt_id = field_i64(&obj, "taskAttemptId")?;
    let cpus = field_i32(&obj, "cpus")?;

    let Value::Object(res) = field(&obj, "resources")? else {
        return Err(json_err("field resources is not an object"));
    };
    check_entries(res.len(), limits, "task context: resources")?;
    let mut resources = BTreeMap::new();
    for (key, info) in res {
        let Some(Value::Array(addrs)) = info.get("addresses") else {
            return Err(json_err(format_args!(
                "resource {key:?}: missing or non-array field addresses"
            )));
        };
        check_entries(addrs.len(), limits, "task context: resource addresses")?;
        let addresses = addrs
            .iter()
            .map(|a| {
                a.as_str().map(str::to_owned).ok_or_else(|| {
                    json_err(format_args!("resource {key:?}: address is not a string"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        resources.insert(key.clone(), addresses);
    }

    let Value::Object(props) = field(&obj, "localProperties")? else {
        return Err(json_err("field localProperties is not an object"));
    };
    check_entries(props.len(), limits, "task context: local properties")?;
    let mut local_properties = BTreeMap::new();
    for (k, v) in props {
        let Value::String(v) = v else {
            return Err(json_err(format_args!(
                "local property {k:?} is not a string"
            )));
        };
        local_properties.insert(k.clone(), v.clone());
    }

    Ok(TaskContext {
        is_barrier,
        barrier_server,
        stage_id,
        partition_id,
        attempt_number,
        task_attempt_id,
        cpus,
        resources,
        local_properties,
    })
}

fn check_entries(n: usize, limits: &Limits, what: &'static str) -> Result<(), ProtocolError> {
    if n > limits.max_entries {
        return Err(ProtocolError::TooLarge {
            what,
            len: n as u64,
            max: limits.max_entries as u64,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<TaskContext, ProtocolError> {
        parse_json_task_context(json, &Limits::default())
    }

    const CAPTURED_4_3: &str = r#"{"secret":"3d20aa2baa","stageId":0,"isBarrier":false,"partitionId":0,"connInfo":-1,"attemptNumber":0,"localProperties":{"resource.maxTasksPerExecutor":"1","spark.rdd.scope":"{\"id\":\"1\",\"name\":\"collect\"}","callSite.short":"collect at x.py:1","spark.rdd.scope.noOverride":"true"},"cpuAmount":"1","taskAttemptId":0,"resources":{},"cpus":1}"#;

    #[test]
    fn captured_json_parses_and_drops_secret() {
        let tc = parse(CAPTURED_4_3).unwrap();
        assert!(!tc.is_barrier);
        assert_eq!(tc.barrier_server, None);
        assert_eq!(tc.cpus, 1);
        assert_eq!(tc.local_properties.len(), 4);
        assert_eq!(
            tc.local_properties["spark.rdd.scope"],
            r#"{"id":"1","name":"collect"}"#
        );
        assert!(!format!("{tc:?}").contains("3d20"));
    }

    #[test]
    fn json_variants() {
        // UDS mode: connInfo is a path, secret null; barrier.
        let tc = parse(
            r#"{"isBarrier":true,"connInfo":"/tmp/.x.sock","secret":null,"stageId":1,
                "partitionId":2,"attemptNumber":3,"taskAttemptId":9000000000,"cpus":2,
                "resources":{"gpu":{"name":"gpu","addresses":["0","1"]}},"localProperties":{}}"#,
        )
        .unwrap();
        assert_eq!(
            tc.barrier_server,
            Some(ServerAddress::Unix {
                path: "/tmp/.x.sock".into()
            })
        );
        assert_eq!(tc.task_attempt_id, 9_000_000_000);
        assert_eq!(tc.resources["gpu"], vec!["0".to_string(), "1".to_string()]);

        // TCP barrier: secret kept but redacted in Debug.
        let tc = parse(
            r#"{"isBarrier":true,"connInfo":4242,"secret":"s3cr3t","stageId":1,
                "partitionId":2,"attemptNumber":3,"taskAttemptId":4,"cpus":2,
                "resources":{},"localProperties":{},"somethingNew":[1,2]}"#,
        )
        .unwrap();
        assert_eq!(
            tc.barrier_server,
            Some(ServerAddress::Tcp {
                port: 4242,
                secret: "s3cr3t".into()
            })
        );
        assert!(!format!("{tc:?}").contains("s3cr3t"));
    }

    #[test]
    fn json_errors_name_the_field() {
        let e = parse(r#"{"isBarrier":false}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "malformed input: task context JSON: missing field stageId"
        );
        let e = parse(
            CAPTURED_4_3
                .replace(r#""cpus":1"#, r#""cpus":"1""#)
                .as_str(),
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("field cpus is not a 32-bit integer"),
            "{e}"
        );
        let e = parse("[1]").unwrap_err();
        assert!(e.to_string().contains("not a JSON object"), "{e}");
        let e = parse("{").unwrap_err();
        assert!(e.to_string().contains("invalid JSON"), "{e}");
        let e = parse(&CAPTURED_4_3.replace(r#""isBarrier":false"#, r#""isBarrier":true"#))
            .unwrap_err();
        assert!(e.to_string().contains("connInfo: port -1"), "{e}");
    }
}
