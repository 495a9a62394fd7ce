//! The fast path of batch decoding: a PySpark batch that is a flat list of scalars (`int`,
//! `float`, `str`, `bytes`, `bool`, `None`) or of tuples of up to three scalars (pair RDDs),
//! the shape of almost every cached or parallelized RDD, read in one pass straight into typed
//! elements or [`Value`]s, without the arena, the extents walk and the tree build of the
//! general decoder.
//!
//! It accepts exactly the opcode sequences CPython's pickler writes for such a list at
//! protocols 2 to 5 (`PROTO`, `FRAME`s, `EMPTY_LIST`, batches of `MARK … APPENDS` or single
//! `APPEND`s, `TUPLE1`–`TUPLE3` and `EMPTY_TUPLE`, memo writes after strings, bytes and tuples,
//! memo reads of them, `STOP`) and gives up on anything else, leaving the batch to the general decoder ([`super::from_pickle_list`]),
//! which then decodes it — or reports what is wrong with it — exactly as before. Whatever it
//! accepts, it decodes to the values the general decoder would (ints through the same
//! `binary_int`; the tests compare the two on what CPython writes).

use super::{
    binary_int, Node, Value, APPEND, APPENDS, BINBYTES, BINBYTES8, BINFLOAT, BINGET, BININT,
    BININT1, BININT2, BINPUT, BINSTRING, BINUNICODE, BINUNICODE8, EMPTY_LIST, EMPTY_TUPLE, FRAME,
    LONG1, LONG_BINGET, LONG_BINPUT, MARK, MEMOIZE, NEWFALSE, NEWTRUE, NONE, PROTO, SHORT_BINBYTES,
    SHORT_BINSTRING, SHORT_BINUNICODE, STOP, TUPLE1, TUPLE2, TUPLE3,
};
use crate::value::{FlatElement, Scalar};

/// Memo reads repeat a scalar. The fast path gives up past this many repeated bytes per
/// input byte plus [`REPEAT_ALLOWANCE`], far below the general decoder's bound on shared
/// copies, so a hostile batch never makes it allocate much before it is handed over.
const REPEAT_ALLOWANCE_PER_BYTE: u64 = 4;
const REPEAT_ALLOWANCE: u64 = 64 << 10;

/// Memo ids beyond this make the fast path give up (CPython numbers them from 0 upwards).
const MAX_MEMO_ID: u32 = 1 << 20;

/// What a memo id refers to. Small, because the last push is noted after every element.
#[derive(Clone, Copy)]
enum Memo {
    /// The batch list itself.
    List,
    /// The scalar whose opcode starts at this offset (decoded again when read).
    Scalar(usize),
    /// A tuple, by its index in `Scanner::tuples`.
    Tuple(usize),
}

/// Why [`scan_into`] stopped early.
pub(crate) enum Stop<E> {
    /// The pickle is not a flat list (or is broken): the general decoder's job.
    NotFlat,
    /// The sink refused element number `.0` (counting from this batch's first).
    Sink(u64, E),
}

/// Appends the elements of a flat list, each through `convert`, to `out`. When the pickle is
/// not a flat list, `out` is left as it was and the result is [`Stop::NotFlat`].
///
/// A first pass hands scalars out at once, the fastest way for lists of scalars; meeting a
/// tuple opcode, it discards what it appended and a second pass holds the last three scalars
/// back until it knows they are not a tuple's items.
///
/// A conversion error is reported only once the whole pickle has proved flat: a later opcode
/// can still show that the batch is not flat after all (`convert` is not called again after
/// its first error).
pub(crate) fn scan_into<'a, T, E>(
    bytes: &'a [u8],
    out: &mut Vec<T>,
    mut convert: impl FnMut(FlatElement<'_, 'a>) -> Result<T, E>,
) -> Result<(), Stop<E>> {
    let before = out.len();
    let mut result = pass::<false, _, _>(bytes, out, &mut convert);
    if let Err(Miss::Tuples) = result {
        out.truncate(before);
        result = pass::<true, _, _>(bytes, out, &mut convert);
    }
    result.map_err(|miss| match miss {
        Miss::Refused(index, e) => Stop::Sink(index, e),
        Miss::Tuples | Miss::NotFlat => {
            out.truncate(before);
            Stop::NotFlat
        }
    })
}

/// Why a pass ended early.
enum Miss<E> {
    NotFlat,
    /// A tuple opcode in a pass that does not hold scalars back.
    Tuples,
    Refused(u64, E),
}

#[inline(always)]
fn pass<'a, const TUPLES: bool, T, E>(
    bytes: &'a [u8],
    out: &mut Vec<T>,
    convert: &mut impl FnMut(FlatElement<'_, 'a>) -> Result<T, E>,
) -> Result<(), Miss<E>> {
    let mut scanner = Scanner {
        input: bytes,
        pos: 0,
        memo: Vec::new(),
        tuples: Vec::new(),
        memo_len: 0,
        repeated: 0,
        saw_tuple: false,
    };
    let mut index = 0u64;
    let mut refused: Option<(u64, E)> = None;
    let flat = scanner.run::<TUPLES>(|element| {
        if refused.is_none() {
            match convert(element) {
                Ok(converted) => out.push(converted),
                Err(e) => refused = Some((index, e)),
            }
        }
        index += 1;
    });
    match (flat, refused) {
        (false, _) if scanner.saw_tuple => Err(Miss::Tuples),
        (false, _) => Err(Miss::NotFlat),
        (true, Some((index, e))) => Err(Miss::Refused(index, e)),
        (true, None) => Ok(()),
    }
}

/// Decodes `bytes` into `out` (appending) when it is a flat list that decodes without error;
/// otherwise leaves `out` as it was and returns `false`.
pub(crate) fn flat_list(bytes: &[u8], out: &mut Vec<Value>) -> bool {
    scan_into(bytes, out, |element| Ok::<Value, ()>(element.to_value())).is_ok()
}

struct Scanner<'a> {
    input: &'a [u8],
    pos: usize,
    memo: Vec<Option<Memo>>,
    /// Tuples a memo write named.
    tuples: Vec<Items<'a>>,
    /// Distinct memo ids written (the id `MEMOIZE` assigns next, as CPython's `len(memo)`).
    memo_len: u32,
    /// Bytes repeated by memo reads.
    repeated: u64,
    /// A pass that does not hold scalars back met a tuple opcode.
    saw_tuple: bool,
}

/// What one opcode pushed.
#[derive(Clone, Copy)]
enum Pushed<'a> {
    Scalar(Scalar<'a>),
    Tuple(Items<'a>),
}

/// The scalars at the top of the unpickling stack not yet handed out: a `TUPLE1`–`TUPLE3`
/// may still make them items of a tuple, so up to three wait here (a ring, so a long list of
/// scalars costs no shifting). A scalar pushed out at the bottom is an element.
struct Window<'a> {
    slots: [Scalar<'a>; 4],
    head: usize,
    len: usize,
}

impl<'a> Window<'a> {
    const HOLD: usize = 3;

    fn slot(&self, i: usize) -> Scalar<'a> {
        self.slots[(self.head + i) & 3]
    }

    /// Pushes `scalar`; a full window first hands its bottom scalar to `emit`.
    #[inline]
    fn push(&mut self, scalar: Scalar<'a>, emit: &mut impl FnMut(FlatElement<'_, 'a>)) {
        if self.len == Self::HOLD {
            emit(FlatElement::Scalar(self.slot(0)));
            self.head = (self.head + 1) & 3;
            self.len -= 1;
        }
        self.slots[(self.head + self.len) & 3] = scalar;
        self.len += 1;
    }

    /// Hands every waiting scalar to `emit`, bottom first.
    fn drain(&mut self, emit: &mut impl FnMut(FlatElement<'_, 'a>)) {
        for i in 0..self.len {
            emit(FlatElement::Scalar(self.slot(i)));
        }
        self.len = 0;
    }

    /// The items of the tuple of the top `n` scalars, handing out the ones below it first;
    /// `None` when fewer than `n` scalars wait (an item would be a tuple, or already an
    /// element).
    fn tuple(&mut self, n: usize, emit: &mut impl FnMut(FlatElement<'_, 'a>)) -> Option<Items<'a>> {
        let below = self.len.checked_sub(n)?;
        let mut items = Items {
            scalars: [Scalar::None; 3],
            len: n,
        };
        for (k, item) in items.scalars.iter_mut().take(n).enumerate() {
            *item = self.slot(below + k);
        }
        self.len = below;
        self.drain(emit);
        Some(items)
    }
}

/// A tuple's items, owned by the decoder.
#[derive(Clone, Copy)]
struct Items<'a> {
    scalars: [Scalar<'a>; 3],
    len: usize,
}

impl<'a> Items<'a> {
    fn element(&self) -> FlatElement<'_, 'a> {
        FlatElement::Tuple(self.scalars.get(..self.len).unwrap_or_default())
    }
}

impl<'a> Scanner<'a> {
    /// Runs the pickle, handing each element to `emit`: `true` when it was a flat list to the
    /// end, `false` when it is not (or is broken).
    fn run<const TUPLES: bool>(&mut self, mut emit: impl FnMut(FlatElement<'_, 'a>)) -> bool {
        let Some(code) = self.start() else {
            return false;
        };
        if code != EMPTY_LIST {
            return false;
        }
        self.body::<TUPLES>(&mut emit).is_some()
    }

    /// `PROTO` and leading frames; the first other opcode.
    fn start(&mut self) -> Option<u8> {
        let mut code = self.byte()?;
        if code == PROTO {
            if self.byte()? > 5 {
                return None;
            }
            code = self.frames()?;
        }
        Some(code)
    }

    /// The list's body, through `STOP`; `None` when it is not a flat list. Without `TUPLES`,
    /// scalars are handed out at once and a tuple opcode ends the pass (`saw_tuple`).
    #[inline]
    fn body<const TUPLES: bool>(
        &mut self,
        emit: &mut impl FnMut(FlatElement<'_, 'a>),
    ) -> Option<()> {
        let mut window = Window {
            slots: [Scalar::None; 4],
            head: 0,
            len: 0,
        };
        let mut in_mark = false;
        // Stack entries above the list (or its open mark), handed out or waiting.
        let mut depth = 0usize;
        // What the last opcode left on top (what a memo write names), if it pushed anything.
        let mut last: Option<Memo> = Some(Memo::List);
        loop {
            let code = self.frames()?;
            let at = self.pos - 1;
            match code {
                MARK if !in_mark && depth == 0 => {
                    in_mark = true;
                    last = None;
                }
                APPENDS if in_mark => {
                    window.drain(emit);
                    in_mark = false;
                    depth = 0;
                    last = None;
                }
                APPEND if !in_mark && depth == 1 => {
                    window.drain(emit);
                    depth = 0;
                    last = None;
                }
                STOP => {
                    let done = !in_mark && depth == 0 && self.pos == self.input.len();
                    return done.then_some(());
                }
                MEMOIZE | BINPUT | LONG_BINPUT => {
                    let id = match code {
                        MEMOIZE => self.memo_len,
                        BINPUT => u32::from(self.byte()?),
                        _ => u32::from_le_bytes(self.array()?),
                    };
                    // A memo write leaves the stack as it was: a second write names the same.
                    self.remember(id, last?)?;
                }
                TUPLE1 | TUPLE2 | TUPLE3 | EMPTY_TUPLE if !TUPLES => {
                    self.saw_tuple = true;
                    return None;
                }
                TUPLE1 | TUPLE2 | TUPLE3 => {
                    let n = usize::from(code - TUPLE1) + 1;
                    let tuple = window.tuple(n, emit)?;
                    // The tuple is an element unless something takes it as an item, and
                    // everything that could makes the batch not flat.
                    emit(tuple.element());
                    depth -= n - 1;
                    last = Some(self.note_tuple(tuple));
                }
                BINGET | LONG_BINGET | EMPTY_TUPLE => {
                    let (pushed, memo) = if code == EMPTY_TUPLE {
                        let empty = Items {
                            scalars: [Scalar::None; 3],
                            len: 0,
                        };
                        (Pushed::Tuple(empty), None)
                    } else {
                        let id = match code {
                            BINGET => u32::from(self.byte()?),
                            _ => u32::from_le_bytes(self.array()?),
                        };
                        let memo = (*self.memo.get(id as usize)?)?;
                        let pushed = match memo {
                            Memo::List => return None,
                            Memo::Scalar(at) => Pushed::Scalar(self.scalar_at(at)?),
                            Memo::Tuple(index) => Pushed::Tuple(*self.tuples.get(index)?),
                        };
                        self.count_repeat(&pushed)?;
                        (pushed, Some(memo))
                    };
                    // Outside a mark, only the items of one element may wait for `APPEND`.
                    if !in_mark && depth == Window::HOLD {
                        return None;
                    }
                    depth += 1;
                    match pushed {
                        Pushed::Scalar(scalar) if !TUPLES => emit(FlatElement::Scalar(scalar)),
                        Pushed::Scalar(scalar) => window.push(scalar, emit),
                        Pushed::Tuple(items) => {
                            window.drain(emit);
                            emit(items.element());
                        }
                    }
                    last = match (memo, pushed) {
                        (Some(memo), _) => Some(memo),
                        (None, Pushed::Tuple(items)) => Some(self.note_tuple(items)),
                        (None, Pushed::Scalar(_)) => None,
                    };
                }
                // The hot path: a scalar opcode.
                _ => {
                    let scalar = self.scalar(code)?;
                    // Outside a mark, only the items of one element may wait for `APPEND`.
                    if !in_mark && depth == Window::HOLD {
                        return None;
                    }
                    depth += 1;
                    if TUPLES {
                        window.push(scalar, emit);
                    } else {
                        emit(FlatElement::Scalar(scalar));
                    }
                    last = Some(Memo::Scalar(at));
                }
            }
        }
    }

    /// Keeps `tuple` where a memo write can name it.
    fn note_tuple(&mut self, tuple: Items<'a>) -> Memo {
        self.tuples.push(tuple);
        Memo::Tuple(self.tuples.len() - 1)
    }

    /// The scalar whose opcode starts at `at`, decoded again.
    fn scalar_at(&mut self, at: usize) -> Option<Scalar<'a>> {
        let resume = self.pos;
        self.pos = at + 1;
        let scalar = self.scalar(*self.input.get(at)?);
        self.pos = resume;
        scalar
    }

    /// Accounts for the bytes a memo read repeats; `None` past the allowance.
    fn count_repeat(&mut self, pushed: &Pushed<'a>) -> Option<()> {
        let scalars = match pushed {
            Pushed::Scalar(scalar) => std::slice::from_ref(scalar),
            Pushed::Tuple(items) => items.scalars.get(..items.len)?,
        };
        for scalar in scalars {
            self.repeated += match scalar {
                Scalar::Str(text) => text.len() as u64,
                Scalar::Bytes(bytes) => bytes.len() as u64,
                _ => 0,
            } + 1;
        }
        let allowance = REPEAT_ALLOWANCE_PER_BYTE * self.input.len() as u64 + REPEAT_ALLOWANCE;
        (self.repeated <= allowance).then_some(())
    }

    fn remember(&mut self, id: u32, what: Memo) -> Option<()> {
        if id > MAX_MEMO_ID {
            return None;
        }
        let slot = id as usize;
        if self.memo.len() <= slot {
            self.memo.resize(slot + 1, None);
        }
        let entry = self.memo.get_mut(slot)?;
        if entry.is_none() {
            self.memo_len += 1;
        }
        *entry = Some(what);
        Some(())
    }

    /// The scalar an opcode pushes (as the general decoder reads it), `None` for any other
    /// opcode and for ints beyond what values carry.
    #[inline(always)]
    fn scalar(&mut self, code: u8) -> Option<Scalar<'a>> {
        Some(match code {
            NONE => Scalar::None,
            NEWTRUE => Scalar::Bool(true),
            NEWFALSE => Scalar::Bool(false),
            BININT1 => Scalar::Int(self.byte()?.into()),
            BININT2 => Scalar::Int(u16::from_le_bytes(self.array()?).into()),
            BININT => Scalar::Int(i32::from_le_bytes(self.array()?).into()),
            BINFLOAT => Scalar::Float(f64::from_be_bytes(self.array()?)),
            LONG1 => {
                let length = self.byte()?;
                match binary_int(self.take(length.into())?) {
                    Node::Int(i) => Scalar::Int(i),
                    Node::BigUint(u) => Scalar::BigUint(u),
                    _ => return None,
                }
            }
            SHORT_BINUNICODE | BINUNICODE | BINUNICODE8 => {
                let length = self.length(code)?;
                Scalar::Str(std::str::from_utf8(self.take(length)?).ok()?)
            }
            SHORT_BINBYTES | BINBYTES | BINBYTES8 | SHORT_BINSTRING | BINSTRING => {
                let length = self.length(code)?;
                Scalar::Bytes(self.take(length)?)
            }
            _ => return None,
        })
    }

    #[inline(always)]
    fn length(&mut self, code: u8) -> Option<usize> {
        match code {
            SHORT_BINUNICODE | SHORT_BINBYTES | SHORT_BINSTRING => Some(self.byte()?.into()),
            BINUNICODE | BINBYTES => usize::try_from(u32::from_le_bytes(self.array()?)).ok(),
            BINSTRING => usize::try_from(i32::from_le_bytes(self.array()?)).ok(),
            _ => usize::try_from(u64::from_le_bytes(self.array()?)).ok(),
        }
    }

    /// The next opcode that is not a `FRAME` (frames are checked and skipped).
    #[inline(always)]
    fn frames(&mut self) -> Option<u8> {
        loop {
            let code = self.byte()?;
            if code != FRAME {
                return Some(code);
            }
            let length = u64::from_le_bytes(self.array()?);
            let left = self.input.len().saturating_sub(self.pos) as u64;
            if length > left {
                return None;
            }
        }
    }

    #[inline(always)]
    fn byte(&mut self) -> Option<u8> {
        let byte = *self.input.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    #[inline(always)]
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.take(N)?;
        bytes.try_into().ok()
    }

    #[inline(always)]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let bytes = self.input.get(self.pos..end)?;
        self.pos = end;
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::from_pickle_list;
    use super::*;

    fn flat(bytes: &[u8]) -> Option<Vec<Value>> {
        let mut out = vec![Value::Str("kept".into())];
        let accepted = flat_list(bytes, &mut out);
        assert_eq!(
            out.first(),
            Some(&Value::Str("kept".into())),
            "earlier output is kept"
        );
        if accepted {
            Some(out.split_off(1))
        } else {
            assert_eq!(out.len(), 1, "a refused batch leaves nothing behind");
            None
        }
    }

    /// Pickles CPython writes (`pickle.dumps(obj, protocol)`), as PySpark batches.
    const CPYTHON: &[(&str, &[u8])] = &[
        // [1, 300, 70000, -5, 2**40, 2**63] at protocol 5
        (
            "ints p5",
            b"\x80\x05\x95\x27\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01M,\x01Jp\x11\x01\x00J\xfb\xff\xff\xff\x8a\x06\x00\x00\x00\x00\x00\x01\x8a\t\x00\x00\x00\x00\x00\x00\x00\x80\x00e.",
        ),
        // ['a', 'bb', 'a', b'x', None, True, 1.5] at protocol 4 ('a' is one object: BINGET)
        (
            "mixed p4",
            b"\x80\x04\x95\x1f\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x01a\x94\x8c\x02bb\x94h\x01C\x01x\x94N\x88G?\xf8\x00\x00\x00\x00\x00\x00e.",
        ),
        // [7] at protocol 2: APPEND of a single element, BINPUT memo writes
        ("one p2", b"\x80\x02]q\x00K\x07a."),
        // ['x', 'x'] at protocol 2 (the same object twice: BINGET)
        ("shared p2", b"\x80\x02]q\x00(X\x01\x00\x00\x00xq\x01h\x01e."),
        // [('a', 1), ('b', 2), ('a', 1)] at protocol 5 (the third is the first tuple again)
        (
            "pairs p5",
            b"\x80\x05\x95\x17\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x01a\x94K\x01\x86\x94\x8c\x01b\x94K\x02\x86\x94h\x02e.",
        ),
        // [('k', 1), ('k', 2.5), (), (None,), (1, 2, 3)] at protocol 4
        (
            "tuples p4",
            b"\x80\x04\x95&\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x01k\x94K\x01\x86\x94h\x01G@\x04\x00\x00\x00\x00\x00\x00\x86\x94)N\x85\x94K\x01K\x02K\x03\x87\x94e.",
        ),
        // [t, t] with t = ('x', 1) at protocol 2
        ("shared tuple p2", b"\x80\x02]q\x00(X\x01\x00\x00\x00xq\x01K\x01\x86q\x02h\x02e."),
        // [('a', 1)] at protocol 4: one APPEND of a tuple
        ("one pair p4", b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94\x8c\x01a\x94K\x01\x86\x94a."),
    ];

    #[test]
    fn decodes_what_cpython_writes_as_the_general_decoder_does() {
        for (name, bytes) in CPYTHON {
            let general = from_pickle_list(bytes).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(flat(bytes).as_ref(), Some(&general), "{name}");
        }
    }

    #[test]
    fn leaves_nested_elements_and_errors_to_the_general_decoder() {
        let refused: &[(&str, &[u8])] = &[
            // [((1, 2), 3)]: a tuple in a tuple
            ("nested tuple", b"\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00]\x94K\x01K\x02\x86\x94K\x03\x86\x94a."),
            // [(1, 2, 3, 4)]: a tuple longer than three (MARK ... TUPLE)
            ("long tuple", b"\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01K\x02K\x03K\x04t\x94a."),
            ("tuple of too few", b"\x80\x02]q\x00K\x01\x86a."),
            ("four loose elements", b"\x80\x02]q\x00K\x01K\x02K\x03K\x04\x87a."),
            // 2**64 (out of range: the general decoder names the element)
            (
                "huge int",
                b"\x80\x02]q\x00\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x01a.",
            ),
            ("not a list", b"\x80\x02K\x01."),
            ("truncated", b"\x80\x02]q\x00(K\x01"),
            ("trailing bytes", b"\x80\x02]q\x00K\x07a.x"),
            ("two loose elements", b"\x80\x02]q\x00K\x07K\x08a."),
            ("unknown memo", b"\x80\x02]q\x00h\x05a."),
            ("memo of the list", b"\x80\x02]q\x00h\x00a."),
            ("bad utf-8", b"\x80\x02]q\x00X\x01\x00\x00\x00\xffa."),
            (
                "frame too long",
                b"\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00].",
            ),
            ("protocol 6", b"\x80\x06]."),
        ];
        for (name, bytes) in refused {
            assert_eq!(flat(bytes), None, "{name}");
        }
    }

    #[test]
    fn a_sink_error_counts_only_for_a_flat_list() {
        let ints_only = |element: FlatElement<'_, '_>| match element {
            FlatElement::Scalar(Scalar::Int(_)) => Ok(()),
            _ => Err("not an int"),
        };
        // [((1, 2), 3)]: 1 and 2 are pushed before it shows they are items, and the batch
        // then proves not flat: no sink error, the general decoder's turn.
        let nested =
            b"\x80\x04\x95\x0e\x00\x00\x00\x00\x00\x00\x00]\x94K\x01K\x02\x86\x94K\x03\x86\x94a.";
        assert!(matches!(
            scan_into(nested, &mut Vec::new(), ints_only),
            Err(Stop::NotFlat)
        ));
        // [1, 'a', 'b']: the first refusal, by element index.
        let flat =
            b"\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8c\x01a\x94\x8c\x01b\x94e.";
        assert!(matches!(
            scan_into(flat, &mut Vec::new(), ints_only),
            Err(Stop::Sink(1, "not an int"))
        ));
    }

    #[test]
    fn elements_are_handed_out_in_order_with_their_tuples() {
        let (_, tuples) = CPYTHON
            .iter()
            .find(|(name, _)| *name == "tuples p4")
            .unwrap();
        // Appended after an integer already went out in a first pass that met a tuple.
        let mut seen = vec![99];
        let sizes = |element: FlatElement<'_, '_>| Ok::<usize, ()>(element.tuple_items().len());
        assert!(scan_into(tuples, &mut seen, sizes).is_ok());
        assert_eq!(seen, [99, 2, 2, 0, 1, 3]);
    }

    #[test]
    fn typed_reads_agree_with_reads_of_the_value() {
        use crate::value::{from_flat, from_value};
        let (_, pairs) = CPYTHON
            .iter()
            .find(|(name, _)| *name == "pairs p5")
            .unwrap();
        let mut typed: Vec<(String, i64)> = Vec::new();
        let mut wrong_shape = Vec::new();
        let mut optional: Vec<Option<(String, f64)>> = Vec::new();
        assert!(scan_into(pairs, &mut Vec::new(), |element| {
            typed.push(from_flat(element)?);
            optional.push(from_flat(element)?);
            wrong_shape.push(from_flat::<(String, i64, i64)>(element).unwrap_err());
            assert_eq!(
                from_flat::<(String, i64)>(element).ok(),
                from_value::<(String, i64)>(element.to_value()).ok()
            );
            Ok::<(), crate::value::ValueError>(())
        })
        .is_ok());
        assert_eq!(typed, [("a".into(), 1), ("b".into(), 2), ("a".into(), 1)]);
        assert_eq!(optional[1], Some(("b".into(), 2.0)));
        let by_value = from_value::<(String, i64, i64)>(from_pickle_list(pairs).unwrap().remove(0))
            .unwrap_err();
        assert_eq!(wrong_shape[0], by_value, "the same error either way");
    }

    #[test]
    fn bounds_the_copies_memo_reads_make() {
        // A 1000-byte str, then BINGETs of it: 1000 copied bytes for every 2 pickle bytes.
        let mut pickle = b"\x80\x02](X\xe8\x03\x00\x00".to_vec();
        pickle.extend(std::iter::repeat_n(b'a', 1000));
        pickle.extend(b"q\x01");
        let reads = 1000;
        for _ in 0..reads {
            pickle.extend(b"h\x01");
        }
        pickle.extend(b"e.");
        assert_eq!(flat(&pickle), None);
        // The general decoder reads it (its bound is for shared containers).
        assert_eq!(from_pickle_list(&pickle).map(|v| v.len()), Ok(reads + 1));
    }

    #[test]
    fn empty_and_random_inputs_never_panic() {
        assert_eq!(flat(b"\x80\x02]."), Some(Vec::new()));
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for length in 0..20_000 {
            let bytes: Vec<u8> = (0..length % 40)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    [
                        b']', b'(', b'e', b'a', b'.', b'K', b'h', b'q', 0x94, 0x80, 0x95, 0x85,
                        0x86, 0x87, b')', b'N', b't',
                    ][state as usize % 17]
                })
                .collect();
            if let Some(values) = flat(&bytes) {
                assert_eq!(from_pickle_list(&bytes).ok(), Some(values), "{bytes:?}");
            }
        }
    }
}
