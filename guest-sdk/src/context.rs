//! What a task carries besides its records, as guest APIs: its context ([`task_context`]),
//! broadcasts ([`broadcast`], [`broadcast_shared`]), accumulators ([`accumulator`]) and
//! SparkFiles ([`spark_file`]).
//!
//! The state lives in a thread-local for the duration of one task (on wasm32, where there are
//! no threads, a plain static); `task::run_task` installs it from the task spec and clears it
//! at the end, so nothing leaks from one task into the next instance reuse.
//!
//! Broadcasts are read from the host once per task and name (and, through
//! [`broadcast_shared`], decoded once per task and type). Accumulator additions are summed in
//! the guest and each accumulator's total is sent once, after the task's last output and only
//! when it succeeded: the driver sees every successful task's contribution exactly once.

use std::any::{type_name, Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::ops::AddAssign;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use sparkwasm_abi::{Binding, TaskInfo, TaskSpec, BROADCAST_UNKNOWN, SPARK_FILES_GUEST_DIR};

use crate::error::{pickle_message, Error};
use crate::host;

/// The state of the running task. Its maps are B-trees: a hash map's random seed would make
/// every module import WASI's `random_get`.
struct TaskState {
    info: Rc<TaskInfo>,
    broadcasts: Vec<Binding>,
    accumulators: Vec<Binding>,
    /// Broadcast pickles read so far, by name.
    broadcast_bytes: RefCell<BTreeMap<String, Rc<[u8]>>>,
    /// Broadcasts decoded so far, by name and type.
    decoded: RefCell<BTreeMap<(String, TypeId), Rc<dyn Any>>>,
    /// Totals of the accumulators asked for, in the order they were first asked for.
    totals: RefCell<Vec<Total>>,
    /// Tells this task's [`Accumulator`]s from a later task's.
    generation: u64,
}

/// One accumulator's running total.
struct Total {
    /// Index of its binding in the task spec.
    binding: usize,
    type_id: TypeId,
    type_name: &'static str,
    value: Box<dyn Any>,
    /// Pickles `(id, value)` and hands it to the host. Instantiated per value type, so a
    /// module that never uses an accumulator does not import `accumulator_update`.
    send: fn(i64, &dyn Any) -> Result<(), String>,
}

thread_local! {
    static TASK: RefCell<Option<Rc<TaskState>>> = const { RefCell::new(None) };
    static GENERATION: Cell<u64> = const { Cell::new(0) };
}

/// Installs the state of the task `spec` describes.
pub(crate) fn begin(spec: &TaskSpec) {
    let generation = GENERATION.get().wrapping_add(1);
    GENERATION.set(generation);
    let state = TaskState {
        info: Rc::new(spec.info.clone()),
        broadcasts: spec.broadcasts.clone(),
        accumulators: spec.accumulators.clone(),
        broadcast_bytes: RefCell::default(),
        decoded: RefCell::default(),
        totals: RefCell::default(),
        generation,
    };
    TASK.set(Some(Rc::new(state)));
}

/// Clears the task state (accumulator totals not sent are dropped).
pub(crate) fn end() {
    TASK.set(None);
}

fn current(what: &'static str) -> Result<Rc<TaskState>, Error> {
    TASK.with_borrow(|task| task.clone())
        .ok_or(Error::NoTask(what))
}

/// Sends every accumulator's total to the host, in the task spec's order.
pub(crate) fn send_accumulators() -> Result<(), Error> {
    let Ok(task) = current("accumulators") else {
        return Ok(());
    };
    let mut totals = task.totals.borrow_mut();
    totals.sort_by_key(|total| total.binding);
    for total in totals.iter() {
        let Some(binding) = task.accumulators.get(total.binding) else {
            return Err(Error::internal("accumulator binding out of range"));
        };
        (total.send)(binding.id, total.value.as_ref()).map_err(|message| {
            Error::AccumulatorUpdate {
                name: binding.name.clone(),
                message,
            }
        })?;
    }
    Ok(())
}

/// The names of `bindings`, for messages.
fn names(bindings: &[Binding]) -> String {
    if bindings.is_empty() {
        return "none".into();
    }
    bindings
        .iter()
        .map(|binding| format!("{:?}", binding.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The context of the running task, as `pyspark.TaskContext` shows it.
///
/// Cheap to clone. Outside a task (for example in a unit test calling an author function
/// directly) every field is zero and there are no local properties.
#[derive(Clone, Debug)]
pub struct TaskContext {
    info: Rc<TaskInfo>,
}

impl TaskContext {
    /// The index of the partition the task processes.
    pub fn partition_id(&self) -> i32 {
        self.info.partition_id
    }

    /// The id of the task's stage.
    pub fn stage_id(&self) -> i32 {
        self.info.stage_id
    }

    /// How many times this task was attempted before (0 for the first attempt).
    pub fn attempt_number(&self) -> i32 {
        self.info.attempt_number
    }

    /// The task attempt's id, unique within the application.
    pub fn task_attempt_id(&self) -> i64 {
        self.info.task_attempt_id
    }

    /// A local property of the job (`sc.setLocalProperty(key, value)` on the driver).
    pub fn local_property(&self, key: &str) -> Option<&str> {
        self.info
            .local_properties
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, value)| value.as_str())
    }
}

/// The context of the running task (partition, stage, attempt, local properties).
pub fn task_context() -> TaskContext {
    let info = TASK.with_borrow(|task| task.as_ref().map(|task| task.info.clone()));
    TaskContext {
        info: info.unwrap_or_default(),
    }
}

/// The value of the broadcast the driver bound to `name`, decoded from its pickle into `T`.
///
/// The broadcast's bytes are read from the host once per task; every call decodes them anew,
/// so for a large broadcast used per record prefer [`broadcast_shared`], which decodes once.
///
/// ```ignore
/// let offset: i64 = sparkwasm::broadcast("offset")?;
/// ```
pub fn broadcast<T: DeserializeOwned + 'static>(name: &str) -> Result<T, Error> {
    let bytes = broadcast_bytes(name)?;
    decode_broadcast(name, &bytes)
}

/// The value of the broadcast bound to `name`, decoded into `T` once per task and shared.
///
/// ```ignore
/// let names = sparkwasm::broadcast_shared::<HashMap<i64, String>>("names")?;
/// let name = names.get(&id);
/// ```
pub fn broadcast_shared<T: DeserializeOwned + 'static>(name: &str) -> Result<Rc<T>, Error> {
    let task = current("sparkwasm::broadcast_shared")?;
    let key = (name.to_owned(), TypeId::of::<T>());
    let cached = task.decoded.borrow().get(&key).cloned();
    if let Some(Ok(value)) = cached.map(|value| value.downcast::<T>()) {
        return Ok(value);
    }
    let bytes = broadcast_bytes(name)?;
    let value = Rc::new(decode_broadcast::<T>(name, &bytes)?);
    task.decoded.borrow_mut().insert(key, value.clone());
    Ok(value)
}

fn decode_broadcast<T: DeserializeOwned>(name: &str, bytes: &[u8]) -> Result<T, Error> {
    serde_pickle::from_slice(bytes, serde_pickle::DeOptions::new()).map_err(|err| {
        Error::BroadcastDecode {
            name: name.to_owned(),
            type_name: type_name::<T>(),
            message: pickle_message(err),
        }
    })
}

/// The pickle of broadcast `name`, read from the host on first use in the task.
fn broadcast_bytes(name: &str) -> Result<Rc<[u8]>, Error> {
    let task = current("sparkwasm::broadcast")?;
    if let Some(bytes) = task.broadcast_bytes.borrow().get(name) {
        return Ok(bytes.clone());
    }
    let Some(binding) = task.broadcasts.iter().find(|b| b.name == name) else {
        return Err(Error::UnknownBroadcast {
            name: name.to_owned(),
            available: names(&task.broadcasts),
        });
    };
    let bytes: Rc<[u8]> = read_broadcast(binding)?.into();
    task.broadcast_bytes
        .borrow_mut()
        .insert(name.to_owned(), bytes.clone());
    Ok(bytes)
}

/// Reads a broadcast from the host, growing the buffer once when the host asks.
fn read_broadcast(binding: &Binding) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0; 64 * 1024];
    for _ in 0..2 {
        let result = host::broadcast_read(binding.id, &mut buf);
        if result == BROADCAST_UNKNOWN {
            return Err(Error::BroadcastUnavailable {
                name: binding.name.clone(),
                id: binding.id,
            });
        }
        if result < 0 {
            let needed = usize::try_from(result.unsigned_abs()).unwrap_or(usize::MAX);
            if needed <= buf.len() {
                break;
            }
            let mut grown = Vec::new();
            grown.try_reserve_exact(needed).map_err(|_| {
                Error::internal(format!(
                    "cannot allocate {needed} bytes for broadcast {:?}",
                    binding.name
                ))
            })?;
            grown.resize(needed, 0);
            buf = grown;
            continue;
        }
        let len = usize::try_from(result).unwrap_or(usize::MAX);
        if len > buf.len() {
            return Err(Error::InputOverrun {
                written: result,
                capacity: buf.len(),
            });
        }
        buf.truncate(len);
        return Ok(buf);
    }
    Err(Error::internal(format!(
        "the host's broadcast_read kept asking for another buffer size for {:?}",
        binding.name
    )))
}

/// What an accumulator's value type needs: a sum in the guest, and a pickle for the driver.
pub trait AccumulatorValue: Serialize + AddAssign + Default + Clone + 'static {}

impl<T: Serialize + AddAssign + Default + Clone + 'static> AccumulatorValue for T {}

/// An accumulator of the running task; see [`accumulator`].
#[derive(Debug)]
pub struct Accumulator<T> {
    slot: usize,
    generation: u64,
    _type: PhantomData<fn(T)>,
}

impl<T> Clone for Accumulator<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Accumulator<T> {}

impl<T: AccumulatorValue> Accumulator<T> {
    /// Adds `value` to the task's total (sent to the driver once, when the task succeeds).
    ///
    /// # Panics
    ///
    /// When called after the task that created the accumulator ended.
    pub fn add(&self, value: T) {
        let added = TASK.with_borrow(|task| {
            let task = task.as_ref().filter(|t| t.generation == self.generation)?;
            let mut totals = task.totals.borrow_mut();
            let total = totals.get_mut(self.slot)?.value.downcast_mut::<T>()?;
            *total += value;
            Some(())
        });
        if added.is_none() {
            panic!("a sparkwasm::Accumulator was used after the task that created it ended");
        }
    }
}

/// The accumulator the driver bound to `name`, adding values of type `T` (ints and floats,
/// or any type that sums and pickles).
///
/// ```ignore
/// sparkwasm::accumulator::<i64>("seen")?.add(1);
/// ```
pub fn accumulator<T: AccumulatorValue>(name: &str) -> Result<Accumulator<T>, Error> {
    let task = current("sparkwasm::accumulator")?;
    let Some(binding) = task.accumulators.iter().position(|b| b.name == name) else {
        return Err(Error::UnknownAccumulator {
            name: name.to_owned(),
            available: names(&task.accumulators),
        });
    };
    let mut totals = task.totals.borrow_mut();
    let slot = match totals.iter().position(|total| total.binding == binding) {
        Some(slot) => {
            let first = totals
                .get(slot)
                .map(|total| (total.type_id, total.type_name));
            match first {
                Some((id, _)) if id == TypeId::of::<T>() => slot,
                Some((_, first)) => {
                    return Err(Error::AccumulatorType {
                        name: name.to_owned(),
                        first,
                        second: type_name::<T>(),
                    })
                }
                None => return Err(Error::internal("accumulator slot out of range")),
            }
        }
        None => {
            totals.push(Total {
                binding,
                type_id: TypeId::of::<T>(),
                type_name: type_name::<T>(),
                value: Box::new(T::default()),
                send: send_total::<T>,
            });
            totals.len() - 1
        }
    };
    Ok(Accumulator {
        slot,
        generation: task.generation,
        _type: PhantomData,
    })
}

/// Pickles the Python tuple `(id, total)` and hands it to the host.
fn send_total<T: AccumulatorValue>(id: i64, total: &dyn Any) -> Result<(), String> {
    let Some(total) = total.downcast_ref::<T>() else {
        return Err("internal error: accumulator total of another type".into());
    };
    let update = serde_pickle::to_vec(&(id, total), serde_pickle::SerOptions::new())
        .map_err(pickle_message)?;
    match host::accumulator_update(&update) {
        0 => Ok(()),
        code => Err(format!(
            "the host refused it (accumulator_update returned {code})"
        )),
    }
}

/// The path of the SparkFiles file `name` (`sc.addFile`) inside the guest:
/// `/sparkfiles/<name>`, read-only. An error when the task does not grant SparkFiles.
///
/// ```ignore
/// let text = std::fs::read_to_string(sparkwasm::spark_file("lookup.txt")?)?;
/// ```
pub fn spark_file(name: &str) -> Result<PathBuf, Error> {
    let relative = Path::new(name);
    let plain = !name.is_empty()
        && relative
            .components()
            .all(|component| matches!(component, Component::Normal(_) | Component::CurDir));
    if !plain {
        return Err(Error::SparkFileName {
            name: name.to_owned(),
        });
    }
    let task = current("sparkwasm::spark_file")?;
    if !task.info.spark_files {
        return Err(Error::SparkFilesNotGranted {
            name: name.to_owned(),
        });
    }
    Ok(Path::new(SPARK_FILES_GUEST_DIR).join(relative))
}
