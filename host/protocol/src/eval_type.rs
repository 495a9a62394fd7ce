//! `PythonEvalType` values (§2): header field 7, which selects how the command is encoded.
//!
//! Decoded: [`NON_UDF`] (RDD work, opaque command bytes) and the Arrow scalar and
//! grouped-aggregate UDF types ([`udf_kind`]: 200, 202, 250, 252), whose command section is
//! a list of UDFs ([`Command::Udfs`](crate::Command::Udfs)). Every other value is
//! [`ProtocolError::Unsupported`](crate::ProtocolError::Unsupported); all of them are named
//! here so the error can say which one arrived.

/// RDD work (`PythonRunner`): the command is opaque `bytes`.
pub const NON_UDF: i32 = 0;
/// Pickled-rows SQL UDF.
pub const SQL_BATCHED_UDF: i32 = 100;
/// Arrow-batched SQL UDF.
pub const SQL_ARROW_BATCHED_UDF: i32 = 101;
/// Scalar pandas UDF.
pub const SQL_SCALAR_PANDAS_UDF: i32 = 200;
/// Grouped-aggregate pandas UDF.
pub const SQL_GROUPED_AGG_PANDAS_UDF: i32 = 202;
/// Scalar Arrow UDF (4.1+).
pub const SQL_SCALAR_ARROW_UDF: i32 = 250;
/// Grouped-aggregate Arrow UDF (4.1+).
pub const SQL_GROUPED_AGG_ARROW_UDF: i32 = 252;
/// Python table function.
pub const SQL_TABLE_UDF: i32 = 300;

/// How the JVM feeds an Arrow UDF task its input (design note §1.2, §1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UdfKind {
    /// 200, 250: one Arrow IPC stream; one output row per input row, in order.
    Scalar,
    /// 202, 252: per group `i32 1` + one Arrow IPC stream, then `i32 0`
    /// ([`read_group_marker`](crate::read_group_marker)); one output row per group.
    GroupedAggregate,
}

/// The kind of a UDF eval type this crate decodes, or `None` for [`NON_UDF`] and for every
/// eval type it does not decode.
///
/// The pandas and Arrow variants put the same bytes on the wire (*measured* on 4.3: 200 and
/// 250, 202 and 252); they differ only in what a Python worker would hand the function.
pub fn udf_kind(value: i32) -> Option<UdfKind> {
    match value {
        SQL_SCALAR_PANDAS_UDF | SQL_SCALAR_ARROW_UDF => Some(UdfKind::Scalar),
        SQL_GROUPED_AGG_PANDAS_UDF | SQL_GROUPED_AGG_ARROW_UDF => Some(UdfKind::GroupedAggregate),
        _ => None,
    }
}

/// The oldest Spark line whose JVM can send `value`, for the eval types this crate decodes:
/// the Arrow UDF types (250, 252) are 4.1+.
pub(crate) fn first_version(value: i32) -> crate::SparkVersion {
    match value {
        SQL_SCALAR_ARROW_UDF | SQL_GROUPED_AGG_ARROW_UDF => crate::SparkVersion::V4_1,
        _ => crate::SparkVersion::V3_5,
    }
}

/// The `PythonEvalType` constant name of `value`, if it is a known eval type.
pub fn name(value: i32) -> Option<&'static str> {
    Some(match value {
        0 => "NON_UDF",
        100 => "SQL_BATCHED_UDF",
        101 => "SQL_ARROW_BATCHED_UDF",
        200 => "SQL_SCALAR_PANDAS_UDF",
        201 => "SQL_GROUPED_MAP_PANDAS_UDF",
        202 => "SQL_GROUPED_AGG_PANDAS_UDF",
        203 => "SQL_WINDOW_AGG_PANDAS_UDF",
        204 => "SQL_SCALAR_PANDAS_ITER_UDF",
        205 => "SQL_MAP_PANDAS_ITER_UDF",
        206 => "SQL_COGROUPED_MAP_PANDAS_UDF",
        207 => "SQL_MAP_ARROW_ITER_UDF",
        208 => "SQL_GROUPED_MAP_PANDAS_UDF_WITH_STATE",
        209 => "SQL_GROUPED_MAP_ARROW_UDF",
        210 => "SQL_COGROUPED_MAP_ARROW_UDF",
        211 => "SQL_TRANSFORM_WITH_STATE_PANDAS_UDF",
        212 => "SQL_TRANSFORM_WITH_STATE_PANDAS_INIT_STATE_UDF",
        213 => "SQL_TRANSFORM_WITH_STATE_PYTHON_ROW_UDF",
        214 => "SQL_TRANSFORM_WITH_STATE_PYTHON_ROW_INIT_STATE_UDF",
        215 => "SQL_GROUPED_MAP_ARROW_ITER_UDF",
        216 => "SQL_GROUPED_MAP_PANDAS_ITER_UDF",
        217 => "SQL_GROUPED_AGG_PANDAS_ITER_UDF",
        250 => "SQL_SCALAR_ARROW_UDF",
        251 => "SQL_SCALAR_ARROW_ITER_UDF",
        252 => "SQL_GROUPED_AGG_ARROW_UDF",
        253 => "SQL_WINDOW_AGG_ARROW_UDF",
        254 => "SQL_GROUPED_AGG_ARROW_ITER_UDF",
        300 => "SQL_TABLE_UDF",
        301 => "SQL_ARROW_TABLE_UDF",
        302 => "SQL_ARROW_UDTF",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoded_udf_kinds() {
        assert_eq!(udf_kind(200), Some(UdfKind::Scalar));
        assert_eq!(udf_kind(250), Some(UdfKind::Scalar));
        assert_eq!(udf_kind(202), Some(UdfKind::GroupedAggregate));
        assert_eq!(udf_kind(252), Some(UdfKind::GroupedAggregate));
        for other in [
            NON_UDF,
            SQL_BATCHED_UDF,
            SQL_ARROW_BATCHED_UDF,
            201,
            203,
            204,
            251,
            253,
        ] {
            assert_eq!(udf_kind(other), None, "{other}");
        }
        assert_eq!(
            name(SQL_GROUPED_AGG_ARROW_UDF),
            Some("SQL_GROUPED_AGG_ARROW_UDF")
        );
        assert_eq!(
            name(SQL_GROUPED_AGG_PANDAS_UDF),
            Some("SQL_GROUPED_AGG_PANDAS_UDF")
        );
        assert_eq!(name(-3), None);
    }
}
