//! The SQL loop: one `sparkwasm_run_task` call evaluating a task's UDFs over all its columnar
//! input batches (see `sparkwasm_abi::SqlTask` and `sparkwasm_abi::columnar`).
//!
//! The plan comes first: every handle resolved, every function's kind checked against the
//! task (scalar or aggregate), every chain checked (each later function takes exactly the
//! previous result). Then, per input batch pulled with `input_next` into one 8-byte-aligned
//! buffer:
//!
//! * `Rows` (scalar tasks): each UDF's argument columns (its slice of the batch's columns) go
//!   through its chain, each function appending one result per row to its result column;
//!   the last function's columns make one output batch, written with `output_write`.
//! * `GroupRows` (aggregate tasks): each UDF folds its columns into the accumulator of the
//!   open group, made on the group's first batch.
//! * `GroupEnd`: each UDF finishes its accumulator into one row of its result column; every
//!   [`GROUPS_PER_BATCH`] finished groups, and at the end of the input, the rows go out as
//!   one output batch.
//!
//! Result columns, scratch vectors and both buffers live as long as the task, so a batch of
//! fixed-width values costs no allocation beyond the batch view's column list.

use std::any::Any;
use std::ops::Range;

use sparkwasm_abi::columnar::{
    read_batch, write_batch, BatchView, ColumnView, NodeHeader, NodeParts, Op, SqlType, TypeTag,
};
use sparkwasm_abi::{FunctionKind, InputEncoding, OutputSpec, SqlTask, TaskSpec};

use crate::element::{self, Function, Ops};
use crate::error::Error;
use crate::sql::builder::{as_view, node_count, pre_order, ResultColumn};
use crate::sql::bytes::AlignedBuffer;
use crate::sql::column::Scratch;
use crate::sql::function::{Call, CallError, SqlEntry, SqlFunction};
use crate::{host, task};

/// Size of the input buffer before a batch asks for more; it grows to the largest batch.
pub(crate) const INITIAL_INPUT_BUFFER: usize = 64 * 1024;
/// Finished groups buffered before they go out as one output batch.
pub(crate) const GROUPS_PER_BATCH: usize = 1024;

/// One function of a UDF's chain.
struct Link {
    function: &'static Function,
    sql: SqlFunction,
    /// The argument types, parsed from the registration.
    args: Vec<SqlType>,
    /// One per argument.
    scratch: Vec<Scratch>,
    /// The function's results for the current batch (or the finished groups not yet written).
    result: Box<dyn ResultColumn>,
}

/// One UDF of the task: its chain and where its arguments are in each batch.
struct Udf {
    /// Innermost first; never empty.
    links: Vec<Link>,
    /// Its argument columns in the batch.
    columns: Range<usize>,
    /// The open group's accumulator (aggregate tasks).
    state: Option<Box<dyn Any>>,
}

impl Udf {
    /// The function whose results are the UDF's.
    fn last(&self) -> Result<&Link, Error> {
        self.links
            .last()
            .ok_or_else(|| Error::internal("a UDF without functions"))
    }
}

/// Runs a SQL task: every input batch through the task's UDFs, results out.
pub(crate) fn run(spec: &TaskSpec, sql: &SqlTask) -> Result<(), Error> {
    let mut udfs = plan(spec, sql)?;
    let arguments = udfs.last().map_or(0, |udf| udf.columns.end);
    let mut input = AlignedBuffer::with_capacity(INITIAL_INPUT_BUFFER);
    let mut out = Vec::new();
    let mut rows_before = 0u64;
    let mut finished = 0usize;
    while next_batch(&mut input)? {
        let batch = read_batch(input.bytes()).map_err(|err| Error::Batch(err.to_string()))?;
        match (batch.op, sql.aggregate) {
            (Op::Rows, false) => {
                check_columns(&batch, &udfs, arguments)?;
                for udf in &mut udfs {
                    let columns = batch.columns.get(udf.columns.clone()).unwrap_or_default();
                    call_chain(udf, columns, batch.rows, rows_before)?;
                }
                write_output(&mut out, &udfs, batch.rows)?;
            }
            (Op::GroupRows, true) => {
                check_columns(&batch, &udfs, arguments)?;
                for udf in &mut udfs {
                    let columns = batch.columns.get(udf.columns.clone()).unwrap_or_default();
                    update(udf, columns, batch.rows, rows_before)?;
                }
            }
            (Op::GroupEnd, true) => {
                if batch.rows != 0 || !batch.columns.is_empty() {
                    return Err(Error::Batch(format!(
                        "a GroupEnd batch with {} rows and {} columns (it has none)",
                        batch.rows,
                        batch.columns.len()
                    )));
                }
                for udf in &mut udfs {
                    finish(udf)?;
                }
                finished += 1;
                if finished >= GROUPS_PER_BATCH {
                    write_output(&mut out, &udfs, finished)?;
                    clear_results(&mut udfs);
                    finished = 0;
                }
            }
            (op, aggregate) => {
                return Err(Error::Batch(format!(
                    "a {op:?} batch in {} task",
                    if aggregate {
                        "an aggregate (GroupRows/GroupEnd)"
                    } else {
                        "a scalar (Rows)"
                    }
                )))
            }
        }
        rows_before += u64::try_from(batch.rows).unwrap_or(u64::MAX);
    }
    if udfs.iter().any(|udf| udf.state.is_some()) {
        return Err(Error::Batch(
            "the input ended inside a group (GroupRows without its GroupEnd)".into(),
        ));
    }
    if finished > 0 {
        write_output(&mut out, &udfs, finished)?;
    }
    Ok(())
}

/// Resolves and checks the task's functions and lays out their argument columns.
fn plan(spec: &TaskSpec, sql: &SqlTask) -> Result<Vec<Udf>, Error> {
    if spec.input != InputEncoding::Columnar || spec.output != OutputSpec::Columnar {
        return Err(Error::Plan(format!(
            "a SQL task reads columnar input and writes columnar output; this one has {:?} \
             input and {:?} output",
            spec.input, spec.output
        )));
    }
    if !spec.steps.is_empty() {
        return Err(Error::Plan(format!(
            "a SQL task has no RDD steps; this one has {}",
            spec.steps.len()
        )));
    }
    if sql.udfs.is_empty() {
        return Err(Error::Plan("a SQL task without functions".into()));
    }
    let (wanted, task_kind) = if sql.aggregate {
        (FunctionKind::Udaf, "an aggregate")
    } else {
        (FunctionKind::Udf, "a scalar")
    };
    let mut udfs = Vec::with_capacity(sql.udfs.len());
    let mut next_column = 0;
    for (index, chain) in sql.udfs.iter().enumerate() {
        if chain.is_empty() {
            return Err(Error::Plan(format!("UDF {index} names no function")));
        }
        if sql.aggregate && chain.len() > 1 {
            return Err(Error::Plan(format!(
                "UDF {index} chains {} aggregate functions; aggregates cannot be chained",
                chain.len()
            )));
        }
        let mut links: Vec<Link> = Vec::with_capacity(chain.len());
        for (position, &handle) in chain.iter().enumerate() {
            let function = element::resolve(handle).ok_or_else(|| Error::UnknownHandle {
                what: format!("UDF {index}, function {position}"),
                handle,
            })?;
            if function.kind != wanted {
                return Err(Error::Plan(format!(
                    "UDF {index} applies `{}`, a {} function, in {task_kind} SQL task, which \
                     takes {} functions",
                    function.name,
                    function.kind.as_str(),
                    wanted.as_str()
                )));
            }
            let Ops::Sql(sql_fn) = function.ops else {
                return Err(Error::internal(format!(
                    "`{}` is a {} function without SQL entry points",
                    function.name,
                    function.kind.as_str()
                )));
            };
            let args = sql_fn
                .args
                .iter()
                .map(|arg| SqlType::parse(arg))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| Error::internal(format!("`{}`: {err}", function.name)))?;
            if let Some(previous) = links.last() {
                let returns = SqlType::parse(previous.sql.returns).map_err(|err| {
                    Error::internal(format!("`{}`: {err}", previous.function.name))
                })?;
                if args.len() != 1 || args[0] != returns {
                    return Err(Error::Plan(format!(
                        "UDF {index} chains `{}` after `{}`, but `{}` takes ({}) and a chained \
                         function takes exactly the previous result, {returns}",
                        function.name,
                        previous.function.name,
                        function.name,
                        sql_fn.args.join(", ")
                    )));
                }
            }
            let new_result = match sql_fn.entry {
                SqlEntry::Scalar { new_result, .. } | SqlEntry::Aggregate { new_result, .. } => {
                    new_result
                }
            };
            links.push(Link {
                function,
                sql: sql_fn,
                scratch: args.iter().map(|_| Scratch::default()).collect(),
                args,
                result: new_result(),
            });
        }
        let arity = links.first().map_or(0, |link| link.args.len());
        udfs.push(Udf {
            links,
            columns: next_column..next_column + arity,
            state: None,
        });
        next_column += arity;
    }
    Ok(udfs)
}

/// Pulls the next batch into `input`, growing it when the host asks; `false` at the end.
fn next_batch(input: &mut AlignedBuffer) -> Result<bool, Error> {
    loop {
        let written = input.fill(host::input_next_into);
        let capacity = input.capacity();
        if written == 0 {
            return Ok(false);
        }
        if written < 0 {
            let needed = usize::try_from(written.unsigned_abs()).unwrap_or(usize::MAX);
            if needed <= capacity {
                // Growing would not help; asking again would loop forever.
                return Err(Error::Batch(format!(
                    "the host asked for a {needed}-byte buffer but was offered {capacity} bytes"
                )));
            }
            input.grow(needed).map_err(|_| {
                Error::Batch(format!(
                    "cannot allocate a {needed}-byte buffer for the next batch"
                ))
            })?;
            continue;
        }
        if usize::try_from(written).map_or(true, |len| len > capacity) {
            return Err(Error::InputOverrun { written, capacity });
        }
        return Ok(true);
    }
}

/// Checks the batch holds exactly the task's argument columns, each of its function's type.
fn check_columns(batch: &BatchView<'_>, udfs: &[Udf], arguments: usize) -> Result<(), Error> {
    if batch.columns.len() != arguments {
        return Err(Error::Batch(format!(
            "a batch of {} columns, but the task's functions take {arguments} arguments",
            batch.columns.len()
        )));
    }
    for udf in udfs {
        let Some(first) = udf.links.first() else {
            continue;
        };
        let columns = batch.columns.get(udf.columns.clone()).unwrap_or_default();
        for (argument, (ty, column)) in first.args.iter().zip(columns).enumerate() {
            if !has_type(column, ty) {
                return Err(Error::SqlFunction {
                    function: first.function.name,
                    message: format!(
                        "argument {argument} is {ty}, but the batch's column {} is {}",
                        udf.columns.start + argument,
                        type_name(column)
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Whether `column` (with its children) has type `ty`; struct field names are not in a
/// batch, so only the field types count.
fn has_type(column: &ColumnView<'_>, ty: &SqlType) -> bool {
    match ty {
        SqlType::Array(element) => {
            column.header.tag == TypeTag::Array
                && matches!(column.children.as_slice(), [child] if has_type(child, element))
        }
        SqlType::Struct(fields) => {
            column.header.tag == TypeTag::Struct
                && column.children.len() == fields.len()
                && column
                    .children
                    .iter()
                    .zip(fields)
                    .all(|(child, (_, field))| has_type(child, field))
        }
        _ => {
            column.children.is_empty()
                && ty.matches(std::slice::from_ref(&column.header)) == Some(1)
        }
    }
}

/// The Spark name of a column's type, for messages (a struct's fields unnamed).
fn type_name(column: &ColumnView<'_>) -> String {
    let header = &column.header;
    match header.tag {
        TypeTag::Boolean => "boolean".into(),
        TypeTag::Byte => "tinyint".into(),
        TypeTag::Short => "smallint".into(),
        TypeTag::Int => "int".into(),
        TypeTag::Long => "bigint".into(),
        TypeTag::Float => "float".into(),
        TypeTag::Double => "double".into(),
        TypeTag::String => "string".into(),
        TypeTag::Binary => "binary".into(),
        TypeTag::Date => "date".into(),
        TypeTag::Timestamp => "timestamp".into(),
        TypeTag::TimestampNtz => "timestamp_ntz".into(),
        TypeTag::Decimal => format!("decimal({},{})", header.precision, header.scale),
        TypeTag::Array => match column.children.as_slice() {
            [element] => format!("array<{}>", type_name(element)),
            _ => "an array".into(),
        },
        TypeTag::Struct => format!(
            "struct<{}>",
            column
                .children
                .iter()
                .map(type_name)
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

/// Runs `f` as the author function `name` (the panic hook names it).
fn as_function<R>(name: &'static str, f: impl FnOnce() -> R) -> R {
    let previous = task::enter(name);
    let result = f();
    task::leave(previous);
    result
}

/// The task error of a failed call of `function` over a batch starting at task row
/// `rows_before`.
fn call_error(function: &'static str, error: CallError, rows_before: u64) -> Error {
    match error {
        CallError::Null { argument, row } => Error::NullArgument {
            function,
            argument,
            row: rows_before.saturating_add(u64::try_from(row).unwrap_or(u64::MAX)),
        },
        CallError::Column { argument, message } => Error::SqlFunction {
            function,
            message: format!("argument {argument}: {message}"),
        },
        CallError::Arity { expected } => Error::internal(format!(
            "`{function}` was called with another number of columns than its {expected}"
        )),
        CallError::Internal(what) => Error::internal(format!("`{function}`: {what}")),
    }
}

/// Checks a function wrote `expected` rows and no unwritable value.
fn check_result(link: &Link, expected: usize) -> Result<(), Error> {
    if let Some(why) = link.result.error() {
        return Err(Error::SqlFunction {
            function: link.function.name,
            message: why.to_owned(),
        });
    }
    if link.result.len() != expected {
        return Err(Error::internal(format!(
            "`{}` wrote {} results for {expected} rows",
            link.function.name,
            link.result.len()
        )));
    }
    Ok(())
}

/// Runs a UDF's chain over a batch of `rows` rows: `columns` into the first function, each
/// result column into the next.
fn call_chain(
    udf: &mut Udf,
    columns: &[ColumnView<'_>],
    rows: usize,
    rows_before: u64,
) -> Result<(), Error> {
    for position in 0..udf.links.len() {
        let (done, rest) = udf.links.split_at_mut(position);
        let Some(link) = rest.first_mut() else {
            break;
        };
        let SqlEntry::Scalar { call, .. } = link.sql.entry else {
            return Err(Error::internal("an aggregate function in a scalar chain"));
        };
        let chained;
        let arguments = match done.last() {
            None => columns,
            Some(previous) => {
                chained = as_view(&*previous.result);
                std::slice::from_ref(&chained)
            }
        };
        link.result.clear();
        let mut batch = Call {
            columns: arguments,
            rows,
            scratch: &mut link.scratch,
        };
        let name = link.function.name;
        as_function(name, || call(&mut batch, &mut *link.result))
            .map_err(|err| call_error(name, err, rows_before))?;
        check_result(link, rows)?;
    }
    Ok(())
}

/// Folds a batch of the open group's rows into a UDAF's accumulator (made on the group's
/// first batch).
fn update(
    udf: &mut Udf,
    columns: &[ColumnView<'_>],
    rows: usize,
    rows_before: u64,
) -> Result<(), Error> {
    let Udf { links, state, .. } = udf;
    let link = links
        .first_mut()
        .ok_or_else(|| Error::internal("a UDF without functions"))?;
    let SqlEntry::Aggregate { init, update, .. } = link.sql.entry else {
        return Err(Error::internal("a scalar function in an aggregate task"));
    };
    let name = link.function.name;
    let mut batch = Call {
        columns,
        rows,
        scratch: &mut link.scratch,
    };
    as_function(name, || {
        let state = state.get_or_insert_with(init);
        update(&mut **state, &mut batch)
    })
    .map_err(|err| call_error(name, err, rows_before))
}

/// Finishes a UDAF's accumulator into the next row of its result column.
fn finish(udf: &mut Udf) -> Result<(), Error> {
    let Udf { links, state, .. } = udf;
    let link = links
        .first_mut()
        .ok_or_else(|| Error::internal("a UDF without functions"))?;
    let SqlEntry::Aggregate { finish, .. } = link.sql.entry else {
        return Err(Error::internal("a scalar function in an aggregate task"));
    };
    let state = state.take().ok_or_else(|| {
        Error::Batch("a GroupEnd batch without a GroupRows batch of its group".into())
    })?;
    let name = link.function.name;
    let expected = link.result.len() + 1;
    as_function(name, || finish(state, &mut *link.result))
        .map_err(|err| call_error(name, err, 0))?;
    check_result(link, expected)
}

/// Empties the UDFs' result columns (after their rows went out).
fn clear_results(udfs: &mut [Udf]) {
    for udf in udfs {
        if let Some(link) = udf.links.last_mut() {
            link.result.clear();
        }
    }
}

/// A node to fill the inline node array with.
const NO_NODE: NodeParts<'static> = NodeParts {
    header: NodeHeader {
        tag: TypeTag::Boolean,
        precision: 0,
        scale: 0,
        children: 0,
        len: 0,
    },
    validity: None,
    offsets: &[],
    values: &[],
};

/// Nodes (columns and their nested children) up to which the output's node list lives on
/// the stack.
const INLINE_NODES: usize = 16;

/// Writes the UDFs' result columns (`rows` rows each) as one output batch and hands it over.
fn write_output(out: &mut Vec<u8>, udfs: &[Udf], rows: usize) -> Result<(), Error> {
    let rows = u32::try_from(rows)
        .map_err(|_| Error::internal("an output batch of more than 2^32 rows"))?;
    let columns = u32::try_from(udfs.len()).map_err(|_| Error::internal("more than 2^32 UDFs"))?;
    let results = udfs.iter().map(|udf| Ok(&*udf.last()?.result));
    let mut count = 0;
    for result in results.clone() {
        count += node_count(result?);
    }
    let mut inline = [NO_NODE; INLINE_NODES];
    let mut heap: Vec<NodeParts<'_>>;
    let nodes: &mut [NodeParts<'_>] = if count <= INLINE_NODES {
        &mut inline[..count]
    } else {
        heap = vec![NO_NODE; count];
        &mut heap
    };
    let mut at = 0;
    for result in results {
        at = pre_order(result?, nodes, at);
    }
    write_batch(out, Op::Rows, rows, columns, nodes);
    match host::output_write(out) {
        0 => Ok(()),
        code => Err(Error::OutputRefused(code)),
    }
}
