//! Spark SQL UDFs and UDAFs over Spark's Arrow eval path.
//!
//! One Arrow eval node of a query is one task: its UDFs (each a chain of SQL function
//! commands, `f(g(x))` arriving as `[g, f]`) over one Arrow stream of argument columns, or
//! over one stream per group for aggregates. The worker runs all of them in one guest
//! instance of their module (one pass over the data) and answers one Arrow stream with a
//! column per UDF. [`plan`] turns the commands into the runtime's request and the data
//! section; `crate::connection` runs it like an RDD task.

pub(crate) mod command;
mod convert;
mod section;

use sparkwasm_abi::columnar::SqlType;
use sparkwasm_abi::{FunctionKind, InputEncoding};
use sparkwasm_runtime::{ModuleInfo, SqlRequest, TaskInfo, TaskOutput, TaskRequest};

pub(crate) use section::SqlSection;

use self::command::SqlCommand;
use self::section::ArgumentColumn;
use crate::manifest::ManifestPolicy;

/// One UDF of the node, as the task header gives it.
#[derive(Clone, Debug)]
pub(crate) struct UdfCall<'a> {
    /// Indices of its argument columns in the Arrow input.
    pub(crate) arg_offsets: Vec<usize>,
    /// Its chained commands, innermost first.
    pub(crate) commands: Vec<&'a [u8]>,
}

/// A SQL task, decoded and checked as far as it can be without the module.
#[derive(Debug)]
pub(crate) struct SqlPlan<'a> {
    /// The module every function comes from.
    pub(crate) module: &'a [u8],
    /// Its digest, as the commands name it.
    pub(crate) digest: String,
    /// The job's sandbox settings.
    pub(crate) policy: ManifestPolicy,
    /// The UDFs, for messages: `str_len, affine(affine)`.
    pub(crate) description: String,
    aggregate: bool,
    udfs: Vec<Vec<SqlCommand<'a>>>,
    arg_offsets: Vec<Vec<usize>>,
}

/// Decodes the node's commands and checks what needs no module: one module and one policy
/// for the whole node, udfs (or, for an aggregate node, udafs, unchained), and each chained
/// function taking the previous one's result.
pub(crate) fn plan<'a>(udfs: &[UdfCall<'a>], aggregate: bool) -> Result<SqlPlan<'a>, String> {
    let mut decoded = Vec::with_capacity(udfs.len());
    for (i, udf) in udfs.iter().enumerate() {
        let mut chain = Vec::with_capacity(udf.commands.len());
        for bytes in &udf.commands {
            let command = command::decode(bytes).map_err(|e| match e {
                crate::manifest::ManifestError::NotSparkwasm => format!(
                    "UDF {i} of this Spark node is not a sparkwasm UDF: Spark runs all the \
                     UDFs of one node (same eval type, same select) in the first UDF's \
                     worker; put sparkwasm and Python UDFs in separate select()s"
                ),
                e => e.to_string(),
            })?;
            chain.push(command);
        }
        if chain.is_empty() {
            return Err(format!("UDF {i} of the node has no function"));
        }
        decoded.push(chain);
    }
    let first = decoded
        .first()
        .and_then(|chain| chain.first())
        .ok_or("the node has no UDF")?;
    let module = first.module;
    let digest = first.manifest.module_digest.clone();
    let policy = first.manifest.policy.clone();
    for command in decoded.iter().flatten() {
        if command.manifest.module_digest != digest {
            return Err(format!(
                "this Spark node mixes functions of two modules (sha256:{}… and sha256:{}…); \
                 one node runs in one guest, so put them in separate select()s",
                &digest[..12],
                &command.manifest.module_digest[..12.min(command.manifest.module_digest.len())]
            ));
        }
        if command.manifest.policy != policy {
            return Err(format!(
                "`{}` was defined under other spark.sparkwasm.* settings than `{}`; the \
                 functions of one node share one sandbox",
                command.manifest.function, first.manifest.function
            ));
        }
    }
    let wanted = if aggregate {
        FunctionKind::Udaf
    } else {
        FunctionKind::Udf
    };
    if let Some(command) = decoded.iter().flatten().find(|c| c.manifest.kind != wanted) {
        return Err(format!(
            "`{}` is a {}, and this Spark node evaluates {}s",
            command.manifest.function,
            command.manifest.kind.as_str(),
            wanted.as_str()
        ));
    }
    for (chain, udf) in decoded.iter().zip(udfs) {
        let head = &chain[0];
        if head.args.len() != udf.arg_offsets.len() {
            return Err(format!(
                "`{}` takes {} arguments, Spark passes {}",
                head.manifest.function,
                head.args.len(),
                udf.arg_offsets.len()
            ));
        }
        for pair in chain.windows(2) {
            let (inner, outer) = (&pair[0], &pair[1]);
            if outer.args.len() != 1 || outer.args[0] != inner.returns {
                return Err(format!(
                    "`{}` cannot take the result of `{}` ({}) as its only argument",
                    outer.manifest.function, inner.manifest.function, inner.returns
                ));
            }
        }
    }
    let description = decoded
        .iter()
        .map(|chain| {
            chain
                .iter()
                .rev()
                .map(|c| c.manifest.function.as_str())
                .fold(String::new(), |acc, name| {
                    if acc.is_empty() {
                        name.to_owned()
                    } else {
                        format!("{acc}({name}")
                    }
                })
                + &")".repeat(chain.len() - 1)
        })
        .collect::<Vec<_>>()
        .join(", ");
    Ok(SqlPlan {
        module,
        digest,
        policy,
        description,
        aggregate,
        arg_offsets: udfs.iter().map(|u| u.arg_offsets.clone()).collect(),
        udfs: decoded,
    })
}

impl SqlPlan<'_> {
    /// Checks every function against the module's descriptors and builds the runtime's
    /// request and the task's data section.
    pub(crate) fn prepare(
        &self,
        module: &ModuleInfo,
        info: TaskInfo,
        large_var_types: bool,
    ) -> Result<(TaskRequest, SqlSection), String> {
        for command in self.udfs.iter().flatten() {
            let name = &command.manifest.function;
            let descriptor = module
                .function(name)
                .ok_or_else(|| format!("the module has no function `{name}`"))?;
            command.check_against(descriptor.kind, descriptor.sql.as_ref())?;
        }
        let mut arguments = Vec::new();
        for (chain, offsets) in self.udfs.iter().zip(&self.arg_offsets) {
            let head = &chain[0];
            for (i, (offset, ty)) in offsets.iter().zip(&head.args).enumerate() {
                arguments.push(ArgumentColumn {
                    index: *offset,
                    ty: ty.clone(),
                    label: format!("argument {} of `{}`", i + 1, head.manifest.function),
                });
            }
        }
        let result_types: Vec<SqlType> = self
            .udfs
            .iter()
            .map(|chain| chain[chain.len() - 1].returns.clone())
            .collect();
        let request = TaskRequest {
            info,
            input: InputEncoding::Columnar,
            source: None,
            steps: Vec::new(),
            output: TaskOutput::Columnar,
            args: Vec::new(),
            broadcasts: Vec::new(),
            accumulators: Vec::new(),
            spark_files_dir: None,
            sql: Some(SqlRequest {
                udfs: self
                    .udfs
                    .iter()
                    .map(|chain| chain.iter().map(|c| c.manifest.function.clone()).collect())
                    .collect(),
                aggregate: self.aggregate,
            }),
        };
        let section = SqlSection::new(self.aggregate, arguments, result_types, large_var_types);
        Ok((request, section))
    }
}
