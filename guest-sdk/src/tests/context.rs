//! The task context APIs through whole tasks: task_context, broadcasts, accumulators and
//! SparkFiles.

use std::collections::HashMap;

use sparkwasm_abi::{InputEncoding, StepKind, TaskInfo};

use super::*;

#[sparkwasm::map]
fn t_context_tag(x: i64) -> (i32, i32, i32, i64, i64) {
    let context = crate::task_context();
    (
        context.partition_id(),
        context.stage_id(),
        context.attempt_number(),
        context.task_attempt_id(),
        x,
    )
}

#[sparkwasm::map]
fn t_local_prop(_x: i64) -> Option<String> {
    crate::task_context()
        .local_property("sparkwasm.test")
        .map(str::to_owned)
}

#[sparkwasm::map]
fn t_add_offset(x: i64) -> i64 {
    x + crate::broadcast::<i64>("offset").unwrap_or_else(|err| panic!("{err}"))
}

#[sparkwasm::map]
fn t_lookup_name(x: i64) -> String {
    let names = crate::broadcast_shared::<HashMap<i64, String>>("names")
        .unwrap_or_else(|err| panic!("{err}"));
    names.get(&x).cloned().unwrap_or_else(|| "?".into())
}

#[sparkwasm::foreach]
fn t_count_into_acc(x: i64) {
    let accumulator = |name| crate::accumulator::<i64>(name).unwrap_or_else(|err| panic!("{err}"));
    accumulator("seen").add(1);
    accumulator("total").add(x);
}

#[sparkwasm::foreach_partition]
fn t_partition_sum(rows: impl Iterator<Item = i64>) {
    crate::accumulator::<i64>("total")
        .unwrap_or_else(|err| panic!("{err}"))
        .add(rows.sum());
}

#[sparkwasm::map]
fn t_float_into_total(x: i64) -> i64 {
    crate::accumulator::<f64>("total")
        .unwrap_or_else(|err| panic!("{err}"))
        .add(x as f64);
    x
}

#[sparkwasm::map]
fn t_spark_file(name: String) -> String {
    match crate::spark_file(&name) {
        Ok(path) => path.display().to_string(),
        Err(err) => format!("error: {err}"),
    }
}

fn ints(values: &[i64]) -> Vec<Option<Vec<u8>>> {
    vec![Some(pickle(&values.to_vec()))]
}

#[test]
fn task_context_shows_the_task_info() {
    let info = TaskInfo {
        partition_id: 3,
        stage_id: 4,
        attempt_number: 1,
        task_attempt_id: 99,
        local_properties: vec![("sparkwasm.test".into(), "yes".into())],
        spark_files: false,
    };
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_context_tag())
        .step(StepKind::Map, &[sparkwasm_fn_t_context_tag()], None)
        .info(info.clone());
    assert_eq!(
        task.run(ints(&[7])).pickled::<(i32, i32, i32, i64, i64)>(),
        vec![(3, 4, 1, 99, 7)]
    );
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_local_prop()).step(
        StepKind::Map,
        &[sparkwasm_fn_t_local_prop()],
        None,
    );
    assert_eq!(
        task.info(info).run(ints(&[0])).pickled::<Option<String>>(),
        vec![Some("yes".to_owned())]
    );
    // Outside a task: zeros and no properties.
    let outside = crate::task_context();
    assert_eq!(outside.partition_id(), 0);
    assert_eq!(outside.local_property("sparkwasm.test"), None);
}

#[test]
fn broadcasts_are_read_once_per_task_and_decoded_into_the_type() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_add_offset())
        .step(StepKind::Map, &[sparkwasm_fn_t_add_offset()], None)
        .broadcast("offset", 5);
    let outcome = task.run_with(ints(&[1, 2, 3]), |host| {
        host.broadcasts.insert(5, pickle(&100i64));
    });
    assert_eq!(outcome.pickled::<i64>(), vec![101, 102, 103]);
    assert_eq!(outcome.broadcast_reads, HashMap::from([(5, 1)]));

    // A dict larger than the first buffer the guest offers.
    let names: HashMap<i64, String> = (0..20_000).map(|i| (i, format!("name-{i}"))).collect();
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_lookup_name())
        .step(StepKind::Map, &[sparkwasm_fn_t_lookup_name()], None)
        .broadcast("names", 8);
    let outcome = task.run_with(ints(&[1, 19_999, -1]), |host| {
        host.broadcasts.insert(8, pickle(&names));
    });
    assert_eq!(
        outcome.pickled::<String>(),
        vec!["name-1", "name-19999", "?"]
    );
}

#[test]
fn broadcast_errors_name_what_is_available() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_add_offset())
        .step(StepKind::Map, &[sparkwasm_fn_t_add_offset()], None)
        .broadcast("other", 1)
        .broadcast("more", 2);
    let message = task.run(ints(&[1])).error().to_owned();
    assert!(
        message.ends_with(
            "no broadcast named \"offset\" was given to this task (available: \"other\", \"more\")"
        ),
        "{message}"
    );
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_add_offset())
        .step(StepKind::Map, &[sparkwasm_fn_t_add_offset()], None)
        .broadcast("offset", 5);
    let message = task.run(ints(&[1])).error().to_owned();
    assert!(
        message.ends_with("the host has no data for broadcast \"offset\" (id 5)"),
        "{message}"
    );
    let message = task
        .run_with(ints(&[1]), |host| {
            host.broadcasts.insert(5, pickle(&"text"));
        })
        .error()
        .to_owned();
    assert!(
        message.ends_with(
            "broadcast \"offset\" cannot be read as i64: invalid type: string \"text\", \
             expected i64"
        ),
        "{message}"
    );
    assert!(matches!(
        crate::broadcast::<i64>("offset"),
        Err(crate::Error::NoTask(_))
    ));
}

fn updates(outcome: &Outcome) -> Vec<(i64, i64)> {
    outcome
        .accumulator_updates
        .iter()
        .map(|u| serde_pickle::from_slice(u, Default::default()).unwrap())
        .collect()
}

#[test]
fn accumulators_send_one_total_each_after_a_successful_task() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_count_into_acc())
        .step(StepKind::Foreach, &[sparkwasm_fn_t_count_into_acc()], None)
        .accumulator("total", 12)
        .accumulator("seen", 11);
    let outcome = task.run(vec![
        Some(pickle(&vec![1i64, 2])),
        Some(pickle(&vec![3i64])),
    ]);
    assert_eq!(outcome.values(), vec![], "nothing flows on after foreach");
    // In the task spec's order, whatever the order of first use.
    assert_eq!(updates(&outcome), vec![(12, 6), (11, 3)]);
    // The update is the pickle of a Python tuple.
    let update = from_pickle(&outcome.accumulator_updates[0]).unwrap();
    assert_eq!(update, tuple(vec![int(12), int(6)]));

    let task = Task::dynamic(InputEncoding::PickleBatch)
        .step(
            StepKind::ForeachPartition,
            &[sparkwasm_fn_t_partition_sum()],
            None,
        )
        .accumulator("total", 12)
        .output(sparkwasm_abi::OutputSpec::Count);
    let outcome = task.run(ints(&[4, 5, 6]));
    assert_eq!(outcome.pickled::<u64>(), vec![0]);
    assert_eq!(updates(&outcome), vec![(12, 15)]);

    // Unused accumulators send nothing.
    let task = range_to_task().accumulator("seen", 11);
    assert!(task.run(ints(&[2])).ok().accumulator_updates.is_empty());
}

#[test]
fn a_failed_task_sends_no_accumulator_update() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_explode())
        .step(StepKind::Map, &[sparkwasm_fn_t_explode()], None)
        .step(StepKind::Foreach, &[sparkwasm_fn_t_count_into_acc()], None)
        .accumulator("seen", 1)
        .accumulator("total", 2);
    let outcome = task.run(ints(&[1, 2, 13]));
    assert!(outcome.error().contains("boom at 13"));
    assert!(outcome.accumulator_updates.is_empty());

    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_count_into_acc())
        .step(StepKind::Foreach, &[sparkwasm_fn_t_count_into_acc()], None)
        .accumulator("seen", 1)
        .accumulator("total", 2);
    let outcome = task.run_with(ints(&[1]), |host| host.refuse_accumulator = Some(2));
    assert_eq!(
        outcome.error(),
        "the update of accumulator \"seen\" failed: the host refused it (accumulator_update \
         returned 2)"
    );
}

#[test]
fn accumulator_errors_name_what_is_available_and_the_types() {
    let task = Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_count_into_acc())
        .step(StepKind::Foreach, &[sparkwasm_fn_t_count_into_acc()], None)
        .accumulator("total", 2);
    let message = task.run(ints(&[1])).error().to_owned();
    assert!(
        message.ends_with(
            "no accumulator named \"seen\" was given to this task (available: \"total\")"
        ),
        "{message}"
    );
    let task = Task::typed(
        InputEncoding::PickleBatch,
        sparkwasm_fn_t_float_into_total(),
    )
    .step(StepKind::Map, &[sparkwasm_fn_t_float_into_total()], None)
    .step(StepKind::Foreach, &[sparkwasm_fn_t_count_into_acc()], None)
    .accumulator("total", 2)
    .accumulator("seen", 1);
    let message = task.run(ints(&[1])).error().to_owned();
    assert!(
        message.ends_with("accumulator \"total\" is used as f64 and as i64 in the same task"),
        "{message}"
    );
}

#[test]
fn an_accumulator_outlives_its_task_only_to_panic() {
    let spec = Task::dynamic(InputEncoding::PickleBatch)
        .accumulator("seen", 1)
        .spec;
    crate::context::begin(&spec);
    let seen = crate::accumulator::<i64>("seen").unwrap();
    seen.add(2);
    crate::context::end();
    let panicked = std::panic::catch_unwind(|| seen.add(1));
    assert!(panicked.is_err());
}

#[test]
fn spark_files_resolve_only_when_granted() {
    let names = vec![Some(pickle(&vec![
        "data.txt",
        "dir/x.csv",
        "../etc/passwd",
        "/abs",
    ]))];
    let run = |spark_files| {
        Task::typed(InputEncoding::PickleBatch, sparkwasm_fn_t_spark_file())
            .step(StepKind::Map, &[sparkwasm_fn_t_spark_file()], None)
            .info(TaskInfo {
                spark_files,
                ..TaskInfo::default()
            })
            .run(names.clone())
            .pickled::<String>()
    };
    assert_eq!(
        run(true),
        vec![
            "/sparkfiles/data.txt",
            "/sparkfiles/dir/x.csv",
            "error: \"../etc/passwd\" is not a SparkFiles name (a relative path without `..`)",
            "error: \"/abs\" is not a SparkFiles name (a relative path without `..`)",
        ]
    );
    assert_eq!(
        run(false)[0],
        "error: SparkFiles are not granted to this task, so \"data.txt\" cannot be read (the \
         worker mounts them only when configured to)"
    );
}
