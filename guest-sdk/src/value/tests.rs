//! Unit tests of the value model: serde round trips, the canonical encoding (typed path equal
//! to the value path, byte for byte), Python ordering, Python text, pickle.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::order::py_cmp;
use super::pickle::{from_pickle, to_pickle};
use super::text::{py_repr, py_str};
use super::*;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Point {
    x: i32,
    label: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    note: Option<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Shape {
    Empty,
    Circle(f64),
    Rect(i64, i64),
    Named { name: String },
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Meters(f64);

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Unit;

/// A sequence whose serializer does not know its length up front.
#[derive(Debug, PartialEq)]
struct Unsized(Vec<i64>);

impl Serialize for Unsized {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(None)?;
        for item in &self.0 {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

/// A sequence whose serializer announces a wrong length (300, a two-byte varint).
#[derive(Debug, PartialEq)]
struct Misannounced(Vec<i64>);

impl Serialize for Misannounced {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(300))?;
        for item in &self.0 {
            seq.serialize_element(item)?;
        }
        seq.end()
    }
}

fn s(text: &str) -> Value {
    Value::Str(text.to_owned())
}

fn canonical(value: &Value) -> Vec<u8> {
    postcard::to_allocvec(value).unwrap()
}

/// `x` converts to `expected`, back to `x`, and its canonical bytes written directly equal
/// those of `expected`; reading those bytes directly gives `x` back too.
fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(x: T, expected: Value) {
    let value = to_value(&x).unwrap();
    assert_eq!(value, expected, "to_value({x:?})");
    let mut direct = Vec::new();
    encode_append(&x, &mut direct).unwrap();
    assert_eq!(direct, canonical(&expected), "canonical bytes of {x:?}");
    let back: T = from_value(value).unwrap();
    assert_eq!(back, x, "from_value");
    let mut bytes = direct.clone();
    bytes.push(0xaa);
    let (decoded, rest) = decode_prefix::<T>(&bytes).unwrap();
    assert_eq!(decoded, x, "decode_prefix");
    assert_eq!(rest, [0xaa]);
}

#[test]
fn scalars_round_trip() {
    check(-5i64, Value::Int(-5));
    check(200u8, Value::Int(200));
    check(-3i8, Value::Int(-3));
    check(u64::MAX, Value::BigUint(u64::MAX));
    check(1u64 << 63, Value::BigUint(1 << 63));
    check(i64::MAX as u64, Value::Int(i64::MAX));
    check(i64::MIN, Value::Int(i64::MIN));
    check(-7i128, Value::Int(-7));
    check(u128::from(u64::MAX), Value::BigUint(u64::MAX));
    check(1.5f32, Value::Float(1.5));
    check(-0.0f64, Value::Float(-0.0));
    check(true, Value::Bool(true));
    check('é', s("é"));
    check("text".to_owned(), s("text"));
    check(
        crate::Bytes::from(vec![0u8, 255]),
        Value::Bytes(vec![0, 255]),
    );
    check((), Value::None);
    check(Unit, Value::None);
    check(Meters(2.5), Value::Float(2.5));
    assert!(to_value(&(1u128 << 64)).is_err());
    assert!(to_value(&i128::MIN).is_err());
    let mut out = Vec::new();
    assert!(encode_append(&(1u128 << 64), &mut out).is_err());
}

#[test]
fn options_tuples_sequences_and_maps_round_trip() {
    check(Some(3i64), Value::Int(3));
    check(None::<i64>, Value::None);
    // Python has one None: Some(None) reads back as None.
    assert_eq!(to_value(&Some(None::<i64>)).unwrap(), Value::None);
    check(
        ("a".to_owned(), 1i64),
        Value::Tuple(vec![s("a"), Value::Int(1)]),
    );
    check([1i64, 2], Value::Tuple(vec![Value::Int(1), Value::Int(2)]));
    check(
        vec![1i64, 2],
        Value::List(vec![Value::Int(1), Value::Int(2)]),
    );
    check(vec![7u8], Value::List(vec![Value::Int(7)]));
    check(Vec::<String>::new(), Value::List(vec![]));
    check(
        ("k".to_owned(), vec![(1i64, Some(2.5f64)), (2, None)]),
        Value::Tuple(vec![
            s("k"),
            Value::List(vec![
                Value::Tuple(vec![Value::Int(1), Value::Float(2.5)]),
                Value::Tuple(vec![Value::Int(2), Value::None]),
            ]),
        ]),
    );
    check(
        BTreeMap::from([(1i64, "one".to_owned()), (2, "two".to_owned())]),
        Value::Dict(vec![(Value::Int(1), s("one")), (Value::Int(2), s("two"))]),
    );
    check(
        HashMap::from([("only".to_owned(), vec![true])]),
        Value::Dict(vec![(s("only"), Value::List(vec![Value::Bool(true)]))]),
    );
}

#[test]
fn structs_and_enums_round_trip() {
    check(
        Point {
            x: 1,
            label: "p".into(),
            note: None,
        },
        Value::Dict(vec![(s("x"), Value::Int(1)), (s("label"), s("p"))]),
    );
    check(
        Point {
            x: 1,
            label: "p".into(),
            note: Some("n".into()),
        },
        Value::Dict(vec![
            (s("x"), Value::Int(1)),
            (s("label"), s("p")),
            (s("note"), s("n")),
        ]),
    );
    check(Shape::Empty, s("Empty"));
    check(
        Shape::Circle(1.0),
        Value::Dict(vec![(s("Circle"), Value::Float(1.0))]),
    );
    check(
        Shape::Rect(2, 3),
        Value::Dict(vec![(
            s("Rect"),
            Value::List(vec![Value::Int(2), Value::Int(3)]),
        )]),
    );
    check(
        Shape::Named { name: "n".into() },
        Value::Dict(vec![(s("Named"), Value::Dict(vec![(s("name"), s("n"))]))]),
    );
}

#[test]
fn unknown_lengths_are_counted() {
    let expected = Value::List(vec![Value::Int(1), Value::Int(2), Value::Int(3)]);
    assert_eq!(to_value(&Unsized(vec![1, 2, 3])).unwrap(), expected);
    let mut direct = Vec::new();
    encode_append(&Unsized(vec![1, 2, 3]), &mut direct).unwrap();
    assert_eq!(direct, canonical(&expected));
    // A count needing two varint bytes.
    let long = Unsized((0..200).collect());
    let mut direct = Vec::new();
    encode_append(&long, &mut direct).unwrap();
    assert_eq!(direct, canonical(&to_value(&long).unwrap()));
    // A wrong announced length is corrected, whatever the varint sizes.
    for len in [2, 200, 300] {
        let wrong = Misannounced((0..len).collect());
        let mut direct = Vec::new();
        encode_append(&wrong, &mut direct).unwrap();
        assert_eq!(direct, canonical(&to_value(&wrong).unwrap()), "{len} items");
    }
}

#[test]
fn reading_is_lenient_where_python_is() {
    // Tuples and lists fill both.
    let list = Value::List(vec![s("a"), Value::Int(1)]);
    assert_eq!(
        from_value::<(String, i64)>(list).unwrap(),
        ("a".to_owned(), 1)
    );
    let tuple = Value::Tuple(vec![Value::Int(1), Value::Int(2)]);
    assert_eq!(from_value::<Vec<i64>>(tuple).unwrap(), vec![1, 2]);
    // Bytes fill a Vec<u8>; ints fill floats; Some is anything but None.
    assert_eq!(
        from_value::<Vec<u8>>(Value::Bytes(vec![1, 2])).unwrap(),
        vec![1, 2]
    );
    assert_eq!(from_value::<f64>(Value::Int(3)).unwrap(), 3.0);
    assert_eq!(from_value::<Option<i64>>(Value::Int(3)).unwrap(), Some(3));
    assert_eq!(from_value::<Option<i64>>(Value::None).unwrap(), None);
    assert_eq!(
        from_value::<u64>(Value::BigUint(u64::MAX)).unwrap(),
        u64::MAX
    );
}

#[test]
fn reading_is_strict_where_rust_is() {
    let err = |value: Value| from_value::<u8>(value).unwrap_err().to_string();
    assert_eq!(
        err(Value::Int(300)),
        "invalid value: integer `300`, expected u8"
    );
    assert_eq!(
        err(Value::Float(1.0)),
        "invalid type: floating point `1.0`, expected u8"
    );
    assert_eq!(
        from_value::<i64>(Value::BigUint(u64::MAX))
            .unwrap_err()
            .to_string(),
        "invalid value: integer `18446744073709551615`, expected i64"
    );
    let triple = Value::Tuple(vec![Value::Int(1), Value::Int(2), Value::Int(3)]);
    assert_eq!(
        from_value::<(i64, i64)>(triple.clone())
            .unwrap_err()
            .to_string(),
        "invalid length 3, expected 2 elements in sequence"
    );
    // The direct reader agrees, message included.
    let mut bytes = canonical(&triple);
    assert_eq!(
        decode_prefix::<(i64, i64)>(&bytes).unwrap_err().to_string(),
        "invalid length 3, expected 2 elements in sequence"
    );
    bytes = canonical(&Value::Int(300));
    assert_eq!(
        decode_prefix::<u8>(&bytes).unwrap_err().to_string(),
        "invalid value: integer `300`, expected u8"
    );
    assert!(
        decode_prefix::<String>(&[5, 10, b'a']).is_err(),
        "truncated"
    );
    assert!(decode_prefix::<i64>(&[42]).is_err(), "unknown kind");
}

#[test]
fn python_order_across_kinds() {
    use std::cmp::Ordering::*;
    let cases = [
        (Value::Int(1), Value::Float(1.0), Equal),
        (Value::Bool(true), Value::Int(1), Equal),
        (Value::Float(-0.0), Value::Int(0), Equal),
        (Value::Int(2), Value::Float(1.5), Greater),
        (Value::BigUint(u64::MAX), Value::Int(i64::MAX), Greater),
        (Value::BigUint(u64::MAX), Value::Float(1.9e19), Less),
        (Value::BigUint(u64::MAX), Value::Float(1.8e19), Greater),
        // 2**53 + 1 against the float 2**53: exact, not rounded.
        (
            Value::Int((1 << 53) + 1),
            Value::Float(9_007_199_254_740_992.0),
            Greater,
        ),
        (
            Value::Float(f64::INFINITY),
            Value::BigUint(u64::MAX),
            Greater,
        ),
        (Value::Float(f64::NAN), Value::Float(f64::INFINITY), Greater),
        (Value::Float(f64::NAN), Value::Float(f64::NAN), Equal),
        (s("b"), s("ab"), Greater),
        (s("é"), s("z"), Greater),
        (Value::Bytes(vec![1]), Value::Bytes(vec![1, 0]), Less),
        (
            Value::Tuple(vec![Value::Int(1), s("b")]),
            Value::Tuple(vec![Value::Int(1), s("a"), Value::None]),
            Greater,
        ),
        (Value::List(vec![]), Value::List(vec![Value::None]), Less),
        (Value::None, Value::Int(-5), Less),
        (Value::Int(5), s("5"), Less),
        (Value::Tuple(vec![]), Value::List(vec![]), Equal),
        (
            Value::Tuple(vec![Value::Int(2)]),
            Value::List(vec![Value::Int(1), Value::Int(5)]),
            Greater,
        ),
        (Value::List(vec![]), Value::Dict(vec![]), Less),
        (
            Value::Dict(vec![(s("a"), Value::Int(1))]),
            Value::Dict(vec![(s("a"), Value::Int(2))]),
            Less,
        ),
    ];
    for (a, b, expected) in cases {
        assert_eq!(py_cmp(&a, &b), expected, "{a:?} vs {b:?}");
        assert_eq!(py_cmp(&b, &a), expected.reverse(), "{b:?} vs {a:?}");
    }
}

#[test]
fn python_order_is_total_so_sorting_never_panics() {
    let pool = [
        Value::None,
        Value::Bool(false),
        Value::Int(-1),
        Value::Int(1 << 53),
        Value::Int((1 << 53) + 1),
        Value::BigUint(u64::MAX),
        Value::Float(9_007_199_254_740_992.0),
        Value::Float(0.5),
        Value::Float(f64::NAN),
        Value::Float(f64::NEG_INFINITY),
        s("a"),
        Value::Bytes(vec![0]),
        Value::Tuple(vec![Value::Int(1)]),
        Value::List(vec![s("x")]),
        Value::Dict(vec![]),
    ];
    for a in &pool {
        for b in &pool {
            for c in &pool {
                let (ab, bc, ac) = (py_cmp(a, b), py_cmp(b, c), py_cmp(a, c));
                if ab != std::cmp::Ordering::Greater && bc != std::cmp::Ordering::Greater {
                    assert_ne!(ac, std::cmp::Ordering::Greater, "{a:?} <= {b:?} <= {c:?}");
                }
            }
        }
    }
    let mut values: Vec<Value> = (0..500)
        .map(|i| pool[(i * 7) % pool.len()].clone())
        .collect();
    values.sort_by(py_cmp);
    assert!(values.windows(2).all(|w| py_cmp(&w[0], &w[1]).is_le()));
}

fn repr(value: &Value) -> String {
    let mut out = String::new();
    py_repr(value, &mut out);
    out
}

fn str_of(value: &Value) -> String {
    let mut out = String::new();
    py_str(value, &mut out);
    out
}

#[test]
fn floats_print_like_python_repr() {
    // Expected strings are CPython 3.11's `repr(x)`.
    let cases = [
        (1e16, "1e+16"),
        (0.1, "0.1"),
        (1e-5, "1e-05"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        (1.0, "1.0"),
        (1e300, "1e+300"),
        (f64::INFINITY, "inf"),
        (f64::NEG_INFINITY, "-inf"),
        (f64::NAN, "nan"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (1e15, "1000000000000000.0"),
        (0.0001, "0.0001"),
        (5e-324, "5e-324"),
        (f64::MAX, "1.7976931348623157e+308"),
        (100.0, "100.0"),
        (1.5e-7, "1.5e-07"),
        (2.5, "2.5"),
        (-1e22, "-1e+22"),
        (12345.678, "12345.678"),
    ];
    for (x, expected) in cases {
        assert_eq!(repr(&Value::Float(x)), expected, "repr({x:e})");
    }
}

#[test]
fn strings_and_bytes_quote_like_python() {
    // Expected strings are CPython 3.11's `repr(x)`.
    assert_eq!(repr(&s("it's")), "\"it's\"");
    assert_eq!(repr(&s("a\"b")), "'a\"b'");
    assert_eq!(repr(&s("both'\"")), "'both\\'\"'");
    assert_eq!(
        repr(&s(
            "\x00\t\n\r\\ \x7f\u{80}\u{a0}\u{ad}\u{200b}\u{2028}\u{e000}😀\u{e0001}é"
        )),
        "'\\x00\\t\\n\\r\\\\ \\x7f\\x80\\xa0\\xad\\u200b\\u2028\\ue000😀\\U000e0001é'"
    );
    assert_eq!(repr(&Value::Bytes(b"it's".to_vec())), "b\"it's\"");
    assert_eq!(repr(&Value::Bytes(b"'\"".to_vec())), "b'\\'\"'");
    assert_eq!(
        repr(&Value::Bytes(b"\x7f\xff\\".to_vec())),
        "b'\\x7f\\xff\\\\'"
    );
    // str() of a str is the text itself; of anything else, its repr.
    assert_eq!(str_of(&s("it's")), "it's");
    assert_eq!(str_of(&Value::Bytes(vec![0])), "b'\\x00'");
}

#[test]
fn containers_print_like_python() {
    let nested = Value::Tuple(vec![
        s("a"),
        Value::List(vec![Value::Int(1), Value::Float(2.5), Value::None]),
        Value::Bytes(vec![0]),
    ]);
    assert_eq!(str_of(&nested), "('a', [1, 2.5, None], b'\\x00')");
    assert_eq!(str_of(&Value::Tuple(vec![Value::Int(1)])), "(1,)");
    assert_eq!(str_of(&Value::Tuple(vec![])), "()");
    assert_eq!(
        str_of(&Value::Dict(vec![(s("k"), Value::Bytes(vec![0]))])),
        "{'k': b'\\x00'}"
    );
    assert_eq!(
        str_of(&Value::List(vec![Value::Bool(true), Value::None])),
        "[True, None]"
    );
    assert_eq!(str_of(&Value::Dict(vec![])), "{}");
    assert_eq!(str_of(&Value::BigUint(u64::MAX)), "18446744073709551615");
}

#[test]
fn pickle_round_trip_keeps_python_types() {
    let value = Value::List(vec![
        Value::Tuple(vec![s("a"), Value::Int(-1)]),
        Value::Tuple(vec![]),
        Value::Tuple(vec![Value::None]),
        Value::BigUint(u64::MAX),
        Value::Bytes(vec![1, 2]),
        Value::Float(0.5),
        Value::Dict(vec![(Value::Int(1), Value::List(vec![]))]),
    ]);
    let bytes = to_pickle(&value).unwrap();
    assert_eq!(from_pickle(&bytes).unwrap(), value);
    let seen = serde_pickle::value_from_slice(&bytes, Default::default()).unwrap();
    let serde_pickle::Value::List(items) = seen else {
        panic!("{seen:?}")
    };
    assert!(matches!(items[0], serde_pickle::Value::Tuple(_)));
    assert!(matches!(items[1], serde_pickle::Value::Tuple(_)));
    assert!(matches!(items[3], serde_pickle::Value::Int(_)));
}
