//! Header field 10, the command, in its two forms: the opaque bytes of RDD work (§4.4) and
//! the UDF section of the Arrow scalar and grouped-aggregate eval types (§8; design note
//! `docs/design/arrow-udfs.md` §1.2).
//!
//! The UDF section, per version (only the 4.3 layout is *measured*; the others follow the
//! spec's §8 and the released Python readers it cites):
//!
//! ```text
//! 3.5 – 4.1:  i32 n + n × (str k, str v)      runner conf (4.2+: header field 8 instead)
//! 4.0 – 4.1:  bool isProfiling [str profiler]
//! all:        i32 numUDFs
//!             per UDF:  i32 numArgs
//!                       per arg:  i32 offset                      (3.5)
//!                                 i32 offset, bool isKeyword [str name]  (4.0+)
//!                       i32 numChained, numChained × (i32 len + bytes)  innermost first
//!                       i64 resultId         (4.2+ always; 4.0 – 4.1 only when profiling)
//! ```

use std::fmt;
use std::io::Read;

use crate::wire::{check_len, read_bool, read_count, read_exact_vec, read_i32, read_i64, read_str};
use crate::{Limits, ProtocolError, SparkVersion};

/// Header field 10.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    /// [`NON_UDF`](crate::eval_type::NON_UDF): the function's command bytes, verbatim.
    Rdd(Vec<u8>),
    /// An Arrow UDF eval type ([`eval_type::udf_kind`](crate::eval_type::udf_kind)): the
    /// UDFs of one Spark eval node. Output column `i` is the result of `udfs[i]`.
    Udfs {
        /// At least one UDF, in output-column order.
        udfs: Vec<UdfInfo>,
        /// 4.0 and 4.1 only: the UDF profiler's name (`"perf"`, `"memory"`) when Spark
        /// profiles UDFs, in which case every UDF has a [`UdfInfo::result_id`]. Always
        /// `None` for 3.5 and 4.2+ (which have no such field).
        profiler: Option<String>,
    },
}

/// One UDF of a [`Command::Udfs`]: a chain of functions over some input columns.
#[derive(Clone, PartialEq, Eq)]
pub struct UdfInfo {
    /// The arguments, in wire order: column offsets into the input Arrow batch, each with
    /// its keyword name if it was passed by name. Several UDFs may share a column.
    pub args: Vec<ArgOffset>,
    /// The chained functions' command bytes, innermost first: `f(g(x))` arrives as one UDF
    /// with `[g, f]`, the arguments feeding `g`. Never empty.
    pub chained: Vec<Vec<u8>>,
    /// The profiler's result id: always present from 4.2, present in 4.0/4.1 only when
    /// profiling, never in 3.5.
    pub result_id: Option<i64>,
}

/// One argument of a [`UdfInfo`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgOffset {
    /// Index of the argument's column in the input batch (`_0`, `_1`, …).
    pub offset: u32,
    /// The keyword if the argument was passed by name (4.0+); `None` for positional ones.
    pub keyword: Option<String>,
}

impl ArgOffset {
    /// A positional argument.
    pub fn positional(offset: u32) -> Self {
        ArgOffset {
            offset,
            keyword: None,
        }
    }

    /// [`ArgOffset::offset`] as an index.
    pub fn index(&self) -> usize {
        // u32 → usize is lossless on every target this crate builds for (32 and 64 bit).
        self.offset as usize
    }
}

impl Command {
    /// The RDD command bytes, or `None` for UDFs.
    pub fn as_rdd(&self) -> Option<&[u8]> {
        match self {
            Command::Rdd(bytes) => Some(bytes),
            Command::Udfs { .. } => None,
        }
    }

    /// The UDFs, or `None` for an RDD command.
    pub fn udfs(&self) -> Option<&[UdfInfo]> {
        match self {
            Command::Rdd(_) => None,
            Command::Udfs { udfs, .. } => Some(udfs),
        }
    }
}

impl From<Vec<u8>> for Command {
    /// An RDD command.
    fn from(bytes: Vec<u8>) -> Self {
        Command::Rdd(bytes)
    }
}

/// Shows lengths instead of command bytes (a module of megabytes, or a cloudpickle).
struct Len(usize);

impl fmt::Debug for Len {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes>", self.0)
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Rdd(bytes) => f.debug_tuple("Rdd").field(&Len(bytes.len())).finish(),
            Command::Udfs { udfs, profiler } => f
                .debug_struct("Udfs")
                .field("udfs", udfs)
                .field("profiler", profiler)
                .finish(),
        }
    }
}

impl fmt::Debug for UdfInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chained: Vec<Len> = self.chained.iter().map(|c| Len(c.len())).collect();
        f.debug_struct("UdfInfo")
            .field("args", &self.args)
            .field("chained", &chained)
            .field("result_id", &self.result_id)
            .finish()
    }
}

/// Reads the UDF section from `numUDFs` on (the runner conf that precedes it before 4.2 is
/// read by the caller, which stores it with the header's).
///
/// Counts are bounded by [`Limits::max_entries`], names by [`Limits::max_string`], and the
/// chained commands together by [`Limits::max_command`] (the budget of one RDD command).
/// No UDF, a UDF without a function and a negative offset are
/// [`ProtocolError::Malformed`]: the JVM never sends them.
pub(crate) fn read_udfs<R: Read + ?Sized>(
    r: &mut R,
    version: SparkVersion,
    limits: &Limits,
) -> Result<Command, ProtocolError> {
    let profiler = if version.udf_section_has_profiler() && read_bool(r, "UDF profiling flag")? {
        Some(read_str(r, limits.max_string, "UDF profiler")?)
    } else {
        None
    };

    let n_udfs = read_count(r, limits.max_entries, "UDFs")?;
    if n_udfs == 0 {
        return Err(ProtocolError::malformed(
            "UDFs: the command section lists no UDF",
        ));
    }
    let mut command_bytes = 0usize;
    let mut udfs = Vec::new();
    for u in 0..n_udfs {
        let n_args = read_count(r, limits.max_entries, "UDF arguments")?;
        let mut args = Vec::new();
        for a in 0..n_args {
            let offset = read_i32(r)?;
            let offset = u32::try_from(offset).map_err(|_| {
                ProtocolError::malformed(format!(
                    "UDF {u} argument {a}: negative column offset {offset}"
                ))
            })?;
            let keyword = if version.udf_args_have_keyword_flags()
                && read_bool(r, "UDF keyword-argument flag")?
            {
                Some(read_str(r, limits.max_string, "UDF keyword-argument name")?)
            } else {
                None
            };
            args.push(ArgOffset { offset, keyword });
        }

        let n_chained = read_count(r, limits.max_entries, "chained UDF functions")?;
        if n_chained == 0 {
            return Err(ProtocolError::malformed(format!(
                "UDF {u}: no function (0 chained commands)"
            )));
        }
        let mut chained = Vec::new();
        for _ in 0..n_chained {
            let len = check_len(read_i32(r)?, limits.max_command, "chained UDF command")?;
            // One budget for all of them, checked before allocating: numUDFs × numChained
            // commands of max_command each would otherwise be allowed.
            command_bytes = command_bytes.saturating_add(len);
            if command_bytes > limits.max_command {
                return Err(ProtocolError::TooLarge {
                    what: "UDF commands (all chained functions together)",
                    len: command_bytes as u64,
                    max: limits.max_command as u64,
                });
            }
            chained.push(read_exact_vec(r, len)?);
        }

        let result_id = if version.udf_result_id_always() || profiler.is_some() {
            Some(read_i64(r)?)
        } else {
            None
        };
        udfs.push(UdfInfo {
            args,
            chained,
            result_id,
        });
    }
    Ok(Command::Udfs { udfs, profiler })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_command_bytes() {
        let c = Command::Udfs {
            udfs: vec![UdfInfo {
                args: vec![ArgOffset::positional(3)],
                chained: vec![b"secret-ish".to_vec(), Vec::new()],
                result_id: Some(9),
            }],
            profiler: None,
        };
        let d = format!("{c:?}");
        assert!(!d.contains("secret"), "{d}");
        assert!(d.contains("<10 bytes>") && d.contains("<0 bytes>"), "{d}");
        assert!(d.contains("offset: 3") && d.contains("Some(9)"), "{d}");
        assert_eq!(format!("{:?}", Command::Rdd(vec![1; 5])), "Rdd(<5 bytes>)");
    }

    #[test]
    fn accessors() {
        let rdd = Command::from(b"x".to_vec());
        assert_eq!(rdd.as_rdd(), Some(&b"x"[..]));
        assert!(rdd.udfs().is_none());
        let udfs = Command::Udfs {
            udfs: Vec::new(),
            profiler: None,
        };
        assert!(udfs.as_rdd().is_none());
        assert_eq!(udfs.udfs().map(<[_]>::len), Some(0));
        assert_eq!(ArgOffset::positional(7).index(), 7);
    }
}
