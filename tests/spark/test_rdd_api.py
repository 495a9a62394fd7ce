"""Differential tests of the whole RDD API: every WasmRDD method runs once with WASM functions
and once with the same logic as Python lambdas on stock PySpark, on the same input RDD, and
the results are compared (in order where PySpark's order is defined, as multisets otherwise).

They run on ``local-cluster[2,1,1024]`` (executors in their own JVMs), the cheap narrow and
action cases on ``local[2]`` too. They need the built worker and typed guest (see
``conftest.py``). The guest functions (tests/guests/typed) are the Python lambdas below, on
the inputs used here: non-negative numbers for ``mod_ten`` and ``by_mod_three``, ASCII words
for the string keys, distinct keys where an order would otherwise depend on ties.

Python stages use inline lambdas only: cloudpickle ships module-level helpers of this test
module by reference, and executors cannot import it.
"""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest
from pyspark import RDD, SparkContext

import sparkwasm
from conftest import Artifacts
from sparkwasm import WasmModule, WasmRDD

# --- data ------------------------------------------------------------------------------------

NUMS = list(range(300))
SIGNED = list(range(-50, 250))
WORDS = ["spark", "wasm", "rust", "py", "a", "jvm", "executor", "driver", "shuffle", "task", "bb", "zz"]
#: Words of distinct lengths: orders by length have no ties.
BY_LENGTH = ["abcdef", "a", "abcd", "ab", "abcdefgh", "abc", "abcdefg", "abcde"]
NUM_PAIRS = [(i % 7, i) for i in range(200)]
WORD_PAIRS = [(i % 5, w) for i, w in enumerate(WORDS * 4)]
#: One hot key and many cold ones.
SKEWED = [(0, i) for i in range(3000)] + [(k, k) for k in range(1, 40)]
#: The other side of the joins: some keys shared with NUM_PAIRS, some not.
OTHER = [(k, f"v{k}") for k in range(0, 12, 2)] + [(2, "again"), (100, "right only")]
_rng = random.Random(7)
DISTINCT_KEYS = _rng.sample(range(-1000, 1000), 300)
#: Keys Python calls equal in several types (and 2.5, equal to nothing else).
EQUAL_NUMBER_PAIRS = [(k, i) for i, k in enumerate([1, 1.0, True, 0, 0.0, -0.0, False, 2.5, 2, 2.0] * 4)]
SORTABLE = [(k, str(k)) for k in DISTINCT_KEYS]
WORD_KEYS = [(w, len(w)) for w in _rng.sample(sorted(set(WORDS + BY_LENGTH)), len(set(WORDS + BY_LENGTH)))]
FLOATS = [0.5 * i for i in range(-20, 60)]


def same(x: Any) -> Any:
    return x


def bag(xs: Any) -> Any:
    """A multiset: PySpark's order is not defined (after a shuffle, for example)."""
    return sorted(xs, key=repr)


def groups(xs: Any) -> Any:
    """Grouped values: the order of keys and of values in a group is not defined."""
    return sorted(((k, sorted(v)) for k, v in xs), key=repr)


def first_char_runs(xs: Any) -> Any:
    """Pairs sorted by the first character of their key: the order of the runs of equal first
    characters is defined, the order within a run is not."""
    runs = itertools.groupby(xs, key=lambda kv: kv[0][:1])
    return [(first, sorted(map(repr, run))) for first, run in runs]


def numeric_keys(xs: Any) -> Any:
    """Pairs whose keys are numbers Python calls equal (``1``, ``1.0``, ``True``): which of
    the equal keys a group keeps is not defined, the grouping is."""
    return sorted((float(k), sorted(v) if isinstance(v, list) else v) for k, v in xs)


def cogroups(xs: Any) -> Any:
    return sorted(((k, (sorted(a), sorted(b))) for k, (a, b) in xs), key=repr)


def outcome(action: Callable[[], Any]) -> Tuple[Any, ...]:
    """The value of an action, or the ValueError it raised (PySpark's empty-RDD errors)."""
    try:
        return ("value", action())
    except ValueError as e:
        return ("raised", str(e))


@pytest.fixture
def typed(artifacts: Artifacts) -> WasmModule:
    from pyspark import SparkContext as _SC

    return sparkwasm.load(_SC.__new__(_SC), artifacts.typed)


# --- cases -----------------------------------------------------------------------------------
#
# (id, data, slices, wasm(w, t, other), python(rdd, other), normalize). ``w`` is the input
# wrapped with module=t, so operations without functions run in the worker too; ``other`` is
# a plain PySpark RDD of OTHER for the joins.

Case = Tuple[str, List[Any], int, Callable[..., Any], Callable[..., Any], Callable[[Any], Any]]

NARROW: List[Case] = [
    ("map", NUMS, 4, lambda w, t, o: w.map(t.square).collect(), lambda r, o: r.map(lambda x: x * x).collect(), same),
    ("map_empty_partitions", [1, 2, 3], 8, lambda w, t, o: w.map(t.square).collect(), lambda r, o: r.map(lambda x: x * x).collect(), same),
    ("flatMap", list(range(12)), 3, lambda w, t, o: w.flatMap(t.range_to).collect(), lambda r, o: r.flatMap(lambda n: list(range(n))).collect(), same),
    ("filter", SIGNED, 5, lambda w, t, o: w.filter(t.is_even).collect(), lambda r, o: r.filter(lambda x: x % 2 == 0).collect(), same),
    (
        "mapPartitions",
        SIGNED,
        5,
        lambda w, t, o: w.mapPartitions(t.running_sum).collect(),
        lambda r, o: r.mapPartitions(lambda it: itertools.accumulate(it)).collect(),
        same,
    ),
    (
        "mapPartitionsWithIndex",
        SIGNED,
        4,
        lambda w, t, o: w.mapPartitionsWithIndex(t.index_tag).collect(),
        lambda r, o: r.mapPartitionsWithIndex(lambda i, it: ((i, x) for x in it)).collect(),
        same,
    ),
    ("mapValues", NUM_PAIRS, 3, lambda w, t, o: w.mapValues(t.square).collect(), lambda r, o: r.mapValues(lambda x: x * x).collect(), same),
    (
        "flatMapValues",
        [(k, k % 5) for k in range(30)],
        3,
        lambda w, t, o: w.flatMapValues(t.range_to).collect(),
        lambda r, o: r.flatMapValues(lambda n: list(range(n))).collect(),
        same,
    ),
    ("keyBy", NUMS, 3, lambda w, t, o: w.keyBy(t.mod_ten).collect(), lambda r, o: r.keyBy(lambda x: x % 10).collect(), same),
    ("keys", WORD_PAIRS, 3, lambda w, t, o: w.keys().collect(), lambda r, o: r.keys().collect(), same),
    ("values", WORD_PAIRS, 3, lambda w, t, o: w.values().collect(), lambda r, o: r.values().collect(), same),
    ("map_f64", FLOATS, 3, lambda w, t, o: w.map(t.half).collect(), lambda r, o: r.map(lambda x: x / 2).collect(), same),
    ("map_string", WORDS, 2, lambda w, t, o: w.map(t.upper).collect(), lambda r, o: r.map(lambda s: s.upper()).collect(), same),
    (
        "chain",
        NUMS,
        4,
        lambda w, t, o: w.map(t.square).filter(t.is_even).keyBy(t.mod_ten).mapValues(t.square).values().collect(),
        lambda r, o: r.map(lambda x: x * x).filter(lambda x: x % 2 == 0).keyBy(lambda x: x % 10).mapValues(lambda x: x * x).values().collect(),
        same,
    ),
]

WIDE: List[Case] = [
    ("groupBy", NUMS, 4, lambda w, t, o: w.groupBy(t.mod_ten, 3).collect(), lambda r, o: r.groupBy(lambda x: x % 10, 3).collect(), groups),
    ("reduceByKey", NUM_PAIRS, 3, lambda w, t, o: w.reduceByKey(t.add_i64).collect(), lambda r, o: r.reduceByKey(lambda a, b: a + b).collect(), bag),
    ("reduceByKey_skewed", SKEWED, 5, lambda w, t, o: w.reduceByKey(t.add_i64, 4).collect(), lambda r, o: r.reduceByKey(lambda a, b: a + b, 4).collect(), bag),
    ("foldByKey", NUM_PAIRS, 3, lambda w, t, o: w.foldByKey(0, t.add_i64).collect(), lambda r, o: r.foldByKey(0, lambda a, b: a + b).collect(), bag),
    # A non-neutral zero is added once per key per map-side partition, as in PySpark.
    ("foldByKey_zero", NUM_PAIRS, 3, lambda w, t, o: w.foldByKey(100, t.add_i64, 2).collect(), lambda r, o: r.foldByKey(100, lambda a, b: a + b, 2).collect(), bag),
    (
        "aggregateByKey",
        WORD_PAIRS,
        3,
        lambda w, t, o: w.aggregateByKey(0, t.seq_add_len, t.add_i64).collect(),
        lambda r, o: r.aggregateByKey(0, lambda acc, s: acc + len(s), lambda a, b: a + b).collect(),
        bag,
    ),
    (
        "aggregateByKey_pairs",
        NUM_PAIRS,
        4,
        lambda w, t, o: w.aggregateByKey((0, 0), t.seq_sum_count, t.add_pairs).collect(),
        lambda r, o: r.aggregateByKey((0, 0), lambda a, x: (a[0] + x, a[1] + 1), lambda a, b: (a[0] + b[0], a[1] + b[1])).collect(),
        bag,
    ),
    (
        "combineByKey",
        NUM_PAIRS,
        4,
        lambda w, t, o: w.combineByKey(t.singleton, t.push, t.extend, 3).collect(),
        lambda r, o: r.combineByKey(lambda v: [v], lambda c, v: c + [v], lambda a, b: a + b, 3).collect(),
        groups,
    ),
    ("groupByKey", NUM_PAIRS, 3, lambda w, t, o: w.groupByKey().collect(), lambda r, o: r.groupByKey().collect(), groups),
    ("groupByKey_skewed", SKEWED, 6, lambda w, t, o: w.groupByKey(2).collect(), lambda r, o: r.groupByKey(2).collect(), groups),
    ("partitionBy", NUM_PAIRS, 3, lambda w, t, o: w.partitionBy(4).collect(), lambda r, o: r.partitionBy(4).collect(), bag),
    ("distinct", [x % 17 for x in range(500)], 4, lambda w, t, o: w.distinct().collect(), lambda r, o: r.distinct().collect(), bag),
    ("distinct_strings", WORDS * 3, 3, lambda w, t, o: w.distinct(2).collect(), lambda r, o: r.distinct(2).collect(), bag),
    ("sortByKey", SORTABLE, 4, lambda w, t, o: w.sortByKey().collect(), lambda r, o: r.sortByKey().collect(), same),
    ("sortByKey_desc", SORTABLE, 4, lambda w, t, o: w.sortByKey(False, 3).collect(), lambda r, o: r.sortByKey(False, 3).collect(), same),
    ("sortByKey_one_partition", SORTABLE, 4, lambda w, t, o: w.sortByKey(True, 1).collect(), lambda r, o: r.sortByKey(True, 1).collect(), same),
    ("sortByKey_strings", WORD_KEYS, 3, lambda w, t, o: w.sortByKey(True, 2).collect(), lambda r, o: r.sortByKey(True, 2).collect(), same),
    # keyfunc runs in the worker on each key; the pairs come out unchanged. PySpark's own
    # sortByKey(keyfunc=len) raises (its range bounds are raw keys, compared with len(k)), so
    # the reference is the sort it means.
    (
        "sortByKey_keyfunc",
        [(w, i) for i, w in enumerate(BY_LENGTH)],
        3,
        lambda w, t, o: w.sortByKey(False, 2, keyfunc=t.len_key).collect(),
        lambda r, o: r.sortBy(lambda kv: len(kv[0]), False, 2).collect(),
        same,
    ),
    (
        "sortByKey_keyfunc_ties",
        WORD_KEYS * 3,
        4,
        lambda w, t, o: w.sortByKey(True, 3, keyfunc=t.first_char).collect(),
        lambda r, o: r.sortByKey(True, 3, keyfunc=lambda s: s[:1]).collect(),
        first_char_runs,
    ),
    ("sortBy", _rng.sample(range(10), 10), 3, lambda w, t, o: w.sortBy(t.mod_ten).collect(), lambda r, o: r.sortBy(lambda x: x % 10).collect(), same),
    (
        "sortBy_desc",
        BY_LENGTH,
        3,
        lambda w, t, o: w.sortBy(t.len_key, False, 2).collect(),
        lambda r, o: r.sortBy(lambda s: len(s), False, 2).collect(),
        same,
    ),
    # 1, 1.0 and True are one key, as are 0, 0.0, -0.0 and False: PySpark groups by ==.
    ("reduceByKey_equal_numbers", EQUAL_NUMBER_PAIRS, 3, lambda w, t, o: w.reduceByKey(t.add_i64, 2).collect(), lambda r, o: r.reduceByKey(lambda a, b: a + b, 2).collect(), numeric_keys),
    ("groupByKey_equal_numbers", EQUAL_NUMBER_PAIRS, 3, lambda w, t, o: w.groupByKey(3).collect(), lambda r, o: r.groupByKey(3).mapValues(list).collect(), numeric_keys),
    ("distinct_equal_numbers", [k for k, _ in EQUAL_NUMBER_PAIRS], 3, lambda w, t, o: w.distinct().collect(), lambda r, o: r.distinct().collect(), lambda xs: sorted(map(float, xs))),
    ("countByKey_equal_numbers", EQUAL_NUMBER_PAIRS, 2, lambda w, t, o: w.countByKey(), lambda r, o: r.countByKey(), lambda d: sorted((float(k), n) for k, n in d.items())),
    ("join", NUM_PAIRS, 3, lambda w, t, o: w.join(o).collect(), lambda r, o: r.join(o).collect(), bag),
    ("leftOuterJoin", NUM_PAIRS, 3, lambda w, t, o: w.leftOuterJoin(o).collect(), lambda r, o: r.leftOuterJoin(o).collect(), bag),
    ("rightOuterJoin", NUM_PAIRS, 3, lambda w, t, o: w.rightOuterJoin(o, 2).collect(), lambda r, o: r.rightOuterJoin(o, 2).collect(), bag),
    ("fullOuterJoin", NUM_PAIRS, 3, lambda w, t, o: w.fullOuterJoin(o).collect(), lambda r, o: r.fullOuterJoin(o).collect(), bag),
    ("cogroup", NUM_PAIRS, 3, lambda w, t, o: w.cogroup(o).collect(), lambda r, o: r.cogroup(o).collect(), cogroups),
    ("subtractByKey", NUM_PAIRS, 3, lambda w, t, o: w.subtractByKey(o).collect(), lambda r, o: r.subtractByKey(o).collect(), bag),
    (
        "join_typed_sides",
        NUMS,
        3,
        lambda w, t, o: w.keyBy(t.mod_ten).join(o).collect(),
        lambda r, o: r.keyBy(lambda x: x % 10).join(o).collect(),
        bag,
    ),
]

ACTIONS: List[Case] = [
    ("count", NUMS, 4, lambda w, t, o: w.map(t.square).count(), lambda r, o: r.map(lambda x: x * x).count(), same),
    ("count_module_only", NUMS, 4, lambda w, t, o: w.count(), lambda r, o: r.count(), same),
    ("sum", NUMS, 4, lambda w, t, o: w.map(t.square).sum(), lambda r, o: r.map(lambda x: x * x).sum(), same),
    ("sum_f64", FLOATS, 3, lambda w, t, o: w.map(t.half).sum(), lambda r, o: r.map(lambda x: x / 2).sum(), same),
    ("take", SIGNED, 6, lambda w, t, o: w.filter(t.is_even).take(7), lambda r, o: r.filter(lambda x: x % 2 == 0).take(7), same),
    ("take_sparse", [1, 2, 3], 10, lambda w, t, o: w.map(t.square).take(3), lambda r, o: r.map(lambda x: x * x).take(3), same),
    ("take_more_than_all", NUMS, 4, lambda w, t, o: w.map(t.square).take(1000), lambda r, o: r.map(lambda x: x * x).take(1000), same),
    ("first", NUMS, 4, lambda w, t, o: w.map(t.square).first(), lambda r, o: r.map(lambda x: x * x).first(), same),
    ("reduce", SIGNED, 5, lambda w, t, o: w.reduce(t.add_i64), lambda r, o: r.reduce(lambda a, b: a + b), same),
    # Not commutative: partial results must be merged in partition order, as PySpark does.
    ("reduce_ordered", WORDS * 3, 4, lambda w, t, o: w.reduce(t.concat), lambda r, o: r.reduce(lambda a, b: a + b), same),
    ("reduce_f64", FLOATS, 4, lambda w, t, o: w.reduce(t.add_f64), lambda r, o: r.reduce(lambda a, b: a + b), same),
    ("fold", SIGNED, 5, lambda w, t, o: w.fold(0, t.add_i64), lambda r, o: r.fold(0, lambda a, b: a + b), same),
    ("fold_ordered", WORDS, 3, lambda w, t, o: w.fold("-", t.concat), lambda r, o: r.fold("-", lambda a, b: a + b), same),
    (
        "aggregate",
        SIGNED,
        5,
        lambda w, t, o: w.aggregate((0, 0), t.seq_sum_count, t.add_pairs),
        lambda r, o: r.aggregate((0, 0), lambda a, x: (a[0] + x, a[1] + 1), lambda a, b: (a[0] + b[0], a[1] + b[1])),
        same,
    ),
    ("treeReduce", SIGNED, 16, lambda w, t, o: w.treeReduce(t.add_i64), lambda r, o: r.treeReduce(lambda a, b: a + b), same),
    ("treeReduce_depth3", SIGNED, 16, lambda w, t, o: w.treeReduce(t.add_i64, 3), lambda r, o: r.treeReduce(lambda a, b: a + b, 3), same),
    (
        "treeAggregate",
        SIGNED,
        16,
        lambda w, t, o: w.treeAggregate((0, 0), t.seq_sum_count, t.add_pairs, 3),
        lambda r, o: r.treeAggregate((0, 0), lambda a, x: (a[0] + x, a[1] + 1), lambda a, b: (a[0] + b[0], a[1] + b[1]), 3),
        same,
    ),
    ("max", SIGNED, 4, lambda w, t, o: w.map(t.square).max(), lambda r, o: r.map(lambda x: x * x).max(), same),
    ("min", SIGNED, 4, lambda w, t, o: w.min(), lambda r, o: r.min(), same),
    ("max_key", BY_LENGTH, 3, lambda w, t, o: w.max(t.len_key), lambda r, o: r.max(lambda s: len(s)), same),
    ("min_key", BY_LENGTH, 3, lambda w, t, o: w.min(t.len_key), lambda r, o: r.min(lambda s: len(s)), same),
    ("max_f64", FLOATS, 3, lambda w, t, o: w.max(), lambda r, o: r.max(), same),
    ("top", SIGNED, 4, lambda w, t, o: w.top(5), lambda r, o: r.top(5), same),
    ("top_key", BY_LENGTH, 3, lambda w, t, o: w.top(3, t.len_key), lambda r, o: r.top(3, lambda s: len(s)), same),
    ("takeOrdered", SIGNED, 4, lambda w, t, o: w.takeOrdered(6), lambda r, o: r.takeOrdered(6), same),
    ("takeOrdered_key", BY_LENGTH, 3, lambda w, t, o: w.takeOrdered(4, t.len_key), lambda r, o: r.takeOrdered(4, lambda s: len(s)), same),
    ("takeOrdered_strings", WORDS, 3, lambda w, t, o: w.takeOrdered(5), lambda r, o: r.takeOrdered(5), same),
    ("countByKey", WORD_PAIRS, 3, lambda w, t, o: dict(w.countByKey()), lambda r, o: dict(r.countByKey()), same),
    ("countByValue", WORDS * 3, 3, lambda w, t, o: dict(w.countByValue()), lambda r, o: dict(r.countByValue()), same),
    ("collect_after_shuffle_and_map", NUM_PAIRS, 3, lambda w, t, o: w.reduceByKey(t.add_i64).values().map(t.square).collect(), lambda r, o: r.reduceByKey(lambda a, b: a + b).values().map(lambda x: x * x).collect(), bag),
]

EMPTY: List[Case] = [
    ("count", [], 3, lambda w, t, o: w.map(t.square).count(), lambda r, o: r.map(lambda x: x * x).count(), same),
    ("sum", [], 3, lambda w, t, o: w.map(t.square).sum(), lambda r, o: r.map(lambda x: x * x).sum(), same),
    ("collect", [], 3, lambda w, t, o: w.map(t.square).collect(), lambda r, o: r.map(lambda x: x * x).collect(), same),
    ("take", [], 3, lambda w, t, o: w.map(t.square).take(2), lambda r, o: r.map(lambda x: x * x).take(2), same),
    ("first", [], 3, lambda w, t, o: outcome(lambda: w.map(t.square).first()), lambda r, o: outcome(lambda: r.first()), same),
    ("reduce", [], 3, lambda w, t, o: outcome(lambda: w.reduce(t.add_i64)), lambda r, o: outcome(lambda: r.reduce(lambda a, b: a + b)), same),
    ("treeReduce", [], 3, lambda w, t, o: outcome(lambda: w.treeReduce(t.add_i64)), lambda r, o: outcome(lambda: r.treeReduce(lambda a, b: a + b)), same),
    ("fold", [], 3, lambda w, t, o: w.fold(5, t.add_i64), lambda r, o: r.fold(5, lambda a, b: a + b), same),
    ("max", [], 3, lambda w, t, o: outcome(lambda: w.max()), lambda r, o: outcome(lambda: r.max()), same),
    ("top", [], 3, lambda w, t, o: w.top(2), lambda r, o: r.top(2), same),
    ("takeOrdered", [], 3, lambda w, t, o: w.takeOrdered(2), lambda r, o: r.takeOrdered(2), same),
    ("countByKey", [], 3, lambda w, t, o: dict(w.countByKey()), lambda r, o: dict(r.countByKey()), same),
    ("reduceByKey", [], 3, lambda w, t, o: w.reduceByKey(t.add_i64).collect(), lambda r, o: r.reduceByKey(lambda a, b: a + b).collect(), same),
    ("sortByKey", [], 3, lambda w, t, o: w.sortByKey().collect(), lambda r, o: r.sortByKey().collect(), same),
    ("join", [], 3, lambda w, t, o: w.join(o).collect(), lambda r, o: r.join(o).collect(), same),
]


def differential(sc: SparkContext, typed: WasmModule, case: Case) -> None:
    _, data, slices, wasm, python, normalize = case
    rdd = sc.parallelize(data, slices)
    other = sc.parallelize(OTHER, 2)
    got = wasm(sparkwasm.wrap(rdd, module=typed), typed, other)
    expected = python(rdd, other)
    assert normalize(got) == normalize(expected)


@pytest.mark.parametrize("case", NARROW + ACTIONS, ids=[c[0] for c in NARROW + ACTIONS])
def test_matches_pyspark(sc: SparkContext, typed: WasmModule, case: Case) -> None:
    differential(sc, typed, case)


@pytest.mark.parametrize("case", WIDE, ids=[c[0] for c in WIDE])
def test_shuffles_match_pyspark(sc_cluster: SparkContext, typed: WasmModule, case: Case) -> None:
    differential(sc_cluster, typed, case)


@pytest.mark.parametrize("case", EMPTY, ids=[c[0] for c in EMPTY])
def test_empty_rdd_matches_pyspark(sc_cluster: SparkContext, typed: WasmModule, case: Case) -> None:
    differential(sc_cluster, typed, case)


def test_rdd_without_partitions(sc_cluster: SparkContext, typed: WasmModule) -> None:
    empty = sc_cluster.emptyRDD()
    w = sparkwasm.wrap(empty, module=typed)
    assert w.getNumPartitions() == 0
    assert w.map(typed.square).collect() == []
    assert w.count() == 0 and w.sum() == 0 and w.take(3) == []
    assert w.fold(3, typed.add_i64) == 3
    assert w.treeAggregate(4, typed.seq_add_len, typed.add_i64) == 4
    assert w.takeOrdered(2) == []
    with pytest.raises(ValueError, match=r"Can not reduce\(\) empty RDD"):
        w.reduce(typed.add_i64)
    with pytest.raises(ValueError, match=r"Can not reduce\(\) empty RDD"):
        w.top(2)  # as PySpark: no partition, no partial list to merge
    assert w.groupByKey().collect() == []


# --- partition placement ---------------------------------------------------------------------


def test_hash_partitioning_is_where_the_driver_says(sc_cluster: SparkContext, typed: WasmModule) -> None:
    keys: List[Any] = [None, True, 0, -1, 2**40, 2**64 - 1, 1.5, "", "é", b"\x00", (1, "a"), ("x", (None, 2.0))]
    keys += [1.0, -0.0, False, 2.0**63, (True, 2.0)]  # equal to other keys under Python's ==
    pairs = [(k, i) for i, k in enumerate(keys * 3)]
    shuffled = sparkwasm.wrap(sc_cluster.parallelize(pairs, 3), module=typed).partitionBy(4)
    assert shuffled.partitioner is not None
    parts = shuffled.glom().collect()
    assert len(parts) == 4
    for index, part in enumerate(parts):
        for key, _ in part:
            assert shuffled.partitioner(key) == index, key
    assert bag(itertools.chain.from_iterable(parts)) == bag(pairs)
    assert sorted(shuffled.lookup("é")) == [i for i, (k, _) in enumerate(pairs) if k == "é"]
    # Equal numbers are one key, wherever they came from.
    assert sorted(shuffled.lookup(1)) == [i for i, (k, _) in enumerate(pairs) if k == 1]


def test_function_partitioner_places_keys(sc_cluster: SparkContext, typed: WasmModule) -> None:
    pairs = [(k, k * k) for k in range(60)]
    w = sparkwasm.wrap(sc_cluster.parallelize(pairs, 4), module=typed)
    moved = w.partitionBy(3, typed.by_mod_three)
    for index, part in enumerate(moved.glom().collect()):
        assert part and all(k % 3 == index for k, _ in part)
    summed = w.reduceByKey(typed.add_i64, 3, typed.by_mod_three)
    assert sorted(summed.collect()) == sorted(pairs)
    # Already partitioned that way: no second shuffle, same result.
    again = summed.reduceByKey(typed.add_i64, 3, typed.by_mod_three)
    assert again.partitioner == summed.partitioner
    assert sorted(again.collect()) == sorted(pairs)


def test_sort_by_key_partitions_are_ranges(sc_cluster: SparkContext, typed: WasmModule) -> None:
    w = sparkwasm.wrap(sc_cluster.parallelize(SORTABLE, 5), module=typed)
    result = w.sortByKey(True, 4)
    parts = result.glom().collect()
    assert len(parts) == 4
    flat = [k for part in parts for k, _ in part]
    assert flat == sorted(DISTINCT_KEYS)
    assert result.partitioner is not None
    for index, part in enumerate(parts):
        assert all(result.partitioner(k) == index for k, _ in part)


def test_sort_with_duplicate_keys_keeps_every_element(sc_cluster: SparkContext, typed: WasmModule) -> None:
    rdd = sc_cluster.parallelize(SKEWED, 4)
    got = sparkwasm.wrap(rdd, module=typed).sortByKey(False, 3).collect()
    expected = rdd.sortByKey(False, 3).collect()
    assert [k for k, _ in got] == [k for k, _ in expected]
    assert bag(got) == bag(expected)


# --- size: many records, one huge record ------------------------------------------------------


def test_a_million_records(sc_cluster: SparkContext, typed: WasmModule) -> None:
    rdd = sc_cluster.parallelize(range(1_200_000), 8)  # a Python range stage feeds the worker
    w = sparkwasm.wrap(rdd)
    assert w.map(typed.square).count() == 1_200_000
    assert w.map(typed.square).sum() == sum(x * x for x in range(1_200_000))
    by_digit = w.keyBy(typed.mod_ten).reduceByKey(typed.add_i64)
    assert sorted(by_digit.collect()) == sorted(rdd.keyBy(lambda x: x % 10).reduceByKey(lambda a, b: a + b).collect())
    assert w.map(typed.square).top(3) == [(1_200_000 - i) ** 2 for i in range(1, 4)]


def test_one_huge_record(sc_cluster: SparkContext, typed: WasmModule) -> None:
    huge = "x" * 20_000_000 + "é"
    rdd = sc_cluster.parallelize(["small", huge, "tail"], 2)
    upper = sparkwasm.wrap(rdd).map(typed.upper).collect()
    assert [len(s) for s in upper] == [5, len(huge), 4]
    assert upper[1] == huge.upper()
    # Through a shuffle, as a key and as a value.
    counted = sparkwasm.wrap(rdd).map(typed.word_len).reduceByKey(typed.add_i64).collect()
    assert sorted((k[:3], v) for k, v in counted) == [("sma", 5), ("tai", 4), ("xxx", len(huge))]


# --- values between Python and WASM ----------------------------------------------------------

VALUES: List[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    1.5,
    -0.0,
    float("inf"),
    float("nan"),
    "",
    "é中🎉",
    b"",
    b"\x00\xff",
    (),
    (1, "a", None),
    [],
    [1, [2, (3, b"x")]],
    {},
    {"a": 1, 2: [None, 1.0], (1, 2): {"nested": ()}},
]


def strict(value: Any) -> Any:
    """``value`` with the distinctions ``==`` hides made visible (tuple vs list, 1 vs 1.0 vs
    True, -0.0, nan, and the insertion order of dicts, which the worker keeps)."""
    if isinstance(value, dict):
        return ("dict", [(strict(k), strict(v)) for k, v in value.items()])
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, [strict(v) for v in value])
    return (type(value).__name__, repr(value))


def test_python_values_round_trip_through_wasm(sc: SparkContext, typed: WasmModule) -> None:
    pairs = [(i, v) for i, v in enumerate(VALUES)]
    w = sparkwasm.wrap(sc.parallelize(pairs, 3), module=typed)
    assert strict(w.values().collect()) == strict(VALUES)
    assert w.keys().collect() == list(range(len(VALUES)))
    through_shuffle = w.partitionBy(3).collect()
    assert sorted(map(repr, map(strict, through_shuffle))) == sorted(map(repr, map(strict, pairs)))
    # As keys: grouped, joined, counted.
    keyed = [(v, i) for i, v in enumerate(VALUES) if not isinstance(v, (list, dict))]
    kw = sparkwasm.wrap(sc.parallelize(keyed + keyed, 2), module=typed)
    groups = kw.groupByKey().collect()
    # Keys Python calls equal (False, 0, -0.0) are one group, as in PySpark (and a NaN key
    # is one key with itself); the key a group keeps is one of them, type and all.
    expected: Dict[bytes, List[int]] = {}
    for k, i in keyed + keyed:
        expected.setdefault(sparkwasm.key_identity(k), []).append(i)
    assert {sparkwasm.key_identity(k): sorted(v) for k, v in groups} == {k: sorted(v) for k, v in expected.items()}
    assert len(groups) == len(expected)
    for k, _ in groups:
        assert any(type(k) is type(x) and repr(k) == repr(x) for x, _ in keyed), k


def test_typed_functions_decode_python_values(sc: SparkContext, typed: WasmModule) -> None:
    cases = [
        (typed.identity_bytes, [b"", b"\x00\x01\xff", bytes(range(256)) * 100], lambda b: b),
        (typed.dict_size, [{}, {"a": 1}, {str(i): i for i in range(500)}], lambda d: len(d)),
        (typed.list_sum, [[], [1, 2, 3], list(range(-100, 1000))], lambda xs: sum(xs)),
        (typed.nested, [("a", []), ("b", [(1, None), (2, 2.5)]), ("é", [(i, float(i)) for i in range(50)])], lambda p: (p[0], len(p[1]))),
    ]
    for f, data, reference in cases:
        got = sparkwasm.wrap(sc.parallelize(data, 2)).map(f).collect()
        assert repr(got) == repr([reference(x) for x in data]), f.name


# --- text: textFile, wholeTextFiles, saveAsTextFile --------------------------------------------

LINES = [
    "plain ascii",
    "",
    "héllo wörld",
    "中文字符 and 日本語",
    "emoji 🎉🚀 end",
    "",
    "\ttabs\tand trailing spaces   ",
    "x" * 1_000_000 + "ÿ",
    "last line",
]


def read_parts(directory: Path) -> str:
    return "".join(p.read_text(encoding="utf-8") for p in sorted(directory.glob("part-*")))


def test_text_files_are_utf8_safe(sc_cluster: SparkContext, typed: WasmModule, tmp_path: Path) -> None:
    path = tmp_path / "in.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    lines = sc_cluster.textFile(str(path), 3)
    assert sparkwasm.wrap(lines).map(typed.upper).collect() == [s.upper() for s in LINES]
    # saveAsTextFile from the worker vs from PySpark: the same bytes.
    sparkwasm.wrap(lines, module=typed).saveAsTextFile(str(tmp_path / "wasm_identity"))
    lines.saveAsTextFile(str(tmp_path / "python_identity"))
    assert read_parts(tmp_path / "wasm_identity") == read_parts(tmp_path / "python_identity")
    assert read_parts(tmp_path / "wasm_identity") == path.read_text(encoding="utf-8")
    sparkwasm.wrap(lines).map(typed.upper).saveAsTextFile(str(tmp_path / "wasm_upper"))
    lines.map(lambda s: s.upper()).saveAsTextFile(str(tmp_path / "python_upper"))
    assert read_parts(tmp_path / "wasm_upper") == read_parts(tmp_path / "python_upper")
    # Non-string elements are written as Python's str() of them.
    mixed = sc_cluster.parallelize([("a", 1), None, 2.5, [1, "b"], True, -3, {"k": (1,)}], 2)
    sparkwasm.wrap(mixed, module=typed).saveAsTextFile(str(tmp_path / "wasm_mixed"))
    mixed.saveAsTextFile(str(tmp_path / "python_mixed"))
    assert read_parts(tmp_path / "wasm_mixed") == read_parts(tmp_path / "python_mixed")
    # bytes elements are written as they are (UTF-8 ones, as the JVM decodes them), as PySpark.
    raw = sc_cluster.parallelize([b"raw bytes", "caf\u00e9".encode("utf-8"), b"", (b"nested",)], 2)
    sparkwasm.wrap(raw, module=typed).saveAsTextFile(str(tmp_path / "wasm_bytes"))
    raw.saveAsTextFile(str(tmp_path / "python_bytes"))
    assert read_parts(tmp_path / "wasm_bytes") == read_parts(tmp_path / "python_bytes")


def test_whole_text_files(sc_cluster: SparkContext, typed: WasmModule, tmp_path: Path) -> None:
    directory = tmp_path / "docs"
    directory.mkdir()
    (directory / "a.txt").write_text("one\ntwo\nthree\n", encoding="utf-8")
    (directory / "empty.txt").write_text("", encoding="utf-8")
    (directory / "ünïcode.txt").write_text("\n".join(LINES), encoding="utf-8")
    files = sc_cluster.wholeTextFiles(str(directory), 2)
    got = sparkwasm.wrap(files).map(typed.lines_pair).collect()
    expected = files.map(lambda p: (p[0], len(p[1].splitlines()))).collect()
    # Compared by base name: the guest may keep the whole path or its last part.
    assert sorted((os.path.basename(n), c) for n, c in got) == sorted((os.path.basename(n), c) for n, c in expected)
    assert sorted(sparkwasm.wrap(files, module=typed).keys().collect()) == sorted(files.keys().collect())


# --- mixing with Python stages ------------------------------------------------------------------


def test_python_stages_before_and_after(sc: SparkContext, typed: WasmModule) -> None:
    rdd = sc.parallelize(range(100), 4).map(lambda x: (x % 3, x))
    w = sparkwasm.wrap(rdd).reduceByKey(typed.add_i64)
    after = w.map(lambda kv: (kv[0], -kv[1]))
    assert not isinstance(after, WasmRDD)
    assert sorted(after.collect()) == sorted((k, -v) for k, v in rdd.reduceByKey(lambda a, b: a + b).collect())
    # A Python RDD joined to a WASM one, and the other way around.
    other = sc.parallelize([(0, "zero"), (2, "two")])
    assert bag(w.join(other).collect()) == bag(rdd.reduceByKey(lambda a, b: a + b).join(other).collect())
    assert bag(other.join(w).collect()) == bag(other.join(rdd.reduceByKey(lambda a, b: a + b)).collect())
