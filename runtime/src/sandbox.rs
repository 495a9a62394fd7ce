//! The sandbox: one wasmtime engine per process, compiled modules cached by digest, and a
//! fresh instance per task with nothing granted but the sparkwasm imports, an otherwise
//! empty WASI and, only when the task grants it, its SparkFiles directory read-only.
//!
//! The data path of a task: the guest calls `input_next` to have the host copy a batch of
//! input records straight into its memory, runs its pipeline, and calls `output_write` to
//! hand whole batches of output records back; the host checks every batch before it leaves
//! the sandbox. One crossing per batch, never one per record. Broadcast values are copied
//! into guest memory on request (`broadcast_read`), and accumulator updates are collected,
//! within limits, for the caller to send once the task has succeeded.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;

use sparkwasm_abi::{
    Binding, InputEncoding, OutputSpec, Partitioner, Side, Source, SqlTask, Step, StepKind,
    TaskInfo, TaskSpec, TypeRef, ABI_VERSION, BROADCAST_UNKNOWN, EXPORT_ABI_VERSION, EXPORT_ALLOC,
    EXPORT_MEMORY, EXPORT_RUN_TASK, IMPORT_ACCUMULATOR_UPDATE, IMPORT_BROADCAST_READ,
    IMPORT_INPUT_NEXT, IMPORT_MODULE, IMPORT_OUTPUT_WRITE, IMPORT_REPORT_ERROR, RECORD_HEADER_LEN,
    SPARK_FILES_GUEST_DIR, STATUS_ERROR, STATUS_OK,
};
use wasmtime::{
    Caller, Config, Engine, InstanceAllocationStrategy, InstancePre, Linker, Memory, Module,
    PoolingAllocationConfig, ResourceLimiter, Store, Trap, UpdateDeadline,
};
use wasmtime_wasi::p1::WasiP1Ctx;
use wasmtime_wasi::{FsPerms, HostMonotonicClock, HostWallClock, WasiCtxBuilder};

use crate::capture::BoundedPipe;
use crate::error::{Error, ErrorKind};
use crate::inspect::{digest_hex, inspect, ModuleInfo};
use crate::io::{BroadcastRead, InputBatch, TaskIo};
use crate::module_cache::ModuleCache;
use crate::policy::{setting, Determinism, Policy};

/// How many instances may be alive at once in one process. A worker process runs one task
/// at a time; the spare slots absorb instances still being torn down.
const POOLED_INSTANCES: u32 = 4;

/// A compiled module, ready to instantiate.
pub struct LoadedModule<I: TaskIo> {
    info: ModuleInfo,
    pre: InstancePre<TaskState<I>>,
    /// The module compiled for the fuel-metering engine, the first time it is loaded under a
    /// policy with a fuel budget (most never are). The bytes are not kept for it: a worker
    /// holding every module's bytes twice (here and in each command) cost ~1 MiB per module.
    metered: OnceLock<Result<InstancePre<TaskState<I>>, Error>>,
    source: ModuleSource,
}

impl<I: TaskIo> LoadedModule<I> {
    /// What the module declares.
    pub fn info(&self) -> &ModuleInfo {
        &self.info
    }

    /// Where the compiled module came from.
    pub fn source(&self) -> ModuleSource {
        self.source
    }
}

/// Where a [`LoadedModule`]'s machine code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModuleSource {
    /// Compiled by this process.
    Compiled,
    /// Loaded from the on-disk module cache ([`EngineOptions::module_cache`]).
    DiskCache,
}

/// Engine-wide settings that are the operator's and no tenant's business: where compiled
/// modules are cached, and whether `perf` can name guest functions.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Directory of the on-disk cache of compiled modules (see `module_cache`); `None`: every
    /// worker process compiles each module it meets. A directory that fails the ownership
    /// checks turns the cache off (the reason is in [`Runtime::module_cache_error`]).
    pub module_cache: Option<PathBuf>,
    /// Write `/tmp/perf-<pid>.map` with the guest functions' addresses, so `perf report`
    /// names them (a debugging aid: the file lists every compiled function).
    pub perf_map: bool,
}

/// One step of a task, naming its functions (the ABI's [`Step`] before names become
/// handles).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskStep {
    /// What the step does.
    pub kind: StepKind,
    /// The functions it applies, in the order [`StepKind`] documents.
    pub functions: Vec<String>,
    /// The step's argument: an index into [`TaskRequest::args`] or a number, as
    /// [`StepKind`] documents.
    pub arg: Option<u64>,
}

/// How shuffle keys map to partitions (the ABI's [`Partitioner`], naming its function).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskPartitioner {
    /// Stable hash of the key's canonical encoding.
    Hash,
    /// A `partitioner` function, by name.
    Function(String),
    /// Range partitioning by the pickled bounds in [`TaskRequest::args`]`[bounds_arg]`.
    Range {
        /// Index of the bounds argument.
        bounds_arg: u32,
        /// Ascending order.
        ascending: bool,
    },
}

/// What to write (the ABI's [`OutputSpec`], naming the partitioner function).
#[derive(Clone, Debug, PartialEq)]
pub enum TaskOutput {
    /// Pickled lists, for Python.
    Pickle,
    /// sparkwasm binary batches, for a later WASM pass.
    Binary,
    /// Map side of a shuffle: (8-byte partition, binary batch) record pairs.
    Shuffle {
        /// Number of reduce partitions.
        partitions: u32,
        /// How keys map to partitions.
        partitioner: TaskPartitioner,
    },
    /// Exactly one record: the pickled element count.
    Count,
    /// A pickled list of the first `n` elements.
    Take {
        /// How many elements at most.
        n: u64,
    },
    /// One UTF-8 record per element.
    Text,
    /// Pickled lists of sampled keys.
    SampleKeys {
        /// Probability of keeping each element.
        fraction: f64,
        /// Seed (the guest mixes in the partition).
        seed: u64,
    },
    /// Columnar batches, one column per SQL function ([`TaskRequest::sql`]). The runtime
    /// checks only their size: the host, which knows the declared types, validates each
    /// batch in [`TaskIo::write_output`] and refuses a bad one with
    /// [`std::io::ErrorKind::InvalidData`], which fails the task as the guest's fault.
    Columnar,
}

/// The Spark SQL functions of a task (the ABI's [`SqlTask`], naming its functions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqlRequest {
    /// Per UDF, its chained functions by name, innermost first.
    pub udfs: Vec<Vec<String>>,
    /// Whether the functions are `udaf`s.
    pub aggregate: bool,
}

/// Everything a task needs besides its data. Functions are named here; the runtime turns
/// the names into the module's handles when it builds the ABI's [`TaskSpec`].
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRequest {
    /// The task's context. `spark_files` is ignored: the runtime sets it to whether it
    /// really mounted [`TaskRequest::spark_files_dir`].
    pub info: TaskInfo,
    /// How the input records are encoded.
    pub input: InputEncoding,
    /// The function whose input or output type the input records have, or `None` for
    /// dynamic ([`sparkwasm_abi::Value`]) elements.
    pub source: Option<(String, Side)>,
    /// The steps to apply.
    pub steps: Vec<TaskStep>,
    /// What to write.
    pub output: TaskOutput,
    /// Pickled Python values the steps and the output refer to by index.
    pub args: Vec<Vec<u8>>,
    /// Broadcasts the guest may read, by name. Only these ids reach [`TaskIo::read_broadcast`].
    pub broadcasts: Vec<Binding>,
    /// Accumulators the guest may add to, by name.
    pub accumulators: Vec<Binding>,
    /// The executor's SparkFiles directory, when the task may read it. Mounted read-only at
    /// [`SPARK_FILES_GUEST_DIR`] if it exists; nothing else of the file system is ever
    /// visible.
    pub spark_files_dir: Option<PathBuf>,
    /// The SQL functions of a SQL task (with [`InputEncoding::Columnar`] input, no steps and
    /// [`TaskOutput::Columnar`] output); `None` for RDD tasks.
    pub sql: Option<SqlRequest>,
}

impl TaskRequest {
    /// Every function the request names (source, steps, partitioner), in order, with
    /// repetitions.
    pub fn function_names(&self) -> impl Iterator<Item = &str> {
        let partitioner = match &self.output {
            TaskOutput::Shuffle {
                partitioner: TaskPartitioner::Function(name),
                ..
            } => Some(name.as_str()),
            _ => None,
        };
        self.source
            .iter()
            .map(|(name, _)| name.as_str())
            .chain(
                self.steps
                    .iter()
                    .flat_map(|s| s.functions.iter().map(String::as_str)),
            )
            .chain(partitioner)
            .chain(
                self.sql
                    .iter()
                    .flat_map(|sql| sql.udfs.iter().flatten().map(String::as_str)),
            )
    }

    /// The ABI task spec, with every function name turned into its handle by `handle`.
    fn to_spec(
        &self,
        info: TaskInfo,
        handle: impl Fn(&str) -> Option<u32>,
    ) -> Result<TaskSpec, Error> {
        let resolve = |name: &str| {
            handle(name).ok_or_else(|| {
                Error::new(
                    ErrorKind::UnknownFunction,
                    format!("the module has no function `{name}`"),
                )
            })
        };
        let source = match &self.source {
            Some((name, side)) => Source::Typed(TypeRef {
                function: resolve(name)?,
                side: *side,
            }),
            None => Source::Dynamic,
        };
        let steps = self
            .steps
            .iter()
            .map(|step| {
                Ok(Step {
                    kind: step.kind,
                    functions: step
                        .functions
                        .iter()
                        .map(|f| resolve(f))
                        .collect::<Result<_, Error>>()?,
                    arg: step.arg,
                })
            })
            .collect::<Result<_, Error>>()?;
        let output = match &self.output {
            TaskOutput::Pickle => OutputSpec::Pickle,
            TaskOutput::Binary => OutputSpec::Binary,
            TaskOutput::Count => OutputSpec::Count,
            TaskOutput::Take { n } => OutputSpec::Take { n: *n },
            TaskOutput::Text => OutputSpec::Text,
            TaskOutput::Columnar => OutputSpec::Columnar,
            TaskOutput::SampleKeys { fraction, seed } => OutputSpec::SampleKeys {
                fraction: *fraction,
                seed: *seed,
            },
            TaskOutput::Shuffle {
                partitions,
                partitioner,
            } => OutputSpec::Shuffle {
                partitions: *partitions,
                partitioner: match partitioner {
                    TaskPartitioner::Hash => Partitioner::Hash,
                    TaskPartitioner::Function(name) => Partitioner::Function {
                        function: resolve(name)?,
                    },
                    TaskPartitioner::Range {
                        bounds_arg,
                        ascending,
                    } => Partitioner::Range {
                        bounds_arg: *bounds_arg,
                        ascending: *ascending,
                    },
                },
            },
        };
        let sql = match &self.sql {
            Some(sql) => Some(SqlTask {
                udfs: sql
                    .udfs
                    .iter()
                    .map(|chain| chain.iter().map(|f| resolve(f)).collect())
                    .collect::<Result<_, Error>>()?,
                aggregate: sql.aggregate,
            }),
            None => None,
        };
        Ok(TaskSpec {
            abi_version: ABI_VERSION,
            info,
            input: self.input,
            source,
            steps,
            output,
            args: self.args.clone(),
            broadcasts: self.broadcasts.clone(),
            accumulators: self.accumulators.clone(),
            sql,
        })
    }
}

/// What a finished task did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TaskReport {
    /// Output records handed to the host.
    pub output_records: u64,
    /// Output bytes handed to the host (record headers included).
    pub output_bytes: u64,
    /// Input batches the guest pulled.
    pub input_batches: u64,
    /// The guest's accumulator updates, in the order sent: each the pickle of
    /// `(accumulator_id, value)` (unchecked: the runtime does not read pickles). Send them
    /// only for a successful task.
    pub accumulator_updates: Vec<Vec<u8>>,
}

/// An engine and its linker with the sparkwasm imports.
struct EngineParts<I: TaskIo> {
    engine: Engine,
    linker: Linker<TaskState<I>>,
}

impl<I: TaskIo> EngineParts<I> {
    /// The engine (pooling allocator, epoch interruption, memory and stack caps, fuel when
    /// `metered`), with an epoch ticker thread that makes deadlines fire.
    fn new(ceilings: &Policy, metered: bool, options: &EngineOptions) -> Result<Self, Error> {
        let internal = |e: wasmtime::Error| Error::new(ErrorKind::Internal, e.to_string());
        let mut pool = PoolingAllocationConfig::default();
        pool.total_core_instances(POOLED_INSTANCES)
            .total_memories(POOLED_INSTANCES)
            .total_tables(POOLED_INSTANCES)
            .max_memories_per_module(1)
            // A guest's function table is a few KiB. Kept resident, its pages are reset in
            // place instead of decommitted and faulted back in: ~13 µs less per task.
            .table_keep_resident(64 * 1024)
            .max_memory_size(usize::try_from(ceilings.memory_bytes()).unwrap_or(usize::MAX));
        // Memories are decommitted between instances (no `linear_memory_keep_resident`):
        // keeping 2 MiB resident saved ~15 µs per task and cost ~3 MiB of worker RSS.
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .consume_fuel(metered)
            .max_wasm_stack(ceilings.max_wasm_stack())
            .memory_init_cow(true)
            .cranelift_opt_level(wasmtime::OptLevel::Speed);
        if options.perf_map {
            config.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        let engine = Engine::new(&config).map_err(internal)?;
        start_epoch_ticker(&engine, ceilings.epoch_tick());

        let mut linker: Linker<TaskState<I>> = Linker::new(&engine);
        wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state| &mut state.wasi)
            .map_err(internal)?;
        add_sparkwasm_imports(&mut linker).map_err(internal)?;
        Ok(EngineParts { engine, linker })
    }

    /// Compiles `bytes` within `deadline` and resolves its imports.
    ///
    /// Compiling is not interruptible, and a small hostile module can take minutes (one
    /// huge function), so it runs on its own thread and the task gives up waiting at the
    /// deadline. The abandoned compilation keeps a core busy until it ends or the process
    /// exits: the host ends the connection after a failed task, and with it the process.
    fn prepare(
        &self,
        bytes: &[u8],
        digest: &str,
        deadline: Duration,
        cache: Option<&ModuleCache>,
    ) -> Result<(InstancePre<TaskState<I>>, ModuleSource), Error> {
        if let Some(module) = cache.and_then(|cache| cache.load(&self.engine, digest)) {
            return Ok((self.instantiate_pre(&module)?, ModuleSource::DiskCache));
        }
        let module = self.compile(bytes, deadline)?;
        if let Some(cache) = cache {
            if let Err(e) = cache.store(&self.engine, digest, &module) {
                // The worker's stderr is the executor's log; the task goes on uncached.
                eprintln!("sparkwasm: cannot write the compiled module to the module cache: {e}");
            }
        }
        Ok((self.instantiate_pre(&module)?, ModuleSource::Compiled))
    }

    /// Compiles `bytes` on a thread of its own, giving up at `deadline`.
    fn compile(&self, bytes: &[u8], deadline: Duration) -> Result<Module, Error> {
        let (done, result) = std::sync::mpsc::channel();
        let engine = self.engine.clone();
        let owned = bytes.to_vec();
        std::thread::Builder::new()
            .name("sparkwasm-compile".into())
            .spawn(move || {
                // The receiver may have given up; then nobody needs the module.
                let _ = done.send(Module::new(&engine, &owned));
            })
            .map_err(|e| {
                Error::new(
                    ErrorKind::Internal,
                    format!("starting the compiler thread: {e}"),
                )
            })?;
        let module = match result.recv_timeout(deadline) {
            Ok(compiled) => compiled.map_err(|e| {
                Error::new(ErrorKind::InvalidModule, format!("does not compile: {e:#}"))
            })?,
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Deadline,
                    format!(
                        "compiling the module ({} bytes) took longer than {} s ({})",
                        bytes.len(),
                        deadline.as_secs_f64(),
                        setting::COMPILE_DEADLINE.describe()
                    ),
                ))
            }
        };
        Ok(module)
    }

    /// Resolves `module`'s imports against the sparkwasm linker.
    fn instantiate_pre(&self, module: &Module) -> Result<InstancePre<TaskState<I>>, Error> {
        self.linker.instantiate_pre(module).map_err(|e| {
            Error::new(
                ErrorKind::InvalidModule,
                format!(
                    "needs imports sparkwasm does not provide (only WASI preview 1 and \
                     `{IMPORT_MODULE}` are available): {e:#}"
                ),
            )
        })
    }
}

/// The engines, the per-process module cache and the operator's ceilings.
pub struct Runtime<I: TaskIo> {
    plain: EngineParts<I>,
    /// The fuel-metering engine, made the first time a task asks for a fuel budget:
    /// metering slows every guest down, so tasks without a budget never pay for it.
    metered: OnceLock<Result<EngineParts<I>, Error>>,
    ceilings: Policy,
    options: EngineOptions,
    modules: HashMap<String, Arc<LoadedModule<I>>>,
    cache: Result<Option<ModuleCache>, String>,
}

impl<I: TaskIo> Runtime<I> {
    /// Creates the engine under the operator's `ceilings` (its memory cap, stack cap and
    /// epoch tick are engine-wide) and starts the epoch ticker thread that enforces
    /// deadlines. Tasks run under the ceilings themselves ([`Self::run_task`]) or under a
    /// stricter policy ([`Self::run_task_under`]).
    pub fn new(ceilings: Policy) -> Result<Self, Error> {
        Self::with_options(ceilings, EngineOptions::default())
    }

    /// [`Self::new`] with the operator's engine options (module cache, profiling).
    pub fn with_options(ceilings: Policy, options: EngineOptions) -> Result<Self, Error> {
        let cache = match &options.module_cache {
            None => Ok(None),
            Some(dir) => ModuleCache::open(dir)
                .map(Some)
                .map_err(|e| format!("the module cache {} is off: {e}", dir.display())),
        };
        Ok(Runtime {
            plain: EngineParts::new(&ceilings, false, &options)?,
            metered: OnceLock::new(),
            ceilings,
            options,
            modules: HashMap::new(),
            cache,
        })
    }

    /// Why the configured module cache is off, if it is.
    pub fn module_cache_error(&self) -> Option<&str> {
        self.cache.as_ref().err().map(String::as_str)
    }

    fn cache(&self) -> Option<&ModuleCache> {
        self.cache.as_ref().ok().and_then(Option::as_ref)
    }

    /// The operator's ceilings, the policy [`Self::run_task`] applies.
    pub fn ceilings(&self) -> &Policy {
        &self.ceilings
    }

    fn metered(&self) -> Result<&EngineParts<I>, Error> {
        self.metered
            .get_or_init(|| EngineParts::new(&self.ceilings, true, &self.options))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Returns the module with `expected_digest`, compiling `bytes` the first time, ready to
    /// run under the ceilings ([`Self::load_under`] with them).
    pub fn load(
        &mut self,
        bytes: &[u8],
        expected_digest: &str,
    ) -> Result<Arc<LoadedModule<I>>, Error> {
        let ceilings = self.ceilings.clone();
        self.load_under(&ceilings, bytes, expected_digest)
    }

    /// Returns the module with `expected_digest`, ready to run under `policy`: compiled the
    /// first time, and compiled for the fuel-metering engine the first time `policy` has a
    /// fuel budget. Bytes whose SHA-256 differs from `expected_digest` are refused, every
    /// time: the module a task runs is always the one its command names and carries.
    pub fn load_under(
        &mut self,
        policy: &Policy,
        bytes: &[u8],
        expected_digest: &str,
    ) -> Result<Arc<LoadedModule<I>>, Error> {
        let cap = self.ceilings.module_bytes();
        if bytes.len() as u64 > cap {
            return Err(Error::new(
                ErrorKind::InvalidModule,
                format!(
                    "the module is {} bytes, larger than the {} MiB module cap ({})",
                    bytes.len(),
                    cap >> 20,
                    setting::MODULE.describe()
                ),
            ));
        }
        // Hashing a module takes well under a millisecond (SHA-NI); keeping its bytes to
        // compare instead would cost their size in every worker.
        let actual = digest_hex(bytes);
        if actual != expected_digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("the command names module sha256:{expected_digest} but its bytes hash to sha256:{actual}"),
            ));
        }
        let module = match self.modules.get(expected_digest) {
            Some(module) => Arc::clone(module),
            None => {
                let info = inspect(bytes)?;
                let (pre, source) = self.plain.prepare(
                    bytes,
                    expected_digest,
                    self.ceilings.compile_deadline(),
                    self.cache(),
                )?;
                let loaded = Arc::new(LoadedModule {
                    info,
                    pre,
                    metered: OnceLock::new(),
                    source,
                });
                self.modules
                    .insert(expected_digest.to_owned(), Arc::clone(&loaded));
                loaded
            }
        };
        if policy.fuel().is_some() {
            let metered = self.metered()?;
            module
                .metered
                .get_or_init(|| {
                    metered
                        .prepare(
                            bytes,
                            expected_digest,
                            self.ceilings.compile_deadline(),
                            self.cache(),
                        )
                        .map(|(pre, _)| pre)
                })
                .as_ref()
                .map_err(Clone::clone)?;
        }
        Ok(module)
    }

    /// Runs one task under the ceilings; see [`Self::run_task_under`].
    pub fn run_task(
        &self,
        module: &LoadedModule<I>,
        request: &TaskRequest,
        io: I,
    ) -> (I, Result<TaskReport, Error>) {
        self.run_task_under(&self.ceilings, module, request, io)
    }

    /// Runs one task in a fresh instance of `module` under `policy` (whose memory cap is
    /// bounded by the engine's), with `io` as its data path. Returns `io` in every case so
    /// the caller can keep using its connection.
    pub fn run_task_under(
        &self,
        policy: &Policy,
        module: &LoadedModule<I>,
        request: &TaskRequest,
        io: I,
    ) -> (I, Result<TaskReport, Error>) {
        let (engine, pre) = match policy.fuel() {
            None => (&self.plain.engine, &module.pre),
            Some(_) => {
                let prepared = self
                    .metered()
                    .and_then(|metered| match module.metered.get() {
                        Some(pre) => pre
                            .as_ref()
                            .map(|pre| (&metered.engine, pre))
                            .map_err(Clone::clone),
                        None => Err(Error::new(
                            ErrorKind::Internal,
                            "the task has a fuel budget but its module was not loaded under a \
                         fuel-metered policy (Runtime::load_under)",
                        )),
                    });
                match prepared {
                    Ok(prepared) => prepared,
                    Err(e) => return (io, Err(e)),
                }
            }
        };
        let stdout = BoundedPipe::new(policy.captured_output_bytes());
        let stderr = BoundedPipe::new(policy.captured_output_bytes());
        // Nothing of the host reaches the guest: no args, no environment, no sockets, and
        // no directory but the task's SparkFiles, read-only, when the task and the policy
        // grant it. Clocks and randomness are the host's, or deterministic stand-ins.
        let mut builder = WasiCtxBuilder::new();
        builder.stdout(stdout).stderr(stderr.clone());
        if policy.clock() == Determinism::Deterministic {
            builder
                .wall_clock(SteppingClock::default())
                .monotonic_clock(SteppingClock::default());
        }
        if policy.random() == Determinism::Deterministic {
            // Stage and partition, not the attempt: a retry must see what the first saw.
            let seed = (u64::from(request.info.stage_id as u32) << 32)
                | u64::from(request.info.partition_id as u32);
            builder
                .secure_random(StdRng::seed_from_u64(seed))
                .insecure_random(StdRng::seed_from_u64(!seed))
                .insecure_random_seed(u128::from(seed));
        }
        let mut info = request.info.clone();
        info.spark_files = false;
        let granted_dir = request
            .spark_files_dir
            .as_ref()
            .filter(|d| policy.spark_files() && d.is_dir());
        if let Some(dir) = granted_dir {
            if let Err(e) = builder.preopened_dir(dir, SPARK_FILES_GUEST_DIR, FsPerms::ReadOnly) {
                let message = format!(
                    "cannot open the SparkFiles directory {} for the guest: {e:#}",
                    dir.display()
                );
                return (io, Err(Error::new(ErrorKind::Io, message)));
            }
            info.spark_files = true;
        }
        let started = Instant::now();
        let state = TaskState {
            wasi: builder.build_p1(),
            io: Some(io),
            memory_cap: policy.memory_bytes().min(self.ceilings.memory_bytes()),
            memory_denied: false,
            output_limit_hit: None,
            guest_fault: None,
            reported_error: None,
            output: OutputShape::of(&request.output),
            pending_shuffle_key: false,
            broadcast_ids: request.broadcasts.iter().map(|b| b.id).collect(),
            accumulator_bytes: 0,
            limits: policy.clone(),
            report: TaskReport::default(),
            task_ends: started + policy.task_deadline(),
            last_host_call: started,
            deadline_hit: None,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| state);
        if let Some(fuel) = policy.fuel() {
            if let Err(e) = store.set_fuel(fuel) {
                let io = store.into_data().io;
                let error = Error::new(ErrorKind::Internal, format!("setting fuel: {e}"));
                return (io.expect("the task state owns the io"), Err(error));
            }
        }
        // Every tick, check both deadlines: the task's, and the time since the guest last
        // called the host.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            let now = Instant::now();
            if now >= state.task_ends {
                state.deadline_hit = Some(DeadlineHit::Task);
            } else if now.duration_since(state.last_host_call) >= state.limits.call_deadline() {
                state.deadline_hit = Some(DeadlineHit::Call);
            } else {
                return Ok(UpdateDeadline::Continue(1));
            }
            Ok(UpdateDeadline::Interrupt)
        });

        let result = run_in_store(&mut store, pre, &module.info, request, info, started);
        let result = result.map_err(|e| e.with_guest_stderr(stderr.text()));
        let state = store.into_data();
        let io = state
            .io
            .expect("the task state owns the io until the store is dropped");
        (io, result)
    }
}

/// Advances the engine's epoch once per tick, so stores' deadline checks run. The thread
/// holds the engine weakly and ends once the engine is gone (a worker has one engine for
/// its life; tests make many, and each holds address space).
fn start_epoch_ticker(engine: &Engine, tick: Duration) {
    let engine = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("sparkwasm-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(tick);
            match engine.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        });
    if let Err(e) = spawned {
        // Without the ticker deadlines never fire; tasks still run, so say it and go on.
        eprintln!("sparkwasm: cannot start the epoch ticker, deadlines are off: {e}");
    }
}

/// What the output checks need to know of the task's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutputShape {
    /// Any sequence of whole records.
    Records,
    /// (8-byte partition below `partitions`, batch) record pairs.
    Shuffle { partitions: u32 },
    /// Exactly one record.
    One,
    /// Columnar batches: the host validates them (see [`TaskOutput::Columnar`]).
    Columnar,
}

impl OutputShape {
    fn of(output: &TaskOutput) -> Self {
        match output {
            TaskOutput::Shuffle { partitions, .. } => OutputShape::Shuffle {
                partitions: *partitions,
            },
            TaskOutput::Count => OutputShape::One,
            TaskOutput::Columnar => OutputShape::Columnar,
            TaskOutput::Pickle
            | TaskOutput::Binary
            | TaskOutput::Take { .. }
            | TaskOutput::Text
            | TaskOutput::SampleKeys { .. } => OutputShape::Records,
        }
    }
}

/// Per-task state stored in the wasmtime store.
pub struct TaskState<I> {
    wasi: WasiP1Ctx,
    io: Option<I>,
    memory_cap: u64,
    memory_denied: bool,
    output_limit_hit: Option<String>,
    guest_fault: Option<String>,
    reported_error: Option<String>,
    output: OutputShape,
    pending_shuffle_key: bool,
    /// The broadcast ids bound to the task: the only ones the guest may read.
    broadcast_ids: HashSet<i64>,
    /// Bytes of accumulator updates collected so far.
    accumulator_bytes: usize,
    limits: Policy,
    report: TaskReport,
    /// When the task deadline passes.
    task_ends: Instant,
    /// When the guest last called (or returned from) the host: the call deadline counts
    /// from here, so time the host waits for the JVM is not charged to the guest.
    last_host_call: Instant,
    /// Which deadline interrupted the guest.
    deadline_hit: Option<DeadlineHit>,
}

/// The deadline that stopped a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeadlineHit {
    Task,
    Call,
}

/// A deterministic clock (wall and monotonic): the Unix epoch, plus one microsecond per
/// reading, so time still moves forward for code that waits on it.
#[derive(Default)]
struct SteppingClock(AtomicU64);

impl SteppingClock {
    fn tick(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }
}

impl HostWallClock for SteppingClock {
    fn resolution(&self) -> Duration {
        Duration::from_micros(1)
    }

    fn now(&self) -> Duration {
        Duration::from_micros(self.tick())
    }
}

impl HostMonotonicClock for SteppingClock {
    fn resolution(&self) -> u64 {
        1_000
    }

    fn now(&self) -> u64 {
        self.tick().saturating_mul(1_000)
    }
}

impl<I: Send> ResourceLimiter for TaskState<I> {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = u64::try_from(desired).is_ok_and(|d| d <= self.memory_cap);
        if !allowed {
            self.memory_denied = true;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A host-side failure inside an import, carried through the guest's trap.
#[derive(Debug)]
struct HostFault(Error);

impl std::fmt::Display for HostFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for HostFault {}

fn host_fault(kind: ErrorKind, message: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(HostFault(Error::new(kind, message)))
}

fn memory_of<I: TaskIo>(caller: &mut Caller<'_, TaskState<I>>) -> wasmtime::Result<Memory> {
    caller
        .get_export(EXPORT_MEMORY)
        .and_then(|e| e.into_memory())
        .ok_or_else(|| host_fault(ErrorKind::GuestFault, "the module exports no `memory`"))
}

/// The guest range `ptr..ptr+len`, or a fault if it is outside memory.
fn guest_range(memory_len: usize, ptr: u32, len: u32) -> wasmtime::Result<std::ops::Range<usize>> {
    let start = usize::try_from(ptr).unwrap_or(usize::MAX);
    let end = start.checked_add(usize::try_from(len).unwrap_or(usize::MAX));
    match end {
        Some(end) if end <= memory_len => Ok(start..end),
        _ => Err(host_fault(
            ErrorKind::GuestFault,
            format!("the guest passed a buffer ({len} bytes at {ptr:#x}) outside its memory ({memory_len} bytes)"),
        )),
    }
}

fn add_sparkwasm_imports<I: TaskIo>(linker: &mut Linker<TaskState<I>>) -> wasmtime::Result<()> {
    linker.func_wrap(
        IMPORT_MODULE,
        IMPORT_INPUT_NEXT,
        |mut caller: Caller<'_, TaskState<I>>, ptr: u32, cap: u32| -> wasmtime::Result<i64> {
            let memory = memory_of(&mut caller)?;
            let (bytes, state) = memory.data_and_store_mut(&mut caller);
            let range = guest_range(bytes.len(), ptr, cap)?;
            let io = state.io.as_mut().ok_or_else(|| {
                host_fault(ErrorKind::Internal, "task io is missing during the task")
            })?;
            let batch = io
                .next_input(&mut bytes[range])
                .map_err(|e| host_fault(ErrorKind::Io, format!("reading input: {e}")))?;
            state.last_host_call = Instant::now();
            state.report.input_batches += 1;
            Ok(match batch {
                InputBatch::Filled(n) => i64::try_from(n).unwrap_or(i64::MAX),
                InputBatch::End => 0,
                InputBatch::NeedCapacity(n) => -i64::try_from(n).unwrap_or(i64::MAX),
            })
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        IMPORT_OUTPUT_WRITE,
        |mut caller: Caller<'_, TaskState<I>>, ptr: u32, len: u32| -> wasmtime::Result<i32> {
            let memory = memory_of(&mut caller)?;
            let (bytes, state) = memory.data_and_store_mut(&mut caller);
            let range = guest_range(bytes.len(), ptr, len)?;
            let batch = &bytes[range];
            if let Err(refusal) = state.check_output(batch) {
                return Ok(match refusal {
                    Refusal::Limit(message) => {
                        state.output_limit_hit = Some(message);
                        1
                    }
                    Refusal::Malformed(message) => {
                        state.guest_fault = Some(message);
                        2
                    }
                });
            }
            let io = state.io.as_mut().ok_or_else(|| {
                host_fault(ErrorKind::Internal, "task io is missing during the task")
            })?;
            match io.write_output(batch) {
                Ok(()) => {}
                // The host found the batch malformed (columnar output): the guest's fault.
                Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                    state.guest_fault = Some(e.to_string());
                    return Ok(2);
                }
                Err(e) => return Err(host_fault(ErrorKind::Io, format!("writing output: {e}"))),
            }
            state.last_host_call = Instant::now();
            Ok(0)
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        IMPORT_REPORT_ERROR,
        |mut caller: Caller<'_, TaskState<I>>, ptr: u32, len: u32| -> wasmtime::Result<()> {
            let memory = memory_of(&mut caller)?;
            let (bytes, state) = memory.data_and_store_mut(&mut caller);
            let range = guest_range(bytes.len(), ptr, len)?;
            let keep = range.len().min(state.limits.error_message_bytes());
            let message = &bytes[range.start..range.start + keep];
            let mut text = String::from_utf8_lossy(message).into_owned();
            if keep < range.len() {
                text.push_str(" [... truncated]");
            }
            state.reported_error = Some(text);
            Ok(())
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        IMPORT_BROADCAST_READ,
        |mut caller: Caller<'_, TaskState<I>>,
         id: i64,
         ptr: u32,
         cap: u32|
         -> wasmtime::Result<i64> {
            let memory = memory_of(&mut caller)?;
            let (bytes, state) = memory.data_and_store_mut(&mut caller);
            let range = guest_range(bytes.len(), ptr, cap)?;
            // Only the task's own broadcasts: the registry holds every broadcast of the
            // connection, and another job's values are none of this guest's business.
            if !state.broadcast_ids.contains(&id) {
                return Ok(BROADCAST_UNKNOWN);
            }
            let io = state.io.as_mut().ok_or_else(|| {
                host_fault(ErrorKind::Internal, "task io is missing during the task")
            })?;
            let buf = &mut bytes[range];
            let cap = buf.len();
            let read = io
                .read_broadcast(id, buf)
                .map_err(|e| host_fault(ErrorKind::Io, format!("reading broadcast {id}: {e}")))?;
            state.last_host_call = Instant::now();
            match read {
                BroadcastRead::Copied(n) if n <= cap => Ok(i64::try_from(n).unwrap_or(i64::MAX)),
                BroadcastRead::NeedCapacity(n) if n > cap as u64 => {
                    Ok(-i64::try_from(n).unwrap_or(i64::MAX))
                }
                BroadcastRead::Unknown => Ok(BROADCAST_UNKNOWN),
                other => Err(host_fault(
                    ErrorKind::Internal,
                    format!(
                        "the host answered {other:?} for broadcast {id} into a {cap}-byte buffer"
                    ),
                )),
            }
        },
    )?;
    linker.func_wrap(
        IMPORT_MODULE,
        IMPORT_ACCUMULATOR_UPDATE,
        |mut caller: Caller<'_, TaskState<I>>, ptr: u32, len: u32| -> wasmtime::Result<i32> {
            let memory = memory_of(&mut caller)?;
            let (bytes, state) = memory.data_and_store_mut(&mut caller);
            let range = guest_range(bytes.len(), ptr, len)?;
            let limits = &state.limits;
            let count = state.report.accumulator_updates.len();
            let refusal = if count >= limits.accumulator_updates_per_task() {
                Some(format!(
                    "the guest sent more than {} accumulator updates",
                    limits.accumulator_updates_per_task()
                ))
            } else if range.len()
                > limits
                    .accumulator_bytes_per_task()
                    .saturating_sub(state.accumulator_bytes)
            {
                Some(format!(
                    "the guest's accumulator updates exceed {} bytes",
                    limits.accumulator_bytes_per_task()
                ))
            } else {
                None
            };
            if let Some(message) = refusal {
                state.output_limit_hit = Some(message);
                return Ok(1);
            }
            state.accumulator_bytes += range.len();
            state.report.accumulator_updates.push(bytes[range].to_vec());
            Ok(0)
        },
    )?;
    Ok(())
}

enum Refusal {
    Limit(String),
    Malformed(String),
}

impl<I> TaskState<I> {
    /// Checks an output batch before it leaves the sandbox: whole records, no negative
    /// lengths, shuffle records in (8-byte partition in range, batch) pairs, a single record
    /// where the output is one, and within the limits. The JVM would desynchronise on
    /// anything else, so nothing malformed gets through.
    fn check_output(&mut self, batch: &[u8]) -> Result<(), Refusal> {
        let batch_len = batch.len() as u64;
        if batch_len > self.limits.output_bytes_per_batch() {
            return Err(Refusal::Limit(format!(
                "an output batch of {batch_len} bytes exceeds the per-batch limit of {} bytes ({})",
                self.limits.output_bytes_per_batch(),
                setting::OUTPUT_BATCH.describe()
            )));
        }
        let total = self.report.output_bytes + batch_len;
        if total > self.limits.output_bytes_per_task() {
            return Err(Refusal::Limit(format!(
                "the task's output exceeds the per-task limit of {} bytes ({})",
                self.limits.output_bytes_per_task(),
                setting::OUTPUT_TASK.describe()
            )));
        }
        if self.output == OutputShape::Columnar {
            // One batch, counted as one record; its content is the host's to check.
            self.report.output_bytes = total;
            self.report.output_records += 1;
            return Ok(());
        }
        let mut rest = batch;
        let mut records = 0u64;
        let mut pending_key = self.pending_shuffle_key;
        while !rest.is_empty() {
            let index = self.report.output_records + records;
            let Some((header, tail)) = rest.split_first_chunk::<RECORD_HEADER_LEN>() else {
                return Err(Refusal::Malformed(format!(
                    "output batch ends inside a record header ({} stray bytes)",
                    rest.len()
                )));
            };
            let len = i32::from_be_bytes(*header);
            let Ok(len) = usize::try_from(len) else {
                return Err(Refusal::Malformed(format!(
                    "output record {index} has negative length {len}"
                )));
            };
            let Some((record, after)) = tail.split_at_checked(len) else {
                return Err(Refusal::Malformed(format!(
                    "output record {index} claims {len} bytes but only {} follow",
                    tail.len()
                )));
            };
            if len as u64 > self.limits.output_bytes_per_record() {
                return Err(Refusal::Limit(format!(
                    "output record {index} of {len} bytes exceeds the per-record limit of {} bytes ({})",
                    self.limits.output_bytes_per_record(),
                    setting::OUTPUT_RECORD.describe()
                )));
            }
            match self.output {
                OutputShape::Shuffle { partitions } if !pending_key => {
                    let Ok(partition) = <[u8; 8]>::try_from(record).map(i64::from_be_bytes) else {
                        return Err(Refusal::Malformed(format!(
                            "shuffle output record {index} should be an 8-byte partition number, has {len} bytes"
                        )));
                    };
                    if partition < 0 || partition >= i64::from(partitions) {
                        return Err(Refusal::Malformed(format!(
                            "shuffle output names partition {partition}, outside 0..{partitions}"
                        )));
                    }
                    pending_key = true;
                }
                OutputShape::Shuffle { .. } => pending_key = false,
                OutputShape::One if index > 0 => {
                    return Err(Refusal::Malformed(
                        "this output is a single record, and the guest wrote a second one".into(),
                    ))
                }
                OutputShape::One | OutputShape::Records | OutputShape::Columnar => {}
            }
            rest = after;
            records += 1;
        }
        self.pending_shuffle_key = pending_key;
        self.report.output_bytes = total;
        self.report.output_records += records;
        Ok(())
    }

    /// Checks what can only be checked once the guest says it is done.
    fn check_complete(&self) -> Result<(), Error> {
        if self.pending_shuffle_key {
            return Err(Error::new(
                ErrorKind::GuestFault,
                "shuffle output ended after a partition number without its batch",
            ));
        }
        if self.output == OutputShape::One && self.report.output_records != 1 {
            return Err(Error::new(
                ErrorKind::GuestFault,
                format!(
                    "this output is a single record, and the guest wrote {}",
                    self.report.output_records
                ),
            ));
        }
        Ok(())
    }
}

fn run_in_store<I: TaskIo>(
    store: &mut Store<TaskState<I>>,
    pre: &InstancePre<TaskState<I>>,
    module_info: &ModuleInfo,
    request: &TaskRequest,
    info: TaskInfo,
    started: Instant,
) -> Result<TaskReport, Error> {
    let instance = pre
        .instantiate(&mut *store)
        .map_err(|e| classify(store, e, started))?;
    if let Some(init) = instance.get_func(&mut *store, "_initialize") {
        let init = init
            .typed::<(), ()>(&*store)
            .map_err(|e| Error::new(ErrorKind::InvalidModule, format!("`_initialize`: {e}")))?;
        init.call(&mut *store, ())
            .map_err(|e| classify(store, e, started))?;
    }
    let abi_version = instance
        .get_typed_func::<(), u32>(&mut *store, EXPORT_ABI_VERSION)
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidModule,
                format!("`{EXPORT_ABI_VERSION}`: {e}"),
            )
        })?
        .call(&mut *store, ())
        .map_err(|e| classify(store, e, started))?;
    if abi_version != ABI_VERSION {
        return Err(Error::new(
            ErrorKind::AbiVersion,
            format!("the module speaks sparkwasm ABI version {abi_version}, this worker speaks {ABI_VERSION}"),
        ));
    }

    let mut handles: HashMap<&str, u32> = HashMap::new();
    for name in request.function_names() {
        if handles.contains_key(name) {
            continue;
        }
        if module_info.function(name).is_none() {
            return Err(Error::new(
                ErrorKind::UnknownFunction,
                format!("the module has no function `{name}`"),
            ));
        }
        let export = sparkwasm_abi::function_export_name(name);
        let handle = instance
            .get_typed_func::<(), u32>(&mut *store, &export)
            .map_err(|e| Error::new(ErrorKind::InvalidModule, format!("`{export}`: {e}")))?
            .call(&mut *store, ())
            .map_err(|e| classify(store, e, started))?;
        handles.insert(name, handle);
    }
    let spec = request.to_spec(info, |name| handles.get(name).copied())?;
    let spec_bytes = postcard::to_allocvec(&spec)
        .map_err(|e| Error::new(ErrorKind::Internal, format!("encoding the task spec: {e}")))?;
    let spec_len = u32::try_from(spec_bytes.len())
        .map_err(|_| Error::new(ErrorKind::Internal, "task spec larger than 4 GiB"))?;

    let alloc = instance
        .get_typed_func::<u32, u32>(&mut *store, EXPORT_ALLOC)
        .map_err(|e| Error::new(ErrorKind::InvalidModule, format!("`{EXPORT_ALLOC}`: {e}")))?;
    let spec_ptr = alloc
        .call(&mut *store, spec_len)
        .map_err(|e| classify(store, e, started))?;
    let memory = instance
        .get_memory(&mut *store, EXPORT_MEMORY)
        .ok_or_else(|| Error::new(ErrorKind::InvalidModule, "no exported memory"))?;
    if spec_ptr == 0 {
        return Err(Error::new(
            ErrorKind::MemoryLimit,
            "the guest could not allocate the task spec",
        ));
    }
    memory
        .write(
            &mut *store,
            usize::try_from(spec_ptr).unwrap_or(usize::MAX),
            &spec_bytes,
        )
        .map_err(|_| {
            Error::new(
                ErrorKind::GuestFault,
                format!("`{EXPORT_ALLOC}` returned {spec_ptr:#x}, outside the guest's memory"),
            )
        })?;

    let run = instance
        .get_typed_func::<(u32, u32), i32>(&mut *store, EXPORT_RUN_TASK)
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidModule,
                format!("`{EXPORT_RUN_TASK}`: {e}"),
            )
        })?;
    let status = run
        .call(&mut *store, (spec_ptr, spec_len))
        .map_err(|e| classify(store, e, started))?;
    let state = store.data_mut();
    if let Some(message) = state.output_limit_hit.take() {
        return Err(Error::new(ErrorKind::OutputLimit, message));
    }
    if let Some(message) = state.guest_fault.take() {
        return Err(Error::new(ErrorKind::GuestFault, message));
    }
    match status {
        STATUS_OK => {
            state.check_complete()?;
            Ok(std::mem::take(&mut state.report))
        }
        STATUS_ERROR => {
            let message = state
                .reported_error
                .take()
                .unwrap_or_else(|| "the guest failed without saying why".into());
            // The SDK reports a failed allocation as an error; when the cause was the cap,
            // say so.
            if state.memory_denied {
                return Err(Error::new(
                    ErrorKind::MemoryLimit,
                    format!(
                        "the guest needed more than its {} MiB memory cap ({}): {message}",
                        state.memory_cap >> 20,
                        setting::MEMORY.describe()
                    ),
                ));
            }
            Err(Error::new(ErrorKind::GuestError, message))
        }
        other => Err(Error::new(
            ErrorKind::GuestFault,
            format!("`{EXPORT_RUN_TASK}` returned unknown status {other}"),
        )),
    }
}

/// Turns a wasmtime error from a guest call into a typed error, using what the task state
/// observed (denied memory growth, a reported panic message, a host fault).
fn classify<I: TaskIo>(
    store: &mut Store<TaskState<I>>,
    error: wasmtime::Error,
    started: Instant,
) -> Error {
    if let Some(HostFault(inner)) = error.downcast_ref::<HostFault>() {
        return inner.clone();
    }
    let state = store.data_mut();
    let limits = &state.limits;
    let reported = state.reported_error.take();
    if let Some(message) = state.output_limit_hit.take() {
        return Error::new(ErrorKind::OutputLimit, message);
    }
    let trap = error.downcast_ref::<Trap>().copied();
    if state.memory_denied {
        return Error::new(
            ErrorKind::MemoryLimit,
            format!(
                "the guest needed more than its {} MiB memory cap ({}){}",
                state.memory_cap >> 20,
                setting::MEMORY.describe(),
                reported.map(|r| format!(": {r}")).unwrap_or_default()
            ),
        );
    }
    match trap {
        Some(Trap::Interrupt) => match state.deadline_hit {
            Some(DeadlineHit::Call) => Error::new(
                ErrorKind::Deadline,
                format!(
                    "the guest ran for {:.1} s without calling the host, past its call deadline \
                     of {} s ({})",
                    state.last_host_call.elapsed().as_secs_f64(),
                    limits.call_deadline().as_secs_f64(),
                    setting::CALL_DEADLINE.describe()
                ),
            ),
            _ => Error::new(
                ErrorKind::Deadline,
                format!(
                    "the task ran for {:.1} s, past its deadline of {} s ({})",
                    started.elapsed().as_secs_f64(),
                    limits.task_deadline().as_secs_f64(),
                    setting::TASK_DEADLINE.describe()
                ),
            ),
        },
        Some(Trap::OutOfFuel) => Error::new(
            ErrorKind::FuelExhausted,
            format!(
                "the guest used up its fuel budget of {} ({})",
                limits.fuel().unwrap_or_default(),
                setting::FUEL.describe()
            ),
        ),
        Some(Trap::StackOverflow) => Error::new(
            ErrorKind::StackOverflow,
            format!(
                "the guest overflowed its {} KiB stack ({})",
                limits.max_wasm_stack() >> 10,
                setting::STACK.describe()
            ),
        ),
        _ => match reported {
            Some(message) => Error::new(ErrorKind::GuestPanic, message),
            None => Error::new(ErrorKind::Trap, format!("{error:#}")),
        },
    }
}
