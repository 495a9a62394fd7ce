//! Pickle ⇄ [`Value`].
//!
//! Decoding is hand-written. serde-pickle's value model keeps dicts in a `BTreeMap`, so a
//! Python `{'b': 1, 'a': 2}` came back as `{'a': 2, 'b': 1}`; the parser underneath it keeps
//! insertion order but is private, and no other maintained crate reads pickles. The decoder
//! here runs the opcodes CPython emits for `None`, `bool`, `int`, `float`, `str`, `bytes`,
//! `tuple`, `list`, `dict`, `set` and `frozenset` at protocols 0 to 5 (including the few
//! builtins protocols 0–3 call for sets and bytes) and refuses everything else with an error
//! naming the opcode: class instances and other globals have no `Value`.
//!
//! It works like CPython's unpickler: objects live in an arena, the stack and the memo hold
//! arena indices, so a list that is memoized while still empty and filled afterwards is the
//! same object everywhere it is referenced. Only at `STOP` is the arena turned into a `Value`
//! tree; shared objects are copied there, as values own their contents.
//!
//! The bytes come from the JVM and are not trusted: nothing panics on them, a declared length
//! is checked against the bytes actually left before anything is taken, nothing recurses
//! (parsing, checking and building use explicit stacks), and a tree is refused before it is
//! built when it is cyclic, nests deeper than [`MAX_DEPTH`], or would multiply the pickle
//! beyond a fixed allowance by copying shared objects.
//!
//! What serde-pickle decoded, this decoder decodes to the same values, except that dicts keep
//! insertion order and sets and frozensets become lists in stream order (serde-pickle sorted
//! both). Python 2 `str` (`STRING` opcodes) is `bytes`, and bytes after `STOP` are an error, as
//! in serde-pickle. Beyond serde-pickle, it reads `bytes()` (an empty `bytes` at protocols
//! 0–2) and shared references serde-pickle took for cycles; short of it, it refuses
//! `bytearray`, which serde-pickle read as `bytes`.
//!
//! Encoding goes through [`Pickled`], a `Serialize` view of a value that drives
//! serde-pickle's serializer with the calls that produce exactly the Python object (tuples
//! stay tuples, `BigUint` becomes a long, bytes stay bytes).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use serde::ser::{SerializeMap, SerializeSeq, SerializeTuple};
use serde::{Serialize, Serializer};

pub(crate) use flat::{flat_list, scan_into, Stop};

use super::ser::int_out_of_range;
use super::{Value, ValueError};

/// Decodes one pickled Python object into a [`Value`].
pub(crate) fn from_pickle(bytes: &[u8]) -> Result<Value, String> {
    let Tree { nodes, root } = Parser::new(bytes).run()?;
    let extent = extents(&nodes, root)
        .get(root)
        .copied()
        .flatten()
        .unwrap_or_default();
    extent.check(0, &mut allowance(bytes.len()))?;
    Ok(build(&nodes, root)?)
}

/// Decodes a pickled list of elements (a PySpark batch) into its elements. The error names
/// the failing element when one element could not be converted (an int out of range, a
/// cycle, ...), and no element when the pickle itself is broken or is not a list.
pub(crate) fn from_pickle_list(bytes: &[u8]) -> Result<Vec<Value>, (Option<u64>, String)> {
    let mut flat = Vec::new();
    if flat_list(bytes, &mut flat) {
        return Ok(flat);
    }
    let Tree { nodes, root } = Parser::new(bytes)
        .run()
        .map_err(|message| (None, message))?;
    let Some(Node::List(items)) = nodes.get(root) else {
        let found = nodes.get(root).map_or("nothing", Node::py_type);
        return Err((
            None,
            format!(
                "expected a pickled list of elements (a PySpark batch), found {}",
                super::article(found)
            ),
        ));
    };
    let extents = extents(&nodes, root);
    let mut allowance = allowance(bytes.len());
    let mut out = Vec::with_capacity(items.len());
    for (element, &item) in (0u64..).zip(items) {
        let fail = |err: ValueError| (Some(element), err.0);
        let extent = extents.get(item).copied().flatten().unwrap_or_default();
        extent.check(1, &mut allowance).map_err(fail)?;
        out.push(build(&nodes, item).map_err(fail)?);
    }
    Ok(out)
}

/// Containers nested deeper than this are refused. The tree is built by recursion here and
/// walked by recursion everywhere else (drop, encoding, printing), in a guest whose stack is
/// 1 MiB; CPython cannot pickle much deeper under its default recursion limit anyway.
const MAX_DEPTH: usize = 1000;

/// How many bytes of values a pickle may expand into beyond [`BYTES_PER_PICKLE_BYTE`] per
/// input byte. A pickle without shared references stays far below the per-byte allowance;
/// shared references are copied (values own their contents), and a few hundred bytes of
/// nested references can otherwise stand for 2**64 copies.
const SHARED_EXPANSION_ALLOWANCE: u64 = 256 << 20;

/// The expansion every input byte may account for without sharing: one opcode byte can be a
/// whole value (`N`, `]`, ...).
const BYTES_PER_PICKLE_BYTE: u64 = 64;

/// What the decoder accepts, for the messages of what it refuses.
const SUPPORTED: &str =
    "only None, bool, int, float, str, bytes, tuple, list, dict, set and frozenset are supported";

/// Declares the opcodes (named as in CPython's `pickle.py`) and [`opcode_name`].
macro_rules! opcodes {
    ($($name:ident = $code:expr,)*) => {
        $(
            #[allow(dead_code, reason = "the refused opcodes are only named")]
            const $name: u8 = $code;
        )*

        /// The name of an opcode, for messages.
        fn opcode_name(code: u8) -> &'static str {
            match code {
                $($name => stringify!($name),)*
                _ => "unknown",
            }
        }
    };
}

opcodes! {
    // Protocol 0 and 1.
    MARK = b'(',
    STOP = b'.',
    POP = b'0',
    POP_MARK = b'1',
    DUP = b'2',
    FLOAT = b'F',
    INT = b'I',
    BININT = b'J',
    BININT1 = b'K',
    LONG = b'L',
    BININT2 = b'M',
    NONE = b'N',
    PERSID = b'P',
    BINPERSID = b'Q',
    REDUCE = b'R',
    STRING = b'S',
    BINSTRING = b'T',
    SHORT_BINSTRING = b'U',
    UNICODE = b'V',
    BINUNICODE = b'X',
    APPEND = b'a',
    BUILD = b'b',
    GLOBAL = b'c',
    DICT = b'd',
    EMPTY_DICT = b'}',
    APPENDS = b'e',
    GET = b'g',
    BINGET = b'h',
    INST = b'i',
    LONG_BINGET = b'j',
    LIST = b'l',
    EMPTY_LIST = b']',
    OBJ = b'o',
    PUT = b'p',
    BINPUT = b'q',
    LONG_BINPUT = b'r',
    SETITEM = b's',
    TUPLE = b't',
    EMPTY_TUPLE = b')',
    SETITEMS = b'u',
    BINFLOAT = b'G',
    // Protocol 2.
    PROTO = 0x80,
    NEWOBJ = 0x81,
    EXT1 = 0x82,
    EXT2 = 0x83,
    EXT4 = 0x84,
    TUPLE1 = 0x85,
    TUPLE2 = 0x86,
    TUPLE3 = 0x87,
    NEWTRUE = 0x88,
    NEWFALSE = 0x89,
    LONG1 = 0x8a,
    LONG4 = 0x8b,
    // Protocol 3.
    BINBYTES = b'B',
    SHORT_BINBYTES = b'C',
    // Protocol 4.
    SHORT_BINUNICODE = 0x8c,
    BINUNICODE8 = 0x8d,
    BINBYTES8 = 0x8e,
    EMPTY_SET = 0x8f,
    ADDITEMS = 0x90,
    FROZENSET = 0x91,
    NEWOBJ_EX = 0x92,
    STACK_GLOBAL = 0x93,
    MEMOIZE = 0x94,
    FRAME = 0x95,
    // Protocol 5.
    BYTEARRAY8 = 0x96,
    NEXT_BUFFER = 0x97,
    READONLY_BUFFER = 0x98,
}

/// An index into the arena of decoded objects.
type Index = usize;

/// One Python object in the arena. Containers refer to their items by index, so an object
/// referenced twice (memo) is one node, and mutating it (APPEND, SETITEM, ...) is seen
/// through every reference, as in Python.
enum Node<'a> {
    None,
    Bool(bool),
    Int(i64),
    BigUint(u64),
    /// An int beyond what values carry. The error waits for the tree to be built, where a
    /// batch can name the element holding it.
    HugeInt(HugeInt<'a>),
    Float(f64),
    Str(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    Tuple(Vec<Index>),
    List(Vec<Index>),
    Dict(Vec<(Index, Index)>),
    Set(Vec<Index>),
    FrozenSet(Vec<Index>),
    /// One of the builtins protocols 0–3 call (`REDUCE`) to make sets and bytes.
    Callable(Callable),
}

impl Node<'_> {
    fn py_type(&self) -> &'static str {
        match self {
            Node::None => "NoneType",
            Node::Bool(_) => "bool",
            Node::Int(_) | Node::BigUint(_) | Node::HugeInt(_) => "int",
            Node::Float(_) => "float",
            Node::Str(_) => "str",
            Node::Bytes(_) => "bytes",
            Node::Tuple(_) => "tuple",
            Node::List(_) => "list",
            Node::Dict(_) => "dict",
            Node::Set(_) => "set",
            Node::FrozenSet(_) => "frozenset",
            Node::Callable(_) => "builtin",
        }
    }
}

/// The digits of an int beyond `-2**63..2**64`, kept for the message.
#[derive(Clone, Copy)]
enum HugeInt<'a> {
    /// `LONG`/`INT`: optional sign and decimal digits.
    Text(&'a [u8]),
    /// `LONG1`/`LONG4`: little-endian two's complement.
    Binary(&'a [u8]),
}

/// The builtins a pickle may call, the ones CPython's protocols 0–3 need for our types.
#[derive(Clone, Copy)]
enum Callable {
    /// `set(list)` (protocols 0–3).
    Set,
    /// `frozenset(list)` (protocols 0–3).
    FrozenSet,
    /// `bytes()`, the empty bytes (protocols 0–2; serde-pickle could not read it).
    Bytes,
    /// `_codecs.encode(str, 'latin1')`, non-empty bytes (protocols 0–2).
    Encode,
}

impl Callable {
    fn name(self) -> &'static str {
        match self {
            Callable::Set => "set",
            Callable::FrozenSet => "frozenset",
            Callable::Bytes => "bytes",
            Callable::Encode => "_codecs.encode",
        }
    }
}

// Shared nodes for the objects no opcode mutates, so a batch of `None`s costs no arena.
const NONE_NODE: Index = 0;
const FALSE_NODE: Index = 1;
const TRUE_NODE: Index = 2;
const EMPTY_TUPLE_NODE: Index = 3;

/// A parsed pickle: the arena and the object `STOP` returned.
struct Tree<'a> {
    nodes: Vec<Node<'a>>,
    root: Index,
}

/// The unpickling machine.
struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
    /// The running opcode and where it starts, for messages.
    op: u8,
    at: usize,
    nodes: Vec<Node<'a>>,
    stack: Vec<Index>,
    /// Stack lengths at each open `MARK`: everything above the last one is its items, and
    /// nothing below it can be popped (as in CPython, where a mark starts a new stack).
    marks: Vec<usize>,
    memo: HashMap<u32, Index>,
    /// Items and bytes `REDUCE` may still copy (see [`Parser::reduce`]).
    copy_allowance: usize,
}

impl<'a> Parser<'a> {
    fn new(input: &'a [u8]) -> Self {
        Parser {
            input,
            pos: 0,
            op: STOP,
            at: 0,
            nodes: vec![
                Node::None,
                Node::Bool(false),
                Node::Bool(true),
                Node::Tuple(Vec::new()),
            ],
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            copy_allowance: input.len(),
        }
    }

    fn run(mut self) -> Result<Tree<'a>, String> {
        loop {
            self.at = self.pos;
            let Some(&code) = self.input.get(self.pos) else {
                return Err(format!(
                    "the pickle ends after {} bytes without a STOP opcode",
                    self.input.len()
                ));
            };
            self.pos += 1;
            self.op = code;
            match code {
                PROTO => {
                    let [version] = self.array()?;
                    if version > 5 {
                        return self.fail(format!("unsupported pickle protocol {version}"));
                    }
                }
                FRAME => {
                    // Frames only tell a streaming reader how much to buffer; the whole
                    // pickle is here. A frame longer than what is left is a truncation.
                    let length = u64::from_le_bytes(self.array()?);
                    let left = self.input.len().saturating_sub(self.pos);
                    if usize::try_from(length).map_or(true, |length| length > left) {
                        return self.fail(format!(
                            "the pickle is truncated: FRAME declares {length} bytes, {left} left"
                        ));
                    }
                }
                STOP => {
                    let root = self.pop()?;
                    if self.pos != self.input.len() {
                        return self.fail(format!(
                            "the pickle goes on after its STOP opcode ({} more bytes)",
                            self.input.len().saturating_sub(self.pos)
                        ));
                    }
                    return Ok(Tree {
                        nodes: self.nodes,
                        root,
                    });
                }
                MARK => self.marks.push(self.stack.len()),
                POP => {
                    // CPython: popping an empty stack above a mark discards the mark.
                    if self.stack.len() > self.floor() {
                        self.stack.pop();
                    } else {
                        self.pop_mark()?;
                    }
                }
                POP_MARK => {
                    self.pop_mark()?;
                }
                DUP => {
                    let top = self.top()?;
                    self.stack.push(top);
                }

                NONE => self.stack.push(NONE_NODE),
                NEWTRUE => self.stack.push(TRUE_NODE),
                NEWFALSE => self.stack.push(FALSE_NODE),
                INT => {
                    let line = self.line()?.trim_ascii();
                    // Protocols 0 and 1 spell True and False as INT 01 and 00.
                    match line {
                        b"01" => self.stack.push(TRUE_NODE),
                        b"00" => self.stack.push(FALSE_NODE),
                        _ => {
                            let node = self.text_int(line)?;
                            self.push(node);
                        }
                    }
                }
                BININT => {
                    let value = i32::from_le_bytes(self.array()?);
                    self.push(Node::Int(value.into()));
                }
                BININT1 => {
                    let [value] = self.array()?;
                    self.push(Node::Int(value.into()));
                }
                BININT2 => {
                    let value = u16::from_le_bytes(self.array()?);
                    self.push(Node::Int(value.into()));
                }
                LONG => {
                    let line = self.line()?.trim_ascii();
                    let digits = line.strip_suffix(b"L").unwrap_or(line);
                    let node = self.text_int(digits)?;
                    self.push(node);
                }
                LONG1 | LONG4 => {
                    let length = self.length()?;
                    let bytes = self.take(length)?;
                    self.push(binary_int(bytes));
                }
                FLOAT => {
                    let line = self.line()?.trim_ascii();
                    let value = std::str::from_utf8(line)
                        .ok()
                        .and_then(|text| text.parse::<f64>().ok());
                    match value {
                        Some(value) => self.push(Node::Float(value)),
                        None => {
                            return self.fail(format!("invalid FLOAT literal '{}'", excerpt(line)))
                        }
                    }
                }
                BINFLOAT => {
                    let value = f64::from_be_bytes(self.array()?);
                    self.push(Node::Float(value));
                }

                STRING => {
                    let line = self.line()?;
                    let quoted = match line {
                        [first @ (b'\'' | b'"'), inner @ .., last] if first == last => inner,
                        _ => return self.fail("the STRING opcode argument must be quoted"),
                    };
                    match escape_decode(quoted) {
                        Ok(bytes) => self.push(Node::Bytes(Cow::Owned(bytes))),
                        Err(why) => return self.fail(format!("invalid STRING literal: {why}")),
                    }
                }
                SHORT_BINBYTES | BINBYTES | BINBYTES8 | SHORT_BINSTRING | BINSTRING => {
                    let length = self.length()?;
                    let bytes = self.take(length)?;
                    self.push(Node::Bytes(Cow::Borrowed(bytes)));
                }
                UNICODE => {
                    let line = self.line()?;
                    match raw_unicode_escape(line) {
                        Ok(text) => self.push(Node::Str(Cow::Owned(text))),
                        Err(why) => return self.fail(format!("invalid UNICODE literal: {why}")),
                    }
                }
                SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 => {
                    let length = self.length()?;
                    let bytes = self.take(length)?;
                    match std::str::from_utf8(bytes) {
                        Ok(text) => self.push(Node::Str(Cow::Borrowed(text))),
                        // CPython writes lone surrogates as they are ('surrogatepass'); a Rust
                        // str cannot hold them.
                        Err(err) => {
                            return self.fail(format!("a str that is not valid UTF-8 ({err})"))
                        }
                    }
                }

                EMPTY_TUPLE => self.stack.push(EMPTY_TUPLE_NODE),
                TUPLE => {
                    let items = self.pop_mark()?;
                    self.push(Node::Tuple(items));
                }
                TUPLE1 | TUPLE2 | TUPLE3 => {
                    let count = usize::from(code - TUPLE1) + 1;
                    match self.stack.len().checked_sub(count) {
                        Some(start) if start >= self.floor() => {
                            let items = self.stack.split_off(start);
                            self.push(Node::Tuple(items));
                        }
                        _ => return self.underflow(),
                    }
                }

                EMPTY_LIST => self.push(Node::List(Vec::new())),
                LIST => {
                    let items = self.pop_mark()?;
                    self.push(Node::List(items));
                }
                APPEND => {
                    let item = self.pop()?;
                    self.list_top("APPEND")?.push(item);
                }
                APPENDS => {
                    let items = self.pop_mark()?;
                    self.list_top("APPENDS")?.extend(items);
                }

                EMPTY_DICT => self.push(Node::Dict(Vec::new())),
                DICT => {
                    let items = self.pop_mark()?;
                    let entries = self.pairs(&items)?;
                    self.push(Node::Dict(entries));
                }
                SETITEM => {
                    let value = self.pop()?;
                    let key = self.pop()?;
                    self.dict_top("SETITEM")?.push((key, value));
                }
                SETITEMS => {
                    let items = self.pop_mark()?;
                    let entries = self.pairs(&items)?;
                    self.dict_top("SETITEMS")?.extend(entries);
                }

                EMPTY_SET => self.push(Node::Set(Vec::new())),
                ADDITEMS => {
                    let items = self.pop_mark()?;
                    let top = self.top()?;
                    match self.nodes.get_mut(top) {
                        Some(Node::Set(set)) => set.extend(items),
                        other => {
                            let found = other.map_or("nothing", |node| node.py_type());
                            return self.fail(format!("ADDITEMS to a {found}, not a set"));
                        }
                    }
                }
                FROZENSET => {
                    let items = self.pop_mark()?;
                    self.push(Node::FrozenSet(items));
                }

                PUT | BINPUT | LONG_BINPUT | MEMOIZE => {
                    let id = self.memo_id()?;
                    let top = self.top()?;
                    // The memo holds the object itself (its index), not a copy: Python
                    // memoizes a list or dict while it is still empty and fills it afterwards.
                    self.memo.insert(id, top);
                }
                GET | BINGET | LONG_BINGET => {
                    let id = self.memo_id()?;
                    match self.memo.get(&id) {
                        Some(&index) => self.stack.push(index),
                        None => return self.fail(format!("memo id {id} is not in the memo")),
                    }
                }

                GLOBAL => {
                    let module = self.line()?;
                    let name = self.line()?;
                    let callable = self.callable(module, name)?;
                    self.push(Node::Callable(callable));
                }
                STACK_GLOBAL => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    let (Some(Node::Str(module)), Some(Node::Str(name))) =
                        (self.nodes.get(module), self.nodes.get(name))
                    else {
                        return self.fail("STACK_GLOBAL requires a module and a name (str)");
                    };
                    let callable = self.callable(module.as_bytes(), name.as_bytes())?;
                    self.push(Node::Callable(callable));
                }
                REDUCE => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let node = self.reduce(callable, args)?;
                    self.push(node);
                }

                code => {
                    return self.fail(format!(
                        "unsupported pickle opcode {code:#04x} ({}): {SUPPORTED}",
                        opcode_name(code)
                    ))
                }
            }
        }
    }

    /// An error about the running opcode.
    fn fail<T>(&self, message: impl std::fmt::Display) -> Result<T, String> {
        Err(format!("{message} (at pickle byte {})", self.at))
    }

    /// The next `n` bytes, if the pickle has them.
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        match rest.get(..n) {
            Some(bytes) => {
                self.pos += n;
                Ok(bytes)
            }
            None => {
                let name = opcode_name(self.op);
                self.fail(format!(
                    "the pickle is truncated: {name} needs {n} more bytes, {} left",
                    rest.len()
                ))
            }
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let bytes = self.take(N)?;
        <[u8; N]>::try_from(bytes).or_else(|_| self.fail("internal error: short read"))
    }

    /// A line argument (protocol 0), without its newline.
    fn line(&mut self) -> Result<&'a [u8], String> {
        let rest = self.input.get(self.pos..).unwrap_or_default();
        match rest.iter().position(|&b| b == b'\n') {
            Some(end) => {
                self.pos += end + 1;
                Ok(rest.get(..end).unwrap_or_default())
            }
            None => {
                let name = opcode_name(self.op);
                self.fail(format!(
                    "the pickle is truncated: {name} needs a newline-terminated argument"
                ))
            }
        }
    }

    /// The length argument of the running opcode; whether the bytes are there is checked
    /// when they are taken.
    fn length(&mut self) -> Result<usize, String> {
        let length = match self.op {
            SHORT_BINBYTES | SHORT_BINSTRING | SHORT_BINUNICODE | LONG1 => {
                let [length] = self.array()?;
                u64::from(length)
            }
            BINBYTES | BINUNICODE => u32::from_le_bytes(self.array()?).into(),
            // CPython writes these two signed.
            BINSTRING | LONG4 => {
                let length = i32::from_le_bytes(self.array()?);
                match u64::try_from(length) {
                    Ok(length) => length,
                    Err(_) => return self.fail(format!("negative length {length}")),
                }
            }
            _ => u64::from_le_bytes(self.array()?),
        };
        match usize::try_from(length) {
            Ok(length) => Ok(length),
            Err(_) => {
                let name = opcode_name(self.op);
                self.fail(format!(
                    "the pickle is truncated: {name} needs {length} more bytes"
                ))
            }
        }
    }

    /// The memo id argument of the running opcode.
    fn memo_id(&mut self) -> Result<u32, String> {
        match self.op {
            BINPUT | BINGET => {
                let [id] = self.array()?;
                Ok(id.into())
            }
            LONG_BINPUT | LONG_BINGET => Ok(u32::from_le_bytes(self.array()?)),
            // CPython numbers the memo by its size.
            MEMOIZE => match u32::try_from(self.memo.len()) {
                Ok(id) => Ok(id),
                Err(_) => self.fail("the memo is full"),
            },
            _ => {
                let line = self.line()?.trim_ascii();
                match std::str::from_utf8(line).ok().and_then(|t| t.parse().ok()) {
                    Some(id) => Ok(id),
                    None => self.fail(format!("invalid memo id '{}'", excerpt(line))),
                }
            }
        }
    }

    /// An `INT`/`LONG` literal: what fits a value now, the digits otherwise.
    fn text_int(&self, text: &'a [u8]) -> Result<Node<'a>, String> {
        let (negative, digits) = match text {
            [b'-', digits @ ..] => (true, digits),
            [b'+', digits @ ..] => (false, digits),
            digits => (false, digits),
        };
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return self.fail(format!("invalid integer literal '{}'", excerpt(text)));
        }
        let significant = match digits.iter().position(|&d| d != b'0') {
            Some(start) => digits.get(start..).unwrap_or_default(),
            None => return Ok(Node::Int(0)),
        };
        // At most 20 digits fit a u64; the digits are ASCII.
        let magnitude = std::str::from_utf8(significant)
            .ok()
            .filter(|_| significant.len() <= 20)
            .and_then(|text| text.parse::<u64>().ok());
        Ok(match (negative, magnitude) {
            (false, Some(u)) => i64::try_from(u).map_or(Node::BigUint(u), Node::Int),
            (true, Some(u)) => match 0i64.checked_sub_unsigned(u) {
                Some(i) => Node::Int(i),
                None => Node::HugeInt(HugeInt::Text(text)),
            },
            (_, None) => Node::HugeInt(HugeInt::Text(text)),
        })
    }

    fn push(&mut self, node: Node<'a>) {
        self.stack.push(self.nodes.len());
        self.nodes.push(node);
    }

    /// The stack length below which the innermost mark hides the stack.
    fn floor(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn pop(&mut self) -> Result<Index, String> {
        if self.stack.len() > self.floor() {
            if let Some(top) = self.stack.pop() {
                return Ok(top);
            }
        }
        self.underflow()
    }

    fn top(&self) -> Result<Index, String> {
        match self.stack.last() {
            Some(&top) if self.stack.len() > self.floor() => Ok(top),
            _ => self.underflow(),
        }
    }

    fn underflow<T>(&self) -> Result<T, String> {
        let name = opcode_name(self.op);
        self.fail(format!("{name} on an empty pickle stack"))
    }

    /// The items pushed since the innermost mark, which is closed.
    fn pop_mark(&mut self) -> Result<Vec<Index>, String> {
        match self.marks.pop() {
            Some(mark) if mark <= self.stack.len() => Ok(self.stack.split_off(mark)),
            _ => {
                let name = opcode_name(self.op);
                self.fail(format!("{name} without a MARK"))
            }
        }
    }

    /// Items `k1, v1, k2, v2, ...` as entries.
    fn pairs(&self, items: &[Index]) -> Result<Vec<(Index, Index)>, String> {
        if !items.len().is_multiple_of(2) {
            return self.fail(format!(
                "{} items for a dict: keys and values do not pair up",
                items.len()
            ));
        }
        Ok(items
            .chunks_exact(2)
            .filter_map(|pair| match pair {
                &[key, value] => Some((key, value)),
                _ => None,
            })
            .collect())
    }

    fn list_top(&mut self, opcode: &str) -> Result<&mut Vec<Index>, String> {
        let top = self.top()?;
        let found = match self.nodes.get(top) {
            Some(Node::List(_)) => None,
            other => Some(other.map_or("nothing", Node::py_type)),
        };
        match (found, self.nodes.get_mut(top)) {
            (None, Some(Node::List(list))) => Ok(list),
            (found, _) => Err(format!(
                "{opcode} to a {}, not a list (at pickle byte {})",
                found.unwrap_or("nothing"),
                self.at
            )),
        }
    }

    fn dict_top(&mut self, opcode: &str) -> Result<&mut Vec<(Index, Index)>, String> {
        let top = self.top()?;
        let found = match self.nodes.get(top) {
            Some(Node::Dict(_)) => None,
            other => Some(other.map_or("nothing", Node::py_type)),
        };
        match (found, self.nodes.get_mut(top)) {
            (None, Some(Node::Dict(dict))) => Ok(dict),
            (found, _) => Err(format!(
                "{opcode} to a {}, not a dict (at pickle byte {})",
                found.unwrap_or("nothing"),
                self.at
            )),
        }
    }

    /// The builtin `module.name` refers to, if it is one the decoder calls.
    fn callable(&self, module: &[u8], name: &[u8]) -> Result<Callable, String> {
        Ok(match (module, name) {
            (b"builtins" | b"__builtin__", b"set") => Callable::Set,
            (b"builtins" | b"__builtin__", b"frozenset") => Callable::FrozenSet,
            (b"builtins" | b"__builtin__", b"bytes") => Callable::Bytes,
            (b"_codecs", b"encode") => Callable::Encode,
            _ => {
                let code = self.op;
                return self.fail(format!(
                    "unsupported pickle opcode {code:#04x} ({}) for {}.{}: {SUPPORTED}",
                    opcode_name(code),
                    excerpt(module),
                    excerpt(name)
                ));
            }
        })
    }

    /// `callable(*args)`, for the calls CPython's protocols 0–3 make for sets and bytes.
    fn reduce(&mut self, callable: Index, args: Index) -> Result<Node<'a>, String> {
        let Some(Node::Callable(callable)) = self.nodes.get(callable) else {
            let found = self.nodes.get(callable).map_or("nothing", Node::py_type);
            return self.fail(format!("REDUCE calls a {found}: {SUPPORTED}"));
        };
        let Some(Node::Tuple(args)) = self.nodes.get(args) else {
            let found = self.nodes.get(args).map_or("nothing", Node::py_type);
            return self.fail(format!("REDUCE with a {found} for arguments, not a tuple"));
        };
        let arg = |n: usize| args.get(n).and_then(|&index| self.nodes.get(index));
        // These calls copy (a set does not follow later changes to its list), and one
        // memoized list or str can be copied again and again for a few bytes each: the copies
        // must stay within what the pickle holds.
        let copies = match (callable, arg(0)) {
            (
                Callable::Set | Callable::FrozenSet,
                Some(
                    Node::List(items)
                    | Node::Tuple(items)
                    | Node::Set(items)
                    | Node::FrozenSet(items),
                ),
            ) => items.len(),
            (Callable::Encode, Some(Node::Str(text))) => text.len(),
            _ => 0,
        };
        let Some(left) = self.copy_allowance.checked_sub(copies) else {
            return self
                .fail("the pickle copies more than it holds (set, frozenset or bytes calls)");
        };
        let node = match (callable, args.len()) {
            (Callable::Set, 0) => Some(Node::Set(Vec::new())),
            (Callable::FrozenSet, 0) => Some(Node::FrozenSet(Vec::new())),
            (Callable::Set | Callable::FrozenSet, 1) => match arg(0) {
                Some(
                    Node::List(items)
                    | Node::Tuple(items)
                    | Node::Set(items)
                    | Node::FrozenSet(items),
                ) => Some(match callable {
                    Callable::Set => Node::Set(items.clone()),
                    _ => Node::FrozenSet(items.clone()),
                }),
                _ => None,
            },
            (Callable::Bytes, 0) => Some(Node::Bytes(Cow::Borrowed(&[]))),
            (Callable::Encode, 2) => match (arg(0), arg(1)) {
                (Some(Node::Str(text)), Some(Node::Str(encoding)))
                    if matches!(&**encoding, "latin1" | "latin-1") =>
                {
                    latin1(text).map(|bytes| Node::Bytes(Cow::Owned(bytes)))
                }
                _ => None,
            },
            _ => None,
        };
        match node {
            Some(node) => {
                self.copy_allowance = left;
                Ok(node)
            }
            None => self.fail(format!(
                "unsupported call of {} in the pickle: {SUPPORTED}",
                callable.name()
            )),
        }
    }
}

/// A short, printable rendering of input bytes, for messages.
fn excerpt(bytes: &[u8]) -> String {
    const LIMIT: usize = 40;
    let shown = bytes.get(..LIMIT).unwrap_or(bytes);
    if shown.len() < bytes.len() {
        format!("{}... ({} bytes)", shown.escape_ascii(), bytes.len())
    } else {
        shown.escape_ascii().to_string()
    }
}

/// The bytes a str encodes to in Latin-1, if every character has one.
fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars().map(|c| u8::try_from(c).ok()).collect()
}

/// A `LONG1`/`LONG4` payload (little-endian two's complement): what fits a value, or the
/// bytes for the message.
fn binary_int(bytes: &[u8]) -> Node<'_> {
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let fill = if negative { 0xff } else { 0x00 };
    // Without the sign extension, at most 8 bytes are left when the value fits.
    let length = bytes.iter().rposition(|&b| b != fill).map_or(0, |i| i + 1);
    let significant = bytes.get(..length).unwrap_or_default();
    let fits = if negative {
        // The eighth byte, if significant, must carry the sign itself.
        length < 8 || (length == 8 && significant.last().is_some_and(|&b| b & 0x80 != 0))
    } else {
        length <= 8
    };
    if !fits {
        return Node::HugeInt(HugeInt::Binary(bytes));
    }
    let mut buffer = [fill; 8];
    for (slot, &b) in buffer.iter_mut().zip(significant) {
        *slot = b;
    }
    if negative {
        Node::Int(i64::from_le_bytes(buffer))
    } else {
        let u = u64::from_le_bytes(buffer);
        i64::try_from(u).map_or(Node::BigUint(u), Node::Int)
    }
}

impl HugeInt<'_> {
    /// The number in decimal, shortened when long.
    fn decimal(self) -> String {
        let (negative, digits) = match self {
            HugeInt::Text(text) => {
                let (negative, digits) = match text {
                    [b'-', digits @ ..] => (true, digits),
                    [b'+', digits @ ..] => (false, digits),
                    digits => (false, digits),
                };
                let start = digits.iter().position(|&d| d != b'0').unwrap_or(0);
                let digits = digits.get(start..).unwrap_or_default();
                (negative, String::from_utf8_lossy(digits).into_owned())
            }
            HugeInt::Binary(bytes) => {
                // Converting costs quadratic time in the length: past a few hundred bytes,
                // the size says enough.
                if bytes.len() > 512 {
                    return format!("of {} bytes (a LONG4)", bytes.len());
                }
                let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
                (negative, binary_decimal(bytes, negative))
            }
        };
        let sign = if negative { "-" } else { "" };
        const SHOWN: usize = 30;
        match digits.get(..SHOWN) {
            Some(head) if digits.len() > SHOWN + 10 => {
                format!("{sign}{head}... ({} digits)", digits.len())
            }
            _ => format!("{sign}{digits}"),
        }
    }
}

/// The decimal digits of the magnitude of a little-endian two's complement number.
fn binary_decimal(bytes: &[u8], negative: bool) -> String {
    // The magnitude: the bytes themselves, or their two's complement negation.
    let mut magnitude = bytes.to_vec();
    if negative {
        let mut carry = true;
        for b in &mut magnitude {
            *b = !*b;
            if carry {
                let (sum, overflow) = b.overflowing_add(1);
                *b = sum;
                carry = overflow;
            }
        }
    }
    // Base 10**9 digits by long division of base 2**32 limbs, most significant first.
    let mut limbs: Vec<u32> = magnitude
        .chunks(4)
        .rev()
        .map(|chunk| {
            let mut word = [0u8; 4];
            for (slot, &b) in word.iter_mut().zip(chunk) {
                *slot = b;
            }
            u32::from_le_bytes(word)
        })
        .collect();
    let mut groups = Vec::new();
    while limbs.iter().any(|&limb| limb != 0) {
        let mut remainder = 0u64;
        for limb in &mut limbs {
            let current = (remainder << 32) | u64::from(*limb);
            *limb = u32::try_from(current / 1_000_000_000).unwrap_or(u32::MAX);
            remainder = current % 1_000_000_000;
        }
        groups.push(remainder);
    }
    let mut text = groups
        .pop()
        .map_or_else(|| "0".to_owned(), |g| g.to_string());
    for group in groups.iter().rev() {
        text.push_str(&format!("{group:09}"));
    }
    text
}

/// CPython's `codecs.escape_decode`, which reads `STRING` arguments (Python 2 `str` repr).
fn escape_decode(text: &[u8]) -> Result<Vec<u8>, &'static str> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let Some(escape) = bytes.next() else {
            return Err("a trailing \\");
        };
        match escape {
            b'\n' => {}
            b'\\' | b'\'' | b'"' => out.push(escape),
            b'a' => out.push(0x07),
            b'b' => out.push(0x08),
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'v' => out.push(0x0b),
            b'f' => out.push(0x0c),
            b'r' => out.push(b'\r'),
            b'0'..=b'7' => {
                let mut value = u32::from(escape - b'0');
                for _ in 0..2 {
                    match bytes.peek() {
                        Some(&d @ b'0'..=b'7') => {
                            value = value * 8 + u32::from(d - b'0');
                            bytes.next();
                        }
                        _ => break,
                    }
                }
                // CPython keeps the low byte of \400 to \777.
                out.push(value.to_le_bytes()[0]);
            }
            b'x' => {
                let high = bytes.next().and_then(|d| char::from(d).to_digit(16));
                let low = bytes.next().and_then(|d| char::from(d).to_digit(16));
                match (high, low) {
                    (Some(high), Some(low)) => out.push((high * 16 + low).to_le_bytes()[0]),
                    _ => return Err("an invalid \\x escape"),
                }
            }
            // CPython keeps unknown escapes as they are.
            other => out.extend([b'\\', other]),
        }
    }
    Ok(out)
}

/// CPython's `raw-unicode-escape` decoding, which reads `UNICODE` arguments: bytes are
/// Latin-1 characters, and `\uXXXX`/`\UXXXXXXXX` after an odd number of backslashes are
/// escapes.
fn raw_unicode_escape(line: &[u8]) -> Result<String, &'static str> {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            out.push(char::from(b));
            continue;
        }
        // A run of backslashes stays as it is, but for the last one of an odd run before
        // `u` or `U`, which starts an escape.
        let mut odd = true;
        out.push('\\');
        while let Some((b'\\', tail)) = rest.split_first() {
            rest = tail;
            odd = !odd;
            out.push('\\');
        }
        let digits = match rest.first() {
            Some(b'u') if odd => 4,
            Some(b'U') if odd => 8,
            _ => continue,
        };
        out.pop();
        let Some(hex) = rest.get(1..1 + digits) else {
            return Err("a truncated \\u or \\U escape");
        };
        let mut code = 0u32;
        for &d in hex {
            let Some(digit) = char::from(d).to_digit(16) else {
                return Err("a truncated \\u or \\U escape");
            };
            code = code * 16 + digit;
        }
        let Some(c) = char::from_u32(code) else {
            return Err("an escape out of range or a lone surrogate, which str cannot hold");
        };
        out.push(c);
        rest = rest.get(1 + digits..).unwrap_or_default();
    }
    Ok(out)
}

/// What building a node's value takes, worked out before anything is built.
#[derive(Clone, Copy, Default)]
struct Extent {
    /// Bytes of values the node expands into, shared objects counted at every reference.
    bytes: u64,
    /// Containers nested in the node, itself included (0 for a scalar).
    depth: u32,
    /// The node reaches itself, or reaches a node that does.
    cyclic: bool,
}

impl Extent {
    fn own(node: &Node<'_>) -> Extent {
        let payload = match node {
            Node::Str(text) => text.len(),
            Node::Bytes(bytes) => bytes.len(),
            _ => 0,
        };
        let container = matches!(
            node,
            Node::Tuple(_) | Node::List(_) | Node::Dict(_) | Node::Set(_) | Node::FrozenSet(_)
        );
        Extent {
            bytes: u64::try_from(std::mem::size_of::<Value>().saturating_add(payload))
                .unwrap_or(u64::MAX),
            depth: u32::from(container),
            cyclic: false,
        }
    }

    /// Adds a child's extent to its container's.
    fn add(&mut self, child: Extent) {
        self.bytes = self.bytes.saturating_add(child.bytes);
        self.depth = self.depth.max(child.depth.saturating_add(1));
        self.cyclic |= child.cyclic;
    }

    /// Whether a value of this extent may be built `depth` containers down, with
    /// `allowance` bytes left.
    fn check(self, depth: u32, allowance: &mut u64) -> Result<(), ValueError> {
        if self.cyclic {
            return Err(ValueError(
                "the pickle holds a recursive structure (a container inside itself), \
                 which values cannot represent"
                    .into(),
            ));
        }
        if u64::from(self.depth) + u64::from(depth) > MAX_DEPTH as u64 {
            return Err(ValueError(format!(
                "the pickle nests containers deeper than {MAX_DEPTH} levels"
            )));
        }
        match allowance.checked_sub(self.bytes) {
            Some(left) => {
                *allowance = left;
                Ok(())
            }
            None => Err(ValueError(format!(
                "the pickle's shared references expand into more values than allowed \
                 ({} MiB left; shared objects are copied at every reference)",
                *allowance >> 20
            ))),
        }
    }
}

/// The children of a container: its items, or its keys and values in turn.
fn child(node: &Node<'_>, n: usize) -> Option<Index> {
    match node {
        Node::Tuple(items) | Node::List(items) | Node::Set(items) | Node::FrozenSet(items) => {
            items.get(n).copied()
        }
        Node::Dict(entries) => {
            entries
                .get(n / 2)
                .map(|&(key, value)| if n.is_multiple_of(2) { key } else { value })
        }
        _ => None,
    }
}

/// The extent of every node reachable from `root` (`None` for the others), by a depth-first
/// walk with an explicit stack: the arena may nest or share without bound, the native stack
/// may not.
fn extents(nodes: &[Node<'_>], root: Index) -> Vec<Option<Extent>> {
    // Nodes on the walk's path, whose extent is not known yet.
    let mut open = vec![false; nodes.len()];
    let mut done: Vec<Option<Extent>> = vec![None; nodes.len()];
    // (node, next child, extent so far)
    let mut path: Vec<(Index, usize, Extent)> = Vec::new();
    let start = |index: Index, open: &mut Vec<bool>| {
        if let Some(flag) = open.get_mut(index) {
            *flag = true;
        }
        let own = nodes.get(index).map(Extent::own).unwrap_or_default();
        (index, 0, own)
    };
    path.push(start(root, &mut open));
    while let Some((index, next, extent)) = path.last_mut() {
        let node = nodes.get(*index);
        match node.and_then(|node| child(node, *next)) {
            Some(item) => {
                *next += 1;
                if let Some(known) = done.get(item).copied().flatten() {
                    extent.add(known);
                } else if open.get(item).copied().unwrap_or(false) {
                    // A way back to a node on the path: everything from it down to here is
                    // on a cycle, and the flag rises through the path as the walk unwinds.
                    extent.cyclic = true;
                } else {
                    path.push(start(item, &mut open));
                }
            }
            None => {
                let (index, extent) = (*index, *extent);
                path.pop();
                if let Some(flag) = open.get_mut(index) {
                    *flag = false;
                }
                if let Some(slot) = done.get_mut(index) {
                    *slot = Some(extent);
                }
                if let Some((_, _, parent)) = path.last_mut() {
                    parent.add(extent);
                }
            }
        }
    }
    done
}

/// Bytes of values a pickle of `input_len` bytes may expand into.
fn allowance(input_len: usize) -> u64 {
    u64::try_from(input_len)
        .unwrap_or(u64::MAX)
        .saturating_mul(BYTES_PER_PICKLE_BYTE)
        .saturating_add(SHARED_EXPANSION_ALLOWANCE)
}

/// Builds the value of a node whose extent was checked (no cycles, bounded depth and size),
/// with an explicit stack of the containers being filled: the values go on to recursive
/// code (encoding, comparing, dropping), which should get the native stack to itself.
fn build(nodes: &[Node<'_>], root: Index) -> Result<Value, ValueError> {
    let mut open: Vec<Partial<'_>> = Vec::new();
    let mut next = root;
    loop {
        let mut done = match nodes.get(next) {
            Some(Node::Tuple(items)) => Partial::items(items, true),
            Some(Node::List(items) | Node::Set(items) | Node::FrozenSet(items)) => {
                Partial::items(items, false)
            }
            Some(Node::Dict(entries)) => Partial::Dict {
                entries,
                out: Vec::with_capacity(entries.len()),
                key: None,
            },
            other => Partial::Done(scalar(other)?),
        };
        // Hands finished values up to their containers until one wants another child.
        loop {
            match done.next_child() {
                Some(child) => {
                    // The extent check makes this unreachable; it bounds the stack regardless.
                    if open.len() >= MAX_DEPTH {
                        return Err(ValueError(format!(
                            "the pickle nests containers deeper than {MAX_DEPTH} levels"
                        )));
                    }
                    open.push(done);
                    next = child;
                    break;
                }
                None => {
                    let value = done.finish();
                    match open.pop() {
                        Some(mut parent) => {
                            parent.push(value);
                            done = parent;
                        }
                        None => return Ok(value),
                    }
                }
            }
        }
    }
}

/// A value being built: a container with the items it has so far, or a finished value.
enum Partial<'t> {
    Items {
        items: &'t [Index],
        out: Vec<Value>,
        tuple: bool,
    },
    Dict {
        entries: &'t [(Index, Index)],
        out: Vec<(Value, Value)>,
        /// The key whose value is being built.
        key: Option<Value>,
    },
    Done(Value),
}

impl<'t> Partial<'t> {
    fn items(items: &'t [Index], tuple: bool) -> Self {
        Partial::Items {
            items,
            out: Vec::with_capacity(items.len()),
            tuple,
        }
    }

    /// The node of the next item, key or value, if the container is not complete.
    fn next_child(&self) -> Option<Index> {
        match self {
            Partial::Items { items, out, .. } => items.get(out.len()).copied(),
            Partial::Dict { entries, out, key } => {
                let (k, v) = entries.get(out.len())?;
                Some(if key.is_some() { *v } else { *k })
            }
            Partial::Done(_) => None,
        }
    }

    fn push(&mut self, value: Value) {
        match self {
            Partial::Items { out, .. } => out.push(value),
            Partial::Dict { out, key, .. } => match key.take() {
                Some(key) => out.push((key, value)),
                None => *key = Some(value),
            },
            Partial::Done(_) => {}
        }
    }

    fn finish(self) -> Value {
        match self {
            Partial::Items { out, tuple, .. } => {
                if tuple {
                    Value::Tuple(out)
                } else {
                    Value::List(out)
                }
            }
            Partial::Dict { mut out, .. } => {
                dedupe_keys(&mut out);
                Value::Dict(out)
            }
            Partial::Done(value) => value,
        }
    }
}

fn scalar(node: Option<&Node<'_>>) -> Result<Value, ValueError> {
    Ok(match node {
        Some(Node::None) => Value::None,
        Some(Node::Bool(b)) => Value::Bool(*b),
        Some(Node::Int(i)) => Value::Int(*i),
        Some(Node::BigUint(u)) => Value::BigUint(*u),
        Some(Node::HugeInt(huge)) => return Err(int_out_of_range(huge.decimal())),
        Some(Node::Float(f)) => Value::Float(*f),
        Some(Node::Str(text)) => Value::Str(text.clone().into_owned()),
        Some(Node::Bytes(bytes)) => Value::Bytes(bytes.clone().into_owned()),
        Some(Node::Callable(callable)) => {
            return Err(ValueError(format!(
                "the pickle holds the builtin {} itself, not a call of it: {SUPPORTED}",
                callable.name()
            )))
        }
        Some(
            Node::Tuple(_) | Node::List(_) | Node::Set(_) | Node::FrozenSet(_) | Node::Dict(_),
        )
        | None => {
            return Err(ValueError(
                "internal error: a pickle node is missing".into(),
            ))
        }
    })
}

/// Python's dict semantics for a key given twice (only a hand-made pickle does that): the
/// key keeps its first position and takes the last value. Small dicts compare every pair;
/// larger ones compare only keys of equal hash, so a big dict is not quadratic.
fn dedupe_keys(entries: &mut Vec<(Value, Value)>) {
    const LINEAR: usize = 8;
    let len = entries.len();
    // Which entries merged into an earlier one; sized at the first duplicate, as most dicts
    // have none.
    let mut duplicate: Vec<bool> = Vec::new();
    let mut merge = |entries: &mut Vec<(Value, Value)>, first: usize, later: usize| {
        let same = matches!(
            (entries.get(first), entries.get(later)),
            (Some((a, _)), Some((b, _))) if a == b
        );
        if !same || duplicate.get(later).copied().unwrap_or(false) {
            return;
        }
        if duplicate.is_empty() {
            duplicate.resize(len, false);
        }
        if let Some(slot) = duplicate.get_mut(later) {
            *slot = true;
        }
        let value = entries
            .get_mut(later)
            .map(|(_, value)| std::mem::replace(value, Value::None));
        if let (Some(value), Some((_, slot))) = (value, entries.get_mut(first)) {
            *slot = value;
        }
    };
    if entries.len() <= LINEAR {
        for first in 0..entries.len() {
            for later in first + 1..entries.len() {
                merge(entries, first, later);
            }
        }
    } else {
        let state = std::collections::hash_map::RandomState::new();
        let mut order: Vec<(u64, usize)> = entries
            .iter()
            .enumerate()
            .map(|(position, (key, _))| {
                let mut hasher = state.build_hasher();
                hash_value(key, &mut hasher);
                (hasher.finish(), position)
            })
            .collect();
        // Positions ascend within a hash, so the first key of a group comes first.
        order.sort_unstable();
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            for (n, &(_, first)) in group.iter().enumerate() {
                for &(_, later) in group.get(n + 1..).unwrap_or_default() {
                    merge(entries, first, later);
                }
            }
        }
    }
    if !duplicate.is_empty() {
        let mut flags = duplicate.into_iter();
        entries.retain(|_| !flags.next().unwrap_or(false));
    }
}

/// A hash consistent with `Value`'s equality (`0.0 == -0.0`).
fn hash_value(value: &Value, hasher: &mut impl Hasher) {
    std::mem::discriminant(value).hash(hasher);
    match value {
        Value::None => {}
        Value::Bool(b) => b.hash(hasher),
        Value::Int(i) => i.hash(hasher),
        Value::BigUint(u) => u.hash(hasher),
        Value::Float(f) => {
            let f = if *f == 0.0 { 0.0 } else { *f };
            f.to_bits().hash(hasher);
        }
        Value::Str(s) => s.hash(hasher),
        Value::Bytes(b) => b.hash(hasher),
        Value::Tuple(items) | Value::List(items) => {
            items.len().hash(hasher);
            for item in items {
                hash_value(item, hasher);
            }
        }
        Value::Dict(entries) => {
            entries.len().hash(hasher);
            for (key, value) in entries {
                hash_value(key, hasher);
                hash_value(value, hasher);
            }
        }
    }
}

/// A value as the Python object it stands for, for serde-pickle's serializer.
pub(crate) struct Pickled<'a>(pub(crate) &'a Value);

impl Serialize for Pickled<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::None => serializer.serialize_none(),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Int(i) => serializer.serialize_i64(*i),
            Value::BigUint(u) => serializer.serialize_u64(*u),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::Str(s) => serializer.serialize_str(s),
            Value::Bytes(b) => serializer.serialize_bytes(b),
            Value::Tuple(items) => {
                let mut tuple = serializer.serialize_tuple(items.len())?;
                for item in items {
                    tuple.serialize_element(&Pickled(item))?;
                }
                tuple.end()
            }
            Value::List(items) => {
                let mut list = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    list.serialize_element(&Pickled(item))?;
                }
                list.end()
            }
            Value::Dict(entries) => {
                let mut dict = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    dict.serialize_entry(&Pickled(key), &Pickled(value))?;
                }
                dict.end()
            }
        }
    }
}

/// An owned value as its Python object (for streams of values).
pub(crate) struct PickledOwned(pub(crate) Value);

impl Serialize for PickledOwned {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Pickled(&self.0).serialize(serializer)
    }
}

/// The pickle of one value (protocol 3, as the rest of the output).
#[cfg(test)]
pub(crate) fn to_pickle(value: &Value) -> Result<Vec<u8>, String> {
    serde_pickle::to_vec(&Pickled(value), serde_pickle::SerOptions::new())
        .map_err(crate::error::pickle_message)
}

mod flat;
#[cfg(test)]
mod tests;
