//! The planner: resolves a task's handles, checks the steps' kinds and arguments, and decides
//! where elements stay typed and where they become [`Value`]s — all before any record moves.
//!
//! Elements stay typed while the steps line up: a function whose input type is the current
//! element type gets the stream as is (the fast path: word count's
//! `flat_map → map → reduce_by_key → shuffle` never builds a `Value`). Where they do not line
//! up, or a step needs Python's data model (grouping, joins, tagging, sorting dynamic pairs,
//! sums, ...), the planner inserts a conversion: typed → `Value`, or `Value` → the next
//! function's input type. The shapes, step by step:
//!
//! | step | typed input (of the function's type) | otherwise |
//! |---|---|---|
//! | map, flat_map, map_partitions(_with_index) | `f`'s output type | decoded into `f`'s input, then as typed |
//! | filter | unchanged | dynamic, elements passed through unchanged |
//! | reduce_by_key, fold_by_key | unchanged (pairs whose value type is `f`'s) | dynamic |
//! | key_by | `(K, T)`, typed | dynamic |
//! | first_by_key, sort_by_key | unchanged (typed pairs) | dynamic |
//! | keys, values | `K`, `V` (typed pairs) | dynamic |
//! | reduce_all, fold_all | `f`'s type | decoded into it |
//! | aggregate_all | `f`'s accumulator type | decoded into `f`'s input |
//! | foreach, foreach_partition | nothing flows on | decoded into `f`'s input |
//! | every other step | dynamic | dynamic |

use sparkwasm_abi::{
    FunctionKind, InputEncoding, OutputSpec, Partitioner, Source, Step, StepFunctions, StepKind,
    TaskSpec,
};

use crate::element::{self, ElementType, Function, Label, Ops};
use crate::error::Error;
use crate::keyed::{self, Aggregation, Init};
use crate::output::{self, KeyPartitioner, Output, TypedSink, ValueSink, MAX_SHUFFLE_PARTITIONS};
use crate::stream::{Slot, Stream};
use crate::value::pickle::from_pickle;
use crate::value::{pair, Value};
use crate::{input, whole};

/// One planned step: consumes the stream, returns the next one.
type PlannedStep = Box<dyn FnOnce(Stream) -> Result<Stream, Error>>;
/// The planned output.
type PlannedSink = Box<dyn FnOnce(Stream, &mut Output) -> Result<(), Error>>;

/// A task's source, steps and sink, resolved and checked.
pub(crate) struct Plan {
    source: Box<dyn FnOnce() -> Stream>,
    steps: Vec<PlannedStep>,
    sink: PlannedSink,
    /// How many typed ⇄ `Value` conversions the planner inserted (tests check the fast path
    /// has none).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) conversions: usize,
}

impl Plan {
    /// Runs the plan: decodes the input, applies the steps and writes the output.
    pub(crate) fn run(self, out: &mut Output) -> Result<(), Error> {
        let mut stream = (self.source)();
        for step in self.steps {
            stream = step(stream)?;
        }
        (self.sink)(stream, out)
    }
}

/// The element type between two steps.
#[derive(Clone, Copy)]
enum Shape {
    Typed(ElementType),
    Dynamic,
}

fn resolve(handle: u32, what: impl FnOnce() -> String) -> Result<&'static Function, Error> {
    element::resolve(handle).ok_or_else(|| Error::UnknownHandle {
        what: what(),
        handle,
    })
}

/// The element type a source or a function side names.
fn side_type(function: &Function, side: sparkwasm_abi::Side) -> ElementType {
    match side {
        sparkwasm_abi::Side::Input => (function.input)(),
        sparkwasm_abi::Side::Output => (function.output)(),
    }
}

struct Builder<'s> {
    spec: &'s TaskSpec,
    shape: Shape,
    steps: Vec<PlannedStep>,
    conversions: usize,
}

impl Builder<'_> {
    fn push(&mut self, step: impl FnOnce(Stream) -> Result<Stream, Error> + 'static) {
        self.steps.push(Box::new(step));
    }

    /// Makes the elements dynamic (converting typed ones), for a step labelled `label`.
    fn dynamic(&mut self, label: &Label) {
        if let Shape::Typed(current) = self.shape {
            let label: Label = format!("{label} converting its {} input", current.name).into();
            self.push(move |s| (current.to_values)(s, label));
            self.shape = Shape::Dynamic;
            self.conversions += 1;
        }
    }

    /// Makes the elements of type `want` (converting through values unless they already are).
    fn typed(&mut self, want: ElementType, label: &Label) {
        if let Shape::Typed(current) = self.shape {
            if current.id == want.id {
                // The same type; the function's description may know more (its spelling,
                // its pair operations) than one derived from a pair's key or value type.
                self.shape = Shape::Typed(want);
                return;
            }
        }
        let from = match self.shape {
            Shape::Typed(current) => current.name,
            Shape::Dynamic => "dynamic",
        };
        self.dynamic(label);
        let label: Label = format!("{label} reading its {from} input as {}", want.name).into();
        self.push(move |s| (want.from_values)(s, label));
        self.shape = Shape::Typed(want);
        self.conversions += 1;
    }

    /// The current element type when it is a pair type.
    fn typed_pair(&self) -> Option<element::PairOps> {
        match self.shape {
            Shape::Typed(current) => current.pair,
            Shape::Dynamic => None,
        }
    }

    /// The pickled argument `index` (a zero value or range bounds), decoded.
    fn arg(&self, index: u64, what: &str) -> Result<Value, Error> {
        let bytes = usize::try_from(index)
            .ok()
            .and_then(|i| self.spec.args.get(i))
            .ok_or_else(|| {
                Error::Plan(format!(
                    "{what} names argument {index}, but the task has {} arguments",
                    self.spec.args.len()
                ))
            })?;
        from_pickle(bytes).map_err(|message| {
            Error::Plan(format!(
                "{what}: argument {index} is not a valid pickle: {message}"
            ))
        })
    }

    fn build_step(&mut self, index: usize, step: &Step) -> Result<(), Error> {
        let kind = step.kind;
        let (wanted, optional) = match kind.functions() {
            StepFunctions::Exactly(kinds) => (kinds, false),
            StepFunctions::OptionalKey => (&[FunctionKind::Key][..], true),
        };
        let count_ok =
            step.functions.len() == wanted.len() || (optional && step.functions.is_empty());
        if !count_ok {
            return Err(Error::Plan(format!(
                "step {index} ({}) takes {}{} function(s), but names {}",
                kind.as_str(),
                if optional { "0 or " } else { "" },
                wanted.len(),
                step.functions.len()
            )));
        }
        let mut functions = Vec::with_capacity(step.functions.len());
        for (&handle, &wanted) in step.functions.iter().zip(wanted) {
            let function = resolve(handle, || format!("step {index}"))?;
            if function.kind != wanted {
                return Err(Error::Plan(format!(
                    "step {index} ({}) applies `{}` as a {} function, but it is a {} function",
                    kind.as_str(),
                    function.name,
                    wanted.as_str(),
                    function.kind.as_str()
                )));
            }
            functions.push(function);
        }
        let f = functions.first().copied();
        let label: Label = match f {
            Some(f) => format!("step {index} ({} with `{}`)", kind.as_str(), f.name),
            None => format!("step {index} ({})", kind.as_str()),
        }
        .into();
        let what = format!("step {index} ({})", kind.as_str());
        let arg = |name: &str| {
            step.arg.ok_or_else(|| {
                Error::Plan(format!("{what} needs an argument ({name}) but has none"))
            })
        };
        let bug = || Error::internal(format!("{what}: a function with the wrong entry points"));

        match (kind, f.map(|f| f.ops)) {
            (
                StepKind::Map | StepKind::FlatMap | StepKind::MapPartitions,
                Some(
                    Ops::Map { rows, .. } | Ops::FlatMap { rows, .. } | Ops::MapPartitions { rows },
                ),
            ) => {
                let f = f.ok_or_else(bug)?;
                self.typed((f.input)(), &label);
                self.push(rows);
                self.shape = Shape::Typed((f.output)());
            }
            (StepKind::MapPartitionsWithIndex, Some(Ops::MapPartitionsWithIndex { rows })) => {
                let f = f.ok_or_else(bug)?;
                let partition = u32::try_from(self.spec.info.partition_id).map_err(|_| {
                    Error::Plan(format!(
                        "{what}: the task's partition id {} is negative",
                        self.spec.info.partition_id
                    ))
                })?;
                self.typed((f.input)(), &label);
                self.push(move |s| rows(s, partition));
                self.shape = Shape::Typed((f.output)());
            }
            (StepKind::Filter, Some(Ops::Filter { rows, value })) => {
                let f = f.ok_or_else(bug)?;
                let input = (f.input)();
                match self.shape {
                    Shape::Typed(current) if current.id == input.id => {
                        self.shape = Shape::Typed(input);
                        self.push(rows);
                    }
                    _ => {
                        // Python's filter hands on the elements themselves: keep the values
                        // and decode a copy for the predicate.
                        self.dynamic(&label);
                        self.push(move |s| {
                            keyed::map_elements(s, label, move |x, out| {
                                if value(&x)? {
                                    out.push_back(x);
                                }
                                Ok(())
                            })
                        });
                    }
                }
            }
            (
                StepKind::ReduceByKey | StepKind::FoldByKey,
                Some(Ops::Reduce { typed, slot, .. }),
            ) => {
                let f = f.ok_or_else(bug)?;
                let value_type = (f.input)();
                let zero = match kind {
                    StepKind::FoldByKey => Some(self.arg(arg("the zero value")?, &what)?),
                    _ => None,
                };
                match self.typed_pair() {
                    Some(pair_ops) if pair_ops.value_id == value_type.id => {
                        let name = f.name;
                        self.push(move |s| (pair_ops.merge_by_key)(s, typed(), zero, name, label));
                    }
                    _ => {
                        let init = match zero {
                            Some(zero) => Init::Zero(Box::new(move || {
                                (value_type.slot_from_value)(zero.clone())
                            })),
                            None => Init::First(Box::new(value_type.slot_from_value)),
                        };
                        let aggregation = Aggregation {
                            init,
                            merge: slot,
                            finish: value_type.slot_to_value,
                        };
                        self.dynamic(&label);
                        self.push(move |s| keyed::aggregate_by_key(s, aggregation, label));
                        self.shape = Shape::Dynamic;
                    }
                }
            }
            (StepKind::AggregateByKey, Some(Ops::SeqOp { slot, .. })) => {
                let f = f.ok_or_else(bug)?;
                let zero = self.arg(arg("the zero value")?, &what)?;
                let acc_type = (f.output)();
                let aggregation = Aggregation {
                    init: Init::Zero(Box::new(move || (acc_type.slot_from_value)(zero.clone()))),
                    merge: slot,
                    finish: acc_type.slot_to_value,
                };
                self.dynamic(&label);
                self.push(move |s| keyed::aggregate_by_key(s, aggregation, label));
            }
            (StepKind::CombineByKey, Some(Ops::Map { slot: create, .. })) => {
                let create_fn = f.ok_or_else(bug)?;
                let merge_fn = functions.get(1).copied().ok_or_else(bug)?;
                let Ops::SeqOp { slot: merge, .. } = merge_fn.ops else {
                    return Err(bug());
                };
                let combiner = (create_fn.output)();
                let acc_type = (merge_fn.output)();
                // createCombiner's output feeds mergeValue's accumulator: typed when the
                // types are the same, through a value otherwise.
                let bridge = combiner.id != acc_type.id;
                let init = Init::First(Box::new(move |v: Value| {
                    let combined = create(v)?;
                    if bridge {
                        (acc_type.slot_from_value)((combiner.slot_to_value)(&combined)?)
                    } else {
                        Ok::<Slot, String>(combined)
                    }
                }));
                let aggregation = Aggregation {
                    init,
                    merge,
                    finish: acc_type.slot_to_value,
                };
                self.dynamic(&label);
                self.push(move |s| keyed::aggregate_by_key(s, aggregation, label));
            }
            (StepKind::MapValues, Some(Ops::Map { value, .. })) => {
                self.dynamic(&label);
                self.push(move |s| {
                    keyed::map_pairs(s, label, move |k, v, out| {
                        out.push_back(pair(k, value(v)?));
                        Ok(())
                    })
                });
            }
            (StepKind::FlatMapValues, Some(Ops::FlatMap { values, .. })) => {
                self.dynamic(&label);
                self.push(move |s| {
                    keyed::map_pairs(s, label, move |k, v, out| {
                        for w in values(v)? {
                            out.push_back(pair(k.clone(), w));
                        }
                        Ok(())
                    })
                });
            }
            (
                StepKind::KeyBy,
                Some(Ops::Key {
                    key_by,
                    keyed,
                    value,
                }),
            ) => {
                let f = f.ok_or_else(bug)?;
                match self.shape {
                    Shape::Typed(current) if current.id == (f.input)().id => {
                        self.push(key_by);
                        self.shape = Shape::Typed(keyed());
                    }
                    _ => {
                        self.dynamic(&label);
                        self.push(move |s| {
                            keyed::map_elements(s, label, move |x, out| {
                                out.push_back(pair(value(&x)?, x));
                                Ok(())
                            })
                        });
                    }
                }
            }
            (StepKind::KeyByKey, Some(Ops::Key { value, .. })) => {
                // Dynamic: the sort key joins a pair of which only the key is the function's
                // input type, and the next step (a shuffle) needs values anyway.
                self.dynamic(&label);
                self.push(move |s| {
                    keyed::map_pairs(s, label, move |k, v, out| {
                        let sort_key = value(&k)?;
                        out.push_back(pair(sort_key, pair(k, v)));
                        Ok(())
                    })
                });
            }
            (StepKind::GroupByKey, None) => {
                self.dynamic(&label);
                self.push(move |s| keyed::group_by_key(s, label));
            }
            (StepKind::FirstByKey, None) => match self.typed_pair() {
                Some(pair_ops) => self.push(move |s| (pair_ops.first_by_key)(s, label)),
                None => {
                    self.dynamic(&label);
                    self.push(move |s| keyed::first_by_key_values(s, label));
                }
            },
            (StepKind::PairWithNone, None) => {
                self.dynamic(&label);
                self.push(move |s| {
                    keyed::map_elements(s, label, |x, out| {
                        out.push_back(pair(x, Value::None));
                        Ok(())
                    })
                });
            }
            (StepKind::Keys | StepKind::Values, None) => {
                let keys = kind == StepKind::Keys;
                match self.typed_pair() {
                    Some(pair_ops) => {
                        let (project, element) = if keys {
                            (pair_ops.keys, pair_ops.key)
                        } else {
                            (pair_ops.values, pair_ops.value)
                        };
                        self.push(project);
                        self.shape = Shape::Typed(element());
                    }
                    None => {
                        self.dynamic(&label);
                        self.push(move |s| {
                            keyed::map_pairs(s, label, move |k, v, out| {
                                out.push_back(if keys { k } else { v });
                                Ok(())
                            })
                        });
                    }
                }
            }
            (StepKind::Tag, None) => {
                let tag = arg("the tag")?;
                if tag > 1 {
                    return Err(Error::Plan(format!(
                        "{what}: the tag must be 0 or 1, not {tag}"
                    )));
                }
                let tag = Value::Int(if tag == 1 { 1 } else { 0 });
                self.dynamic(&label);
                self.push(move |s| {
                    keyed::map_pairs(s, label, move |k, v, out| {
                        out.push_back(pair(k, pair(tag.clone(), v)));
                        Ok(())
                    })
                });
            }
            (StepKind::Join, None) => {
                let number = arg("the join kind")?;
                let join_kind = keyed::join_kind(number).ok_or_else(|| {
                    Error::Plan(format!("{what}: {number} is not a join kind (0 to 5)"))
                })?;
                self.dynamic(&label);
                self.push(move |s| keyed::join(s, join_kind, label));
            }
            (StepKind::CountByKey, None) => {
                self.dynamic(&label);
                self.push(move |s| keyed::count_by_key(s, label));
            }
            (StepKind::SortByKey, None) => {
                let ascending = match arg("1 for ascending, 0 for descending")? {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(Error::Plan(format!(
                            "{what}: the order must be 1 (ascending) or 0 (descending), not {other}"
                        )))
                    }
                };
                match self.typed_pair() {
                    Some(pair_ops) => {
                        self.push(move |s| (pair_ops.sort_by_key)(s, ascending, label));
                    }
                    None => {
                        self.dynamic(&label);
                        self.push(move |s| keyed::sort_by_key_values(s, ascending, label));
                    }
                }
            }
            (StepKind::ReduceAll | StepKind::FoldAll, Some(Ops::Reduce { all, .. })) => {
                let f = f.ok_or_else(bug)?;
                let zero = match kind {
                    StepKind::FoldAll => Some(self.arg(arg("the zero value")?, &what)?),
                    _ => None,
                };
                self.typed((f.input)(), &label);
                self.push(move |s| all(s, zero, label));
            }
            (StepKind::AggregateAll, Some(Ops::SeqOp { all, .. })) => {
                let f = f.ok_or_else(bug)?;
                let zero = self.arg(arg("the zero value")?, &what)?;
                self.typed((f.input)(), &label);
                self.push(move |s| all(s, zero, label));
                self.shape = Shape::Typed((f.output)());
            }
            (StepKind::MaxBy | StepKind::Top, key) => {
                let key = match key {
                    Some(Ops::Key { value, .. }) => Some(value),
                    Some(_) => return Err(bug()),
                    None => None,
                };
                let number = arg(if kind == StepKind::MaxBy {
                    "1 for max, 0 for min"
                } else {
                    "n * 2 + 1 for largest first, n * 2 for smallest first"
                })?;
                self.dynamic(&label);
                if kind == StepKind::MaxBy {
                    let max = match number {
                        0 => false,
                        1 => true,
                        other => {
                            return Err(Error::Plan(format!(
                                "{what}: the argument must be 1 (max) or 0 (min), not {other}"
                            )))
                        }
                    };
                    self.push(move |s| whole::max_by(s, key, max, label));
                } else {
                    let (n, largest) = (number / 2, number % 2 == 1);
                    self.push(move |s| whole::top(s, key, n, largest, label));
                }
            }
            (StepKind::Sum, None) => {
                self.dynamic(&label);
                self.push(move |s| whole::sum(s, label));
            }
            (StepKind::Foreach, Some(Ops::Foreach { rows }))
            | (StepKind::ForeachPartition, Some(Ops::ForeachPartition { rows })) => {
                let f = f.ok_or_else(bug)?;
                self.typed((f.input)(), &label);
                self.push(rows);
                // Nothing flows on: the step yields an empty stream of values.
                self.shape = Shape::Dynamic;
            }
            _ => return Err(bug()),
        }
        Ok(())
    }

    fn build_sink(&mut self) -> Result<PlannedSink, Error> {
        let label: Label = "the output".into();
        let typed = |sink: TypedSink, current: ElementType| -> PlannedSink {
            Box::new(move |s, out| (current.sink)(s, sink, current.name, out))
        };
        let values = |sink: ValueSink| -> PlannedSink {
            Box::new(move |s, out| output::sink_values(s, sink, out))
        };
        let shape = self.shape;
        Ok(match (&self.spec.output, shape) {
            (OutputSpec::Pickle, Shape::Typed(t)) => typed(TypedSink::Pickle, t),
            (OutputSpec::Binary, Shape::Typed(t)) => typed(TypedSink::Binary, t),
            (OutputSpec::Count, Shape::Typed(t)) => typed(TypedSink::Count, t),
            (OutputSpec::Take { n }, Shape::Typed(t)) => typed(TypedSink::Take(*n), t),
            (OutputSpec::Pickle, Shape::Dynamic) => values(ValueSink::Pickle),
            (OutputSpec::Binary, Shape::Dynamic) => values(ValueSink::Binary),
            (OutputSpec::Count, Shape::Dynamic) => values(ValueSink::Count),
            (OutputSpec::Take { n }, Shape::Dynamic) => values(ValueSink::Take(*n)),
            (OutputSpec::Text, _) => {
                self.dynamic(&label);
                values(ValueSink::Text)
            }
            (OutputSpec::Columnar, _) => {
                return Err(Error::Plan("columnar output belongs to SQL tasks".into()))
            }
            (OutputSpec::SampleKeys { fraction, seed }, _) => {
                self.dynamic(&label);
                let partition = u64::from(self.spec.info.partition_id.unsigned_abs());
                values(ValueSink::SampleKeys {
                    fraction: *fraction,
                    seed: seed ^ partition,
                })
            }
            (
                OutputSpec::Shuffle {
                    partitions,
                    partitioner,
                },
                _,
            ) => {
                let partitions = *partitions;
                if partitions == 0 || partitions > MAX_SHUFFLE_PARTITIONS {
                    return Err(Error::Plan(format!(
                        "shuffle output needs between 1 and {MAX_SHUFFLE_PARTITIONS} \
                         partitions, not {partitions}"
                    )));
                }
                let pair_ops = self.typed_pair();
                let partitioner = self.partitioner(partitioner, partitions, pair_ops)?;
                match pair_ops {
                    Some(pair_ops) => {
                        Box::new(move |s, out| (pair_ops.shuffle)(s, partitions, &partitioner, out))
                    }
                    None => {
                        self.dynamic(&label);
                        Box::new(move |s, out| {
                            output::shuffle_values(s, partitions, &partitioner, out)
                        })
                    }
                }
            }
        })
    }

    fn partitioner(
        &self,
        partitioner: &Partitioner,
        partitions: u32,
        pair_ops: Option<element::PairOps>,
    ) -> Result<KeyPartitioner, Error> {
        Ok(match partitioner {
            Partitioner::Hash => KeyPartitioner::Hash,
            Partitioner::Function { function } => {
                let f = resolve(*function, || "the shuffle partitioner".into())?;
                let Ops::Partitioner { typed, value } = f.ops else {
                    return Err(Error::Plan(format!(
                        "the shuffle output partitions with `{}`, but it is a {} function, \
                         not a partitioner",
                        f.name,
                        f.kind.as_str()
                    )));
                };
                match pair_ops {
                    Some(pair_ops) if pair_ops.key_id == (f.input)().id => KeyPartitioner::Typed {
                        f: typed(),
                        name: f.name,
                    },
                    _ => KeyPartitioner::Dynamic { f: value },
                }
            }
            Partitioner::Range {
                bounds_arg,
                ascending,
            } => {
                let what = "the shuffle output's range partitioner";
                let bounds = match self.arg(u64::from(*bounds_arg), what)? {
                    Value::List(bounds) | Value::Tuple(bounds) => bounds,
                    other => {
                        return Err(Error::Plan(format!(
                            "{what}: the bounds must be a list, not {}",
                            crate::value::py_type(&other)
                        )))
                    }
                };
                if bounds.len() >= usize::try_from(partitions).unwrap_or(usize::MAX) {
                    return Err(Error::Plan(format!(
                        "{what}: {} bounds for {partitions} partitions (at most {} expected)",
                        bounds.len(),
                        partitions - 1
                    )));
                }
                KeyPartitioner::Range {
                    bounds,
                    ascending: *ascending,
                }
            }
        })
    }
}

/// Whether the plan may move its elements a batch at a time: when its output reads every
/// element (not `take`) and no step hands the partition to a user function that may stop
/// early (`map_partitions`), so batching changes no function's inputs.
fn batched(spec: &TaskSpec) -> bool {
    !matches!(spec.output, OutputSpec::Take { .. })
        && !spec.steps.iter().any(|step| {
            matches!(
                step.kind,
                StepKind::MapPartitions | StepKind::MapPartitionsWithIndex
            )
        })
}

/// Resolves every handle and plans the task's shapes, so a wrong handle, kind or argument
/// fails before any input is read.
pub(crate) fn build(spec: &TaskSpec) -> Result<Plan, Error> {
    if spec.input == InputEncoding::Columnar || spec.output == OutputSpec::Columnar {
        return Err(Error::Plan(
            "columnar input and output belong to SQL tasks, and this RDD task has no SQL \
             functions"
                .into(),
        ));
    }
    let input_encoding = spec.input;
    let batched = batched(spec);
    let (shape, source): (Shape, Box<dyn FnOnce() -> Stream>) = match spec.source {
        Source::Typed(type_ref) => {
            let origin = resolve(type_ref.function, || "the task's input type".into())?;
            if matches!(origin.kind, FunctionKind::Udf | FunctionKind::Udaf) {
                return Err(Error::Plan(format!(
                    "the task's input type names `{}`, a {} function, which has no RDD \
                     element type",
                    origin.name,
                    origin.kind.as_str()
                )));
            }
            let source = side_type(origin, type_ref.side);
            (
                Shape::Typed(source),
                Box::new(move || (source.source)(input_encoding, source.name, batched)),
            )
        }
        Source::Dynamic => (
            Shape::Dynamic,
            Box::new(move || input::dynamic_source(input_encoding)),
        ),
    };
    let mut builder = Builder {
        spec,
        shape,
        steps: Vec::with_capacity(spec.steps.len()),
        conversions: 0,
    };
    for (index, step) in spec.steps.iter().enumerate() {
        builder.build_step(index, step)?;
    }
    let sink = builder.build_sink()?;
    Ok(Plan {
        source,
        steps: builder.steps,
        sink,
        conversions: builder.conversions,
    })
}
