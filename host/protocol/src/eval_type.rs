//! `PythonEvalType` values (§2): header field 7, which selects how the command is encoded.
//!
//! Only [`NON_UDF`] (RDD work) is decoded today; the SQL values are listed so errors can name
//! them and so the SQL UDF decoder has a home when it is added.

/// RDD work (`PythonRunner`): the command is opaque `bytes`.
pub const NON_UDF: i32 = 0;
/// Pickled-rows SQL UDF.
pub const SQL_BATCHED_UDF: i32 = 100;
/// Arrow-batched SQL UDF.
pub const SQL_ARROW_BATCHED_UDF: i32 = 101;
/// Scalar pandas UDF.
pub const SQL_SCALAR_PANDAS_UDF: i32 = 200;
/// Scalar Arrow UDF (4.1+).
pub const SQL_SCALAR_ARROW_UDF: i32 = 250;
/// Python table function.
pub const SQL_TABLE_UDF: i32 = 300;

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
