//! Python's `str()` and `repr()` of [`Value`]s: what `saveAsTextFile` writes.
//!
//! Floats print as Python's shortest round-tripping `repr` (`1.0`, `1e+16`, `1e-05`, `inf`,
//! `nan`, `-0.0`); strings and bytes quote and escape as CPython does (single quotes unless
//! the text contains `'` and no `"`). Whether a non-ASCII character is printable follows
//! CPython's rule (not a control, format, separator, private-use or non-character code point)
//! for the characters it names; code points Unicode leaves unassigned print as themselves,
//! where CPython (knowing its Unicode version's table) would escape them.

use std::fmt::Write as _;

use super::Value;

/// Python's `str(value)`: a `str` as is, everything else as its `repr`.
pub(crate) fn py_str(value: &Value, out: &mut String) {
    match value {
        Value::Str(text) => out.push_str(text),
        other => py_repr(other, out),
    }
}

/// Python's `repr(value)`.
pub(crate) fn py_repr(value: &Value, out: &mut String) {
    match value {
        Value::None => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::BigUint(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) => float_repr(*f, out),
        Value::Str(text) => str_repr(text, out),
        Value::Bytes(bytes) => bytes_repr(bytes, out),
        Value::Tuple(items) => {
            out.push('(');
            join(items, out);
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::List(items) => {
            out.push('[');
            join(items, out);
            out.push(']');
        }
        Value::Dict(entries) => {
            out.push('{');
            for (index, (key, value)) in entries.iter().enumerate() {
                if index > 0 {
                    out.push_str(", ");
                }
                py_repr(key, out);
                out.push_str(": ");
                py_repr(value, out);
            }
            out.push('}');
        }
    }
}

/// `repr(value)`, cut to about `max` characters with `...`, for error messages.
pub(crate) fn repr_truncated(value: &Value, max: usize) -> String {
    let mut out = String::new();
    py_repr(value, &mut out);
    if out.chars().count() > max {
        let cut: String = out.chars().take(max).collect();
        format!("{cut}...")
    } else {
        out
    }
}

fn join(items: &[Value], out: &mut String) {
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push_str(", ");
        }
        py_repr(item, out);
    }
}

/// Python's `repr(float)`: the shortest digits that round-trip (what Rust's `{:e}` prints
/// too), laid out as CPython's `float_repr_style = 'short'` does: exponent notation when the
/// decimal point would sit more than 16 places right of the first digit or 4 places left of
/// it, and always a `.0` or a fraction otherwise.
pub(crate) fn float_repr(value: f64, out: &mut String) {
    if value.is_nan() {
        out.push_str("nan");
        return;
    }
    if value.is_sign_negative() {
        out.push('-');
    }
    let magnitude = value.abs();
    if magnitude.is_infinite() {
        out.push_str("inf");
        return;
    }
    let scientific = format!("{magnitude:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let exponent: i32 = exponent.parse().unwrap_or(0);
    // Position of the decimal point relative to the start of `digits`.
    let point = exponent + 1;
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    if !(-4 < point && point <= 16) {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    } else if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(&digits);
    } else if point >= len {
        out.push_str(&digits);
        for _ in 0..point - len {
            out.push('0');
        }
        out.push_str(".0");
    } else {
        let (whole, fraction) = digits.split_at(usize::try_from(point).unwrap_or(0));
        out.push_str(whole);
        out.push('.');
        out.push_str(fraction);
    }
}

/// The quote CPython picks: `'`, unless the text has a `'` and no `"`.
fn quote_for(has_single: bool, has_double: bool) -> char {
    if has_single && !has_double {
        '"'
    } else {
        '\''
    }
}

/// Python's `repr(str)`.
fn str_repr(text: &str, out: &mut String) {
    let quote = quote_for(text.contains('\''), text.contains('"'));
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if c < ' ' || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if c.is_ascii() || is_printable(c) => out.push(c),
            c => {
                let code = u32::from(c);
                let _ = if code <= 0xff {
                    write!(out, "\\x{code:02x}")
                } else if code <= 0xffff {
                    write!(out, "\\u{code:04x}")
                } else {
                    write!(out, "\\U{code:08x}")
                };
            }
        }
    }
    out.push(quote);
}

/// Python's `repr(bytes)`.
fn bytes_repr(bytes: &[u8], out: &mut String) {
    let quote = quote_for(bytes.contains(&b'\''), bytes.contains(&b'"'));
    out.push('b');
    out.push(quote);
    for &byte in bytes {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b if char::from(b) == quote => {
                out.push('\\');
                out.push(quote);
            }
            b if !(0x20..0x7f).contains(&b) => {
                let _ = write!(out, "\\x{b:02x}");
            }
            b => out.push(char::from(b)),
        }
    }
    out.push(quote);
}

/// Non-ASCII code points CPython's `str.isprintable` rejects, as inclusive ranges: the C1
/// controls (Cc), space separators other than U+0020 (Zs), the line and paragraph separators
/// (Zl, Zp), format characters (Cf), private use (Co) and the non-characters U+FDD0..FDEF.
const NOT_PRINTABLE: &[(u32, u32)] = &[
    (0x80, 0xa0),
    (0xad, 0xad),
    (0x600, 0x605),
    (0x61c, 0x61c),
    (0x6dd, 0x6dd),
    (0x70f, 0x70f),
    (0x890, 0x891),
    (0x8e2, 0x8e2),
    (0x1680, 0x1680),
    (0x180e, 0x180e),
    (0x2000, 0x200f),
    (0x2028, 0x202f),
    (0x205f, 0x206f),
    (0x3000, 0x3000),
    (0xe000, 0xf8ff),
    (0xfdd0, 0xfdef),
    (0xfeff, 0xfeff),
    (0xfff9, 0xfffb),
    (0x110bd, 0x110bd),
    (0x110cd, 0x110cd),
    (0x13430, 0x1343f),
    (0x1bca0, 0x1bca3),
    (0x1d173, 0x1d17a),
    (0xe0001, 0xe0001),
    (0xe0020, 0xe007f),
    (0xf0000, 0x10ffff),
];

/// Whether CPython prints the non-ASCII `c` as itself in a `repr`.
fn is_printable(c: char) -> bool {
    let code = u32::from(c);
    // U+xFFFE and U+xFFFF are non-characters in every plane.
    if code & 0xfffe == 0xfffe {
        return false;
    }
    !NOT_PRINTABLE
        .iter()
        .any(|&(low, high)| (low..=high).contains(&code))
}
