//! Just enough of Python's pickle format for a worker that never unpickles: finding where a
//! pickle ends, and checking that a pickle is plain data of an expected shape.
//!
//! * The broadcast decryption server (§4.5) streams `i64 id` + a pickle per broadcast with
//!   **no length prefix**: Python finds the end by unpickling. [`read_pickle`] finds it by
//!   walking the opcodes (protocols 0–5, `FRAME` included) up to `STOP`, and never reads a
//!   byte past it, so the next entry can be read from the same stream.
//! * Accumulator updates (§5.3, §7.6) travel to the **driver**, where PySpark's accumulator
//!   server calls `pickle.loads` on them. A guest-written update that used `GLOBAL`/`REDUCE`
//!   would run code on the driver, outside every sandbox. [`check_accumulator_update`]
//!   accepts only pure-data pickles whose result is an `(id, value)` tuple for one of the
//!   task's accumulators.
//!
//! Both walk untrusted bytes: every length is checked against a bound before anything is
//! read for it, nothing is allocated beyond the bytes that really arrive, and malformed input
//! is a [`ProtocolError`], never a panic.

use std::collections::HashMap;
use std::io::Read;
use std::ops::Range;

use crate::ProtocolError;

/// Highest pickle protocol Python (3.8+) writes and this module understands.
pub const HIGHEST_PROTOCOL: u8 = 5;

// The opcodes, as `pickletools` names them. Arguments are little-endian.
const MARK: u8 = b'(';
const STOP: u8 = b'.';
const POP: u8 = b'0';
const POP_MARK: u8 = b'1';
const DUP: u8 = b'2';
const FLOAT: u8 = b'F';
const INT: u8 = b'I';
const BININT: u8 = b'J';
const BININT1: u8 = b'K';
const LONG: u8 = b'L';
const BININT2: u8 = b'M';
const NONE: u8 = b'N';
const PERSID: u8 = b'P';
const BINPERSID: u8 = b'Q';
const REDUCE: u8 = b'R';
const STRING: u8 = b'S';
const BINSTRING: u8 = b'T';
const SHORT_BINSTRING: u8 = b'U';
const UNICODE: u8 = b'V';
const BINUNICODE: u8 = b'X';
const APPEND: u8 = b'a';
const BUILD: u8 = b'b';
const GLOBAL: u8 = b'c';
const DICT: u8 = b'd';
const EMPTY_DICT: u8 = b'}';
const APPENDS: u8 = b'e';
const GET: u8 = b'g';
const BINGET: u8 = b'h';
const INST: u8 = b'i';
const LONG_BINGET: u8 = b'j';
const LIST: u8 = b'l';
const EMPTY_LIST: u8 = b']';
const OBJ: u8 = b'o';
const PUT: u8 = b'p';
const BINPUT: u8 = b'q';
const LONG_BINPUT: u8 = b'r';
const SETITEM: u8 = b's';
const TUPLE: u8 = b't';
const EMPTY_TUPLE: u8 = b')';
const SETITEMS: u8 = b'u';
const BINFLOAT: u8 = b'G';
const PROTO: u8 = 0x80;
const NEWOBJ: u8 = 0x81;
const EXT1: u8 = 0x82;
const EXT2: u8 = 0x83;
const EXT4: u8 = 0x84;
const TUPLE1: u8 = 0x85;
const TUPLE2: u8 = 0x86;
const TUPLE3: u8 = 0x87;
const NEWTRUE: u8 = 0x88;
const NEWFALSE: u8 = 0x89;
const LONG1: u8 = 0x8a;
const LONG4: u8 = 0x8b;
const BINBYTES: u8 = b'B';
const SHORT_BINBYTES: u8 = b'C';
const SHORT_BINUNICODE: u8 = 0x8c;
const BINUNICODE8: u8 = 0x8d;
const BINBYTES8: u8 = 0x8e;
const EMPTY_SET: u8 = 0x8f;
const ADDITEMS: u8 = 0x90;
const FROZENSET: u8 = 0x91;
const NEWOBJ_EX: u8 = 0x92;
const STACK_GLOBAL: u8 = 0x93;
const MEMOIZE: u8 = 0x94;
const FRAME: u8 = 0x95;
const BYTEARRAY8: u8 = 0x96;
const NEXT_BUFFER: u8 = 0x97;
const READONLY_BUFFER: u8 = 0x98;

/// How an opcode's argument is laid out on the wire.
enum Arg {
    /// No argument.
    None,
    /// A fixed number of bytes.
    Fixed(u8),
    /// Text up to and including a newline (protocol 0).
    Line,
    /// Two newline-terminated lines (`GLOBAL`, `INST`).
    TwoLines,
    /// A little-endian unsigned length of this many bytes, then that many bytes.
    Len(u8),
    /// A little-endian *signed* 4-byte length (negative is malformed), then the bytes.
    SignedLen4,
}

/// The argument layout of `op`, or `None` for a byte that is not an opcode.
fn arg_of(op: u8) -> Option<Arg> {
    Some(match op {
        MARK | STOP | POP | POP_MARK | DUP | NONE | BINPERSID | REDUCE | APPEND | BUILD | DICT
        | EMPTY_DICT | APPENDS | LIST | EMPTY_LIST | OBJ | SETITEM | TUPLE | EMPTY_TUPLE
        | SETITEMS | NEWOBJ | TUPLE1 | TUPLE2 | TUPLE3 | NEWTRUE | NEWFALSE | EMPTY_SET
        | ADDITEMS | FROZENSET | NEWOBJ_EX | STACK_GLOBAL | MEMOIZE | NEXT_BUFFER
        | READONLY_BUFFER => Arg::None,
        BININT1 | BINGET | BINPUT | PROTO | EXT1 => Arg::Fixed(1),
        BININT2 | EXT2 => Arg::Fixed(2),
        BININT | LONG_BINGET | LONG_BINPUT | EXT4 => Arg::Fixed(4),
        BINFLOAT | FRAME => Arg::Fixed(8),
        INT | LONG | STRING | UNICODE | FLOAT | GET | PUT | PERSID => Arg::Line,
        GLOBAL | INST => Arg::TwoLines,
        LONG1 | SHORT_BINSTRING | SHORT_BINBYTES | SHORT_BINUNICODE => Arg::Len(1),
        BINUNICODE | BINBYTES => Arg::Len(4),
        BINUNICODE8 | BINBYTES8 | BYTEARRAY8 => Arg::Len(8),
        BINSTRING | LONG4 => Arg::SignedLen4,
        _ => return None,
    })
}

/// One opcode and where its argument sits in the scanned bytes (for length-prefixed
/// arguments: the payload without its length; for lines: without the newline).
struct Op {
    code: u8,
    /// Offset of the opcode byte, for error messages.
    at: usize,
    arg: Range<usize>,
}

/// Reads opcodes from a stream, copying every byte it consumes into `bytes`.
struct Scanner<'r, R: ?Sized> {
    r: &'r mut R,
    bytes: Vec<u8>,
    max_len: usize,
}

impl<R: Read + ?Sized> Scanner<'_, R> {
    /// Appends the next `n` bytes of the stream; errors before reading if the pickle would
    /// outgrow `max_len`.
    fn take(&mut self, n: u64) -> Result<Range<usize>, ProtocolError> {
        let start = self.bytes.len();
        let room = (self.max_len - start) as u64;
        if n > room {
            return Err(ProtocolError::TooLarge {
                what: "pickle",
                len: (start as u64).saturating_add(n),
                max: self.max_len as u64,
            });
        }
        // `take` + `read_to_end` grows the buffer only as bytes arrive: a lying length
        // costs what the peer really sends, nothing more.
        let got = (&mut *self.r).take(n).read_to_end(&mut self.bytes)?;
        if (got as u64) < n {
            return Err(ProtocolError::Eof);
        }
        Ok(start..self.bytes.len())
    }

    fn byte(&mut self) -> Result<u8, ProtocolError> {
        let at = self.take(1)?;
        Ok(self.bytes[at.start])
    }

    /// A little-endian unsigned length of `width` bytes.
    fn length(&mut self, width: u8) -> Result<u64, ProtocolError> {
        let range = self.take(u64::from(width))?;
        Ok(self.bytes[range]
            .iter()
            .rev()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    }

    /// Bytes up to a newline; returns them without the newline.
    fn line(&mut self) -> Result<Range<usize>, ProtocolError> {
        let start = self.bytes.len();
        loop {
            if self.byte()? == b'\n' {
                return Ok(start..self.bytes.len() - 1);
            }
        }
    }

    fn next_op(&mut self) -> Result<Op, ProtocolError> {
        let at = self.bytes.len();
        let code = self.byte()?;
        let Some(layout) = arg_of(code) else {
            return Err(ProtocolError::malformed(format!(
                "pickle: byte {code:#04x} at offset {at} is not an opcode"
            )));
        };
        let arg = match layout {
            Arg::None => self.bytes.len()..self.bytes.len(),
            Arg::Fixed(n) => self.take(u64::from(n))?,
            Arg::Line => self.line()?,
            Arg::TwoLines => {
                let first = self.line()?;
                let second = self.line()?;
                first.start..second.end
            }
            Arg::Len(width) => {
                let n = self.length(width)?;
                self.take(n)?
            }
            Arg::SignedLen4 => {
                let n = self.length(4)?;
                if n > i32::MAX as u64 {
                    return Err(ProtocolError::malformed(format!(
                        "pickle: negative length in opcode {code:#04x} at offset {at}"
                    )));
                }
                self.take(n)?
            }
        };
        if code == PROTO {
            let protocol = self.bytes[arg.start];
            if protocol > HIGHEST_PROTOCOL {
                return Err(ProtocolError::Unsupported {
                    what: format!("pickle protocol {protocol}"),
                });
            }
        }
        Ok(Op { code, at, arg })
    }
}

/// Reads one pickle from `r` through its `STOP` opcode and returns its bytes, `STOP`
/// included. Reads nothing after `STOP`. Opcodes are walked, not executed: this accepts
/// every well-formed pickle of protocols 0–5 (frames are read like any other opcode, so a
/// stream that Python can unpickle is always delimited the same way).
///
/// A pickle longer than `max_len` bytes is [`ProtocolError::TooLarge`] (checked before its
/// bytes are read), a byte that is not an opcode is [`ProtocolError::Malformed`], a stream
/// that ends first is [`ProtocolError::Eof`].
///
/// Reads are small: pass a buffered reader.
pub fn read_pickle<R: Read + ?Sized>(r: &mut R, max_len: usize) -> Result<Vec<u8>, ProtocolError> {
    let mut scanner = Scanner {
        r,
        bytes: Vec::new(),
        max_len,
    };
    while scanner.next_op()?.code != STOP {}
    Ok(scanner.bytes)
}

/// The length of the pickle at the start of `bytes` (through `STOP`), as [`read_pickle`]
/// delimits it.
pub fn pickle_len(bytes: &[u8]) -> Result<usize, ProtocolError> {
    let mut reader = bytes;
    read_pickle(&mut reader, bytes.len()).map(|p| p.len())
}

/// What the checker knows about a value on the unpickler's stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    /// The `MARK` sentinel.
    Mark,
    /// An `int` that fits `i64`.
    Int(i64),
    /// A 2-tuple whose first element is an `int` that fits `i64`.
    KeyedPair(i64),
    /// Any other plain-data value.
    Other,
}

/// Opcodes that import, call or construct: never allowed in an accumulator update, because
/// the driver unpickles it. `NEXT_BUFFER`/`READONLY_BUFFER` need out-of-band buffers that a
/// plain `pickle.loads` does not have.
fn is_code_opcode(op: u8) -> bool {
    matches!(
        op,
        GLOBAL
            | STACK_GLOBAL
            | REDUCE
            | BUILD
            | INST
            | OBJ
            | NEWOBJ
            | NEWOBJ_EX
            | EXT1
            | EXT2
            | EXT4
            | PERSID
            | BINPERSID
            | NEXT_BUFFER
            | READONLY_BUFFER
    )
}

/// Checks an accumulator update a guest produced before it travels to the driver: it must
/// be exactly one pickle of protocols 0–5, use only plain-data opcodes (no imports, calls,
/// object construction or persistent ids, so `pickle.loads` on the driver can only build
/// builtin values), and evaluate to a tuple `(accumulator_id, value)` with an `int` id for
/// which `is_bound` is true. Returns the id.
///
/// Everything else is [`ProtocolError::Malformed`] (or `Unsupported` for a protocol above
/// 5), naming what was wrong.
pub fn check_accumulator_update(
    bytes: &[u8],
    is_bound: impl Fn(i64) -> bool,
) -> Result<i64, ProtocolError> {
    let bad = |what: String| ProtocolError::malformed(format!("accumulator update: {what}"));
    let mut reader = bytes;
    let mut scanner = Scanner {
        r: &mut reader,
        bytes: Vec::new(),
        max_len: bytes.len(),
    };
    let mut stack: Vec<Item> = Vec::new();
    let mut memo: HashMap<u64, Item> = HashMap::new();
    loop {
        let op = scanner.next_op()?;
        let arg = &scanner.bytes[op.arg.clone()];
        let at = op.at;
        let underflow = || {
            bad(format!(
                "opcode {:#04x} at offset {at} pops an empty stack",
                op.code
            ))
        };
        if is_code_opcode(op.code) {
            return Err(bad(format!(
                "opcode {:#04x} at offset {at} imports or calls code; only plain data may \
                 reach the driver",
                op.code
            )));
        }
        match op.code {
            STOP => break,
            PROTO | FRAME => {}
            MARK => stack.push(Item::Mark),
            BININT1 => stack.push(Item::Int(i64::from(arg[0]))),
            BININT2 => stack.push(Item::Int(i64::from(u16::from_le_bytes([arg[0], arg[1]])))),
            BININT => {
                let v = i32::from_le_bytes([arg[0], arg[1], arg[2], arg[3]]);
                stack.push(Item::Int(i64::from(v)));
            }
            LONG1 | LONG4 => stack.push(le_signed(arg).map_or(Item::Other, Item::Int)),
            INT | LONG => stack.push(text_int(arg).map_or(Item::Other, Item::Int)),
            NONE | NEWTRUE | NEWFALSE | FLOAT | BINFLOAT | STRING | BINSTRING | SHORT_BINSTRING
            | UNICODE | BINUNICODE | SHORT_BINUNICODE | BINUNICODE8 | BINBYTES | SHORT_BINBYTES
            | BINBYTES8 | BYTEARRAY8 | EMPTY_DICT | EMPTY_LIST | EMPTY_TUPLE | EMPTY_SET => {
                stack.push(Item::Other)
            }
            POP => {
                stack.pop().ok_or_else(underflow)?;
            }
            DUP => {
                let top = *stack.last().ok_or_else(underflow)?;
                stack.push(top);
            }
            POP_MARK => {
                pop_to_mark(&mut stack).ok_or_else(underflow)?;
            }
            TUPLE1 => {
                pop_values(&mut stack, 1).ok_or_else(underflow)?;
                stack.push(Item::Other);
            }
            TUPLE2 => {
                let items = pop_values(&mut stack, 2).ok_or_else(underflow)?;
                stack.push(pair_of(&items));
            }
            TUPLE3 => {
                pop_values(&mut stack, 3).ok_or_else(underflow)?;
                stack.push(Item::Other);
            }
            TUPLE => {
                let items = pop_to_mark(&mut stack).ok_or_else(underflow)?;
                stack.push(pair_of(&items));
            }
            LIST | DICT | FROZENSET => {
                pop_to_mark(&mut stack).ok_or_else(underflow)?;
                stack.push(Item::Other);
            }
            APPEND => {
                pop_values(&mut stack, 1).ok_or_else(underflow)?;
                container_on_top(&stack).ok_or_else(underflow)?;
            }
            SETITEM => {
                pop_values(&mut stack, 2).ok_or_else(underflow)?;
                container_on_top(&stack).ok_or_else(underflow)?;
            }
            APPENDS | SETITEMS | ADDITEMS => {
                pop_to_mark(&mut stack).ok_or_else(underflow)?;
                container_on_top(&stack).ok_or_else(underflow)?;
            }
            PUT | BINPUT | LONG_BINPUT | MEMOIZE => {
                let top = *stack.last().ok_or_else(underflow)?;
                if top == Item::Mark {
                    return Err(underflow());
                }
                let index = match op.code {
                    MEMOIZE => memo.len() as u64,
                    _ => memo_index(op.code, arg)
                        .ok_or_else(|| bad(format!("bad memo index at offset {at}")))?,
                };
                memo.insert(index, top);
            }
            GET | BINGET | LONG_BINGET => {
                let item = memo_index(op.code, arg)
                    .and_then(|index| memo.get(&index))
                    .ok_or_else(|| bad(format!("memo lookup at offset {at} finds nothing")))?;
                stack.push(*item);
            }
            other => {
                return Err(bad(format!(
                    "opcode {other:#04x} at offset {at} is not allowed"
                )))
            }
        }
    }
    if scanner.bytes.len() != bytes.len() {
        return Err(bad(format!(
            "{} bytes follow the pickle's STOP",
            bytes.len() - scanner.bytes.len()
        )));
    }
    // `pickle.loads` returns the top of the stack.
    match stack.last() {
        Some(Item::KeyedPair(id)) if is_bound(*id) => Ok(*id),
        Some(Item::KeyedPair(id)) => Err(bad(format!(
            "accumulator id {id} is not one of the task's accumulators"
        ))),
        _ => Err(bad(
            "the pickle is not an (accumulator id, value) tuple".into()
        )),
    }
}

/// Pops `n` values (no mark among them), deepest first.
fn pop_values(stack: &mut Vec<Item>, n: usize) -> Option<Vec<Item>> {
    let start = stack.len().checked_sub(n)?;
    if stack[start..].contains(&Item::Mark) {
        return None;
    }
    Some(stack.split_off(start))
}

/// Pops everything above the topmost mark, and the mark.
fn pop_to_mark(stack: &mut Vec<Item>) -> Option<Vec<Item>> {
    let mark = stack.iter().rposition(|i| *i == Item::Mark)?;
    let items = stack.split_off(mark + 1);
    stack.pop();
    Some(items)
}

/// The container an `APPEND`-like opcode adds to must be a value, not a mark.
fn container_on_top(stack: &[Item]) -> Option<()> {
    match stack.last() {
        Some(Item::Mark) | None => None,
        Some(_) => Some(()),
    }
}

/// A tuple built from `items`: keyed when it is `(int, anything)`.
fn pair_of(items: &[Item]) -> Item {
    match items {
        [Item::Int(id), _] => Item::KeyedPair(*id),
        _ => Item::Other,
    }
}

/// A little-endian two's-complement integer (`LONG1`/`LONG4`), if it fits `i64`.
fn le_signed(bytes: &[u8]) -> Option<i64> {
    if bytes.len() > 8 {
        return None;
    }
    let Some(last) = bytes.last() else {
        return Some(0);
    };
    let fill = if last & 0x80 != 0 { 0xff } else { 0 };
    let mut buf = [fill; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    Some(i64::from_le_bytes(buf))
}

/// The decimal text of `INT`/`LONG` (`LONG` ends in `L`); `INT`'s `01`/`00` are booleans,
/// which are not ids.
fn text_int(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes).ok()?;
    if text == "01" || text == "00" {
        return None;
    }
    text.strip_suffix('L').unwrap_or(text).parse().ok()
}

/// The memo index of a `PUT`/`GET`-like opcode.
fn memo_index(code: u8, arg: &[u8]) -> Option<u64> {
    match code {
        BINPUT | BINGET => arg.first().map(|b| u64::from(*b)),
        LONG_BINPUT | LONG_BINGET => {
            let b: [u8; 4] = arg.try_into().ok()?;
            Some(u64::from(u32::from_le_bytes(b)))
        }
        PUT | GET => std::str::from_utf8(arg).ok()?.parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Python 3.11 `pickle.dumps({"a": [1, 2.5, None], "b": (b"x", "é")}, protocol=p)` for
    /// p in 0..=5, captured with `pickletools`.
    /// Python 3 `pickle.dumps({"a": [1, 2.5, None], "b": (b"x", "é")}, protocol=p)` for
    /// every protocol p in 0..=5.
    fn python_pickles() -> Vec<(u8, Vec<u8>)> {
        vec![
            (0, b"(dp0\nVa\np1\n(lp2\nI1\naF2.5\naNasVb\np3\n(c_codecs\nencode\np4\n(Vx\np5\nVlatin1\np6\ntp7\nRp8\nV\xe9\np9\ntp10\ns.".to_vec()),
            (1, b"}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00NeX\x01\x00\x00\x00bq\x03(c_codecs\nencode\nq\x04(X\x01\x00\x00\x00xq\x05X\x06\x00\x00\x00latin1q\x06tq\x07Rq\x08X\x02\x00\x00\x00\xc3\xa9q\x09tq\nu.".to_vec()),
            (2, b"\x80\x02}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00NeX\x01\x00\x00\x00bq\x03c_codecs\nencode\nq\x04X\x01\x00\x00\x00xq\x05X\x06\x00\x00\x00latin1q\x06\x86q\x07Rq\x08X\x02\x00\x00\x00\xc3\xa9q\x09\x86q\nu.".to_vec()),
            (3, b"\x80\x03}q\x00(X\x01\x00\x00\x00aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00NeX\x01\x00\x00\x00bq\x03C\x01xq\x04X\x02\x00\x00\x00\xc3\xa9q\x05\x86q\x06u.".to_vec()),
            (4, b"\x80\x04\x95(\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00Ne\x8c\x01b\x94C\x01x\x94\x8c\x02\xc3\xa9\x94\x86\x94u.".to_vec()),
            (5, b"\x80\x05\x95(\x00\x00\x00\x00\x00\x00\x00}\x94(\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00Ne\x8c\x01b\x94C\x01x\x94\x8c\x02\xc3\xa9\x94\x86\x94u.".to_vec()),
        ]
    }

    #[test]
    fn delimits_pickles_of_every_protocol_and_reads_nothing_after_stop() {
        for (protocol, pickle) in python_pickles() {
            let mut stream = pickle.clone();
            stream.extend_from_slice(&7i64.to_be_bytes());
            let mut r = &stream[..];
            let got = read_pickle(&mut r, 1 << 20).unwrap();
            assert_eq!(got, pickle, "protocol {protocol}");
            assert_eq!(r, 7i64.to_be_bytes(), "protocol {protocol}: rest untouched");
            assert_eq!(pickle_len(&stream).unwrap(), pickle.len());
        }
    }

    #[test]
    fn every_truncation_is_eof_never_a_short_pickle() {
        for (protocol, pickle) in python_pickles() {
            for cut in 0..pickle.len() {
                let mut r = &pickle[..cut];
                assert!(
                    matches!(read_pickle(&mut r, 1 << 20), Err(ProtocolError::Eof)),
                    "protocol {protocol}, cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn a_pickle_longer_than_the_limit_is_refused_before_reading() {
        let (_, pickle) = python_pickles().pop().unwrap();
        let mut r = &pickle[..];
        assert!(matches!(
            read_pickle(&mut r, 20),
            Err(ProtocolError::TooLarge { what: "pickle", .. })
        ));
        // A BINBYTES8 claiming 2^60 bytes fails on the bound, not on allocation.
        let mut lying = vec![PROTO, 4, BINBYTES8];
        lying.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(matches!(
            read_pickle(&mut &lying[..], 1 << 30),
            Err(ProtocolError::TooLarge { .. })
        ));
    }

    #[test]
    fn bad_opcodes_negative_lengths_and_future_protocols_are_errors() {
        assert!(matches!(
            read_pickle(&mut &b"\xff."[..], 100),
            Err(ProtocolError::Malformed { .. })
        ));
        let negative = [BINSTRING, 0xff, 0xff, 0xff, 0xff, STOP];
        assert!(matches!(
            read_pickle(&mut &negative[..], 100),
            Err(ProtocolError::Malformed { .. })
        ));
        assert!(matches!(
            read_pickle(&mut &[PROTO, 6, NONE, STOP][..], 100),
            Err(ProtocolError::Unsupported { .. })
        ));
    }

    #[test]
    fn large_payloads_inside_frames_are_skipped_whole() {
        // Protocol 5 puts big bytes outside frames: FRAME, PROTO..., BINBYTES8 of 100 KiB.
        let payload = vec![0x2e; 100 << 10]; // full of STOP bytes that must not end it
        let mut pickle = vec![PROTO, 5, FRAME];
        pickle.extend_from_slice(&0u64.to_le_bytes());
        pickle.push(BINBYTES8);
        pickle.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        pickle.extend_from_slice(&payload);
        pickle.extend_from_slice(&[MEMOIZE, STOP]);
        assert_eq!(pickle_len(&pickle).unwrap(), pickle.len());
    }

    fn update(id_ops: &[u8], value_ops: &[u8]) -> Vec<u8> {
        let mut p = vec![PROTO, 4];
        p.extend_from_slice(id_ops);
        p.extend_from_slice(value_ops);
        p.extend_from_slice(&[TUPLE2, MEMOIZE, STOP]);
        p
    }

    #[test]
    fn accepts_plain_id_value_tuples() {
        // Python: pickle.dumps((0, 6), 5) as captured in §5.3.
        let captured = b"\x80\x05\x95\x07\x00\x00\x00\x00\x00\x00\x00K\x00K\x06\x86\x94.";
        assert_eq!(check_accumulator_update(captured, |id| id == 0).unwrap(), 0);
        let bound = |id| id == 300 || id == -2 || id == 70_000;
        assert_eq!(
            check_accumulator_update(&update(&[BININT2, 0x2c, 0x01], &[NONE]), bound).unwrap(),
            300
        );
        assert_eq!(
            check_accumulator_update(&update(&[LONG1, 1, 0xfe], &[EMPTY_LIST]), bound).unwrap(),
            -2
        );
        assert_eq!(
            check_accumulator_update(
                &update(
                    &[BININT, 0x70, 0x11, 1, 0],
                    &[BINFLOAT, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]
                ),
                bound
            )
            .unwrap(),
            70_000
        );
        // Protocol 0 text: (5, [1.5]).
        let text = b"(I5\n(lp0\nF1.5\natp1\n.";
        assert_eq!(check_accumulator_update(text, |id| id == 5).unwrap(), 5);
    }

    #[test]
    fn refuses_code_wrong_shapes_and_foreign_ids() {
        let bound = |id| id == 1;
        // A GLOBAL (os.system) anywhere is refused.
        let global = update(&[BININT1, 1], b"cos\nsystem\n");
        let e = check_accumulator_update(&global, bound).unwrap_err();
        assert!(e.to_string().contains("plain data"), "{e}");
        for op in [REDUCE, BUILD, STACK_GLOBAL, NEWOBJ, EXT1, BINPERSID] {
            let p = update(&[BININT1, 1], &[NONE, op]);
            assert!(check_accumulator_update(&p, bound).is_err(), "{op:#04x}");
        }
        // Not a tuple, a 3-tuple, a non-int id, an id not bound to the task.
        assert!(check_accumulator_update(&[PROTO, 4, BININT1, 1, STOP], bound).is_err());
        assert!(
            check_accumulator_update(&[PROTO, 4, BININT1, 1, NONE, NONE, TUPLE3, STOP], bound)
                .is_err()
        );
        assert!(check_accumulator_update(&update(&[NONE], &[NONE]), bound).is_err());
        let foreign = check_accumulator_update(&update(&[BININT1, 2], &[NONE]), bound).unwrap_err();
        assert!(foreign.to_string().contains("id 2"), "{foreign}");
        // ((1, x), y): the top is a tuple whose first element is a tuple, not an id.
        let nested = update(&[BININT1, 1, NONE, TUPLE2], &[NONE]);
        assert!(check_accumulator_update(&nested, bound).is_err());
        // Extra bytes after STOP, and stack tricks.
        let mut trailing = update(&[BININT1, 1], &[NONE]);
        trailing.push(NONE);
        assert!(check_accumulator_update(&trailing, bound).is_err());
        assert!(check_accumulator_update(&[POP, STOP], bound).is_err());
        assert!(check_accumulator_update(&[MARK, APPEND, STOP], bound).is_err());
        assert!(check_accumulator_update(&[BINGET, 0, STOP], bound).is_err());
    }

    #[test]
    fn the_result_is_the_top_of_the_stack_as_python_returns_it() {
        // (1, None) memoized, popped, then fetched back: still a bound pair.
        let p = [
            PROTO, 4, BININT1, 1, NONE, TUPLE2, BINPUT, 0, POP, NONE, POP, BINGET, 0, STOP,
        ];
        assert_eq!(check_accumulator_update(&p, |id| id == 1).unwrap(), 1);
        // (1, None) then something else on top: the result is the something else.
        let p = [PROTO, 4, BININT1, 1, NONE, TUPLE2, NONE, STOP];
        assert!(check_accumulator_update(&p, |id| id == 1).is_err());
    }
}
