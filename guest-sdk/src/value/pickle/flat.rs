//! The fast path of batch decoding: a PySpark batch that is a flat list of scalars (`int`,
//! `float`, `str`, `bytes`, `bool`, `None`), the shape of almost every cached or parallelized
//! RDD, read in one pass straight into [`Value`]s, without the arena, the extents walk and
//! the tree build of the general decoder.
//!
//! It accepts exactly the opcode sequences CPython's pickler writes for such a list at
//! protocols 2 to 5 (`PROTO`, `FRAME`s, `EMPTY_LIST`, batches of `MARK … APPENDS` or single
//! `APPEND`s, memo writes after strings and bytes, memo reads of them, `STOP`) and gives up on
//! anything else, leaving the batch to the general decoder ([`super::from_pickle_list`]),
//! which then decodes it — or reports what is wrong with it — exactly as before. Whatever it
//! accepts, it decodes to the values the general decoder would: the scalars go through the
//! same conversion ([`super::scalar`]).

use super::{
    binary_int, Node, Value, APPEND, APPENDS, BINBYTES, BINBYTES8, BINFLOAT, BINGET, BININT,
    BININT1, BININT2, BINPUT, BINSTRING, BINUNICODE, BINUNICODE8, EMPTY_LIST, FRAME, LONG1,
    LONG_BINGET, LONG_BINPUT, MARK, MEMOIZE, NEWFALSE, NEWTRUE, NONE, PROTO, SHORT_BINBYTES,
    SHORT_BINSTRING, SHORT_BINUNICODE, STOP,
};
use crate::value::Scalar;

/// Memo reads repeat a scalar. The fast path gives up past this many repeated bytes per
/// input byte plus [`REPEAT_ALLOWANCE`], far below the general decoder's bound on shared
/// copies, so a hostile batch never makes it allocate much before it is handed over.
const REPEAT_ALLOWANCE_PER_BYTE: u64 = 4;
const REPEAT_ALLOWANCE: u64 = 64 << 10;

/// Memo ids beyond this make the fast path give up (CPython numbers them from 0 upwards).
const MAX_MEMO_ID: u32 = 1 << 20;

/// What a memo id refers to.
#[derive(Clone, Copy)]
enum Memo<'a> {
    /// The batch list itself.
    List,
    /// An element.
    Element(Scalar<'a>),
}

/// Why [`scan`] stopped early.
pub(crate) enum Stop<E> {
    /// The pickle is not a flat list of scalars (or is broken): the general decoder's job.
    NotFlat,
    /// The sink refused element number `.0` (counting from this batch's first).
    Sink(u64, E),
}

/// Hands the elements of a flat list of scalars to `sink`, in order. On [`Stop::NotFlat`]
/// the sink may already have taken some elements, which the caller must discard.
///
/// A sink error is reported only once the whole pickle has proved flat: a scalar is pushed
/// before the opcode that may make it part of a tuple, so what looked like an element can
/// turn out to be an item of one (the sink is not called again after its first error).
pub(crate) fn scan<'a, E>(
    bytes: &'a [u8],
    mut sink: impl FnMut(Scalar<'a>) -> Result<(), E>,
) -> Result<(), Stop<E>> {
    let mut scanner = Scanner {
        input: bytes,
        pos: 0,
        memo: Vec::new(),
        memo_len: 0,
        repeated: 0,
    };
    let mut element = 0u64;
    let mut refused: Option<(u64, E)> = None;
    let flat = scanner.run(|scalar| {
        if refused.is_none() {
            if let Err(e) = sink(scalar) {
                refused = Some((element, e));
            }
        }
        element += 1;
    });
    match (flat, refused) {
        (false, _) => Err(Stop::NotFlat),
        (true, Some((element, e))) => Err(Stop::Sink(element, e)),
        (true, None) => Ok(()),
    }
}

/// Decodes `bytes` into `out` (appending) when it is a flat list of scalars that decodes
/// without error; otherwise leaves `out` as it was and returns `false`.
pub(crate) fn flat_list(bytes: &[u8], out: &mut Vec<Value>) -> bool {
    let start = out.len();
    let result = scan(bytes, |scalar| {
        out.push(scalar.to_value());
        Ok::<(), ()>(())
    });
    if result.is_err() {
        out.truncate(start);
        return false;
    }
    true
}

struct Scanner<'a> {
    input: &'a [u8],
    pos: usize,
    memo: Vec<Option<Memo<'a>>>,
    /// Distinct memo ids written (the id `MEMOIZE` assigns next, as CPython's `len(memo)`).
    memo_len: u32,
    /// Bytes repeated by memo reads.
    repeated: u64,
}

/// What one opcode did.
enum Step<'a> {
    Nothing,
    Element(Scalar<'a>),
    Stop,
}

impl<'a> Scanner<'a> {
    /// Runs the pickle, handing each element to `emit`: `true` when it was a flat list of
    /// scalars to the end, `false` when it is not (or is broken).
    fn run(&mut self, mut emit: impl FnMut(Scalar<'a>)) -> bool {
        let Some(code) = self.start() else {
            return false;
        };
        if code != EMPTY_LIST {
            return false;
        }
        // Elements on the stack: above an open MARK, or the single one an `APPEND` takes.
        let mut in_mark = false;
        let mut loose = false;
        // What the last opcode pushed (what a memo write names).
        let mut last: Option<Memo<'a>> = Some(Memo::List);
        loop {
            let Some(step) = self.step(&mut in_mark, &mut loose, &mut last) else {
                return false;
            };
            match step {
                Step::Stop => return true,
                Step::Nothing => {}
                Step::Element(scalar) => emit(scalar),
            }
        }
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

    /// One opcode of the list's body; `None` when the pickle is not a flat list of scalars.
    #[inline]
    fn step(
        &mut self,
        in_mark: &mut bool,
        loose: &mut bool,
        last: &mut Option<Memo<'a>>,
    ) -> Option<Step<'a>> {
        let code = self.frames()?;
        let element = match code {
            MARK if !*in_mark && !*loose => {
                *in_mark = true;
                None
            }
            APPENDS if *in_mark => {
                *in_mark = false;
                None
            }
            APPEND if !*in_mark && *loose => {
                *loose = false;
                None
            }
            STOP => {
                let done = !*in_mark && !*loose && self.pos == self.input.len();
                return done.then_some(Step::Stop);
            }
            MEMOIZE | BINPUT | LONG_BINPUT => {
                let id = match code {
                    MEMOIZE => self.memo_len,
                    BINPUT => u32::from(self.byte()?),
                    _ => u32::from_le_bytes(self.array()?),
                };
                self.remember(id, (*last)?)?;
                // A memo write leaves the stack as it was: a second write names the same.
                return Some(Step::Nothing);
            }
            BINGET | LONG_BINGET => {
                let id = match code {
                    BINGET => u32::from(self.byte()?),
                    _ => u32::from_le_bytes(self.array()?),
                };
                let Some(Some(Memo::Element(scalar))) = self.memo.get(id as usize) else {
                    return None;
                };
                let scalar = *scalar;
                self.repeated += match scalar {
                    Scalar::Str(text) => text.len() as u64,
                    Scalar::Bytes(bytes) => bytes.len() as u64,
                    _ => 0,
                } + 1;
                let allowance =
                    REPEAT_ALLOWANCE_PER_BYTE * self.input.len() as u64 + REPEAT_ALLOWANCE;
                if self.repeated > allowance {
                    return None;
                }
                Some(scalar)
            }
            _ => Some(self.scalar(code)?),
        };
        *last = match element {
            Some(scalar) => {
                if !*in_mark {
                    // Outside a mark, only one element may wait for its `APPEND`.
                    if *loose {
                        return None;
                    }
                    *loose = true;
                }
                Some(Memo::Element(scalar))
            }
            None => None,
        };
        Some(match element {
            Some(scalar) => Step::Element(scalar),
            None => Step::Nothing,
        })
    }

    fn remember(&mut self, id: u32, what: Memo<'a>) -> Option<()> {
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
    #[inline]
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

    fn length(&mut self, code: u8) -> Option<usize> {
        match code {
            SHORT_BINUNICODE | SHORT_BINBYTES | SHORT_BINSTRING => Some(self.byte()?.into()),
            BINUNICODE | BINBYTES => usize::try_from(u32::from_le_bytes(self.array()?)).ok(),
            BINSTRING => usize::try_from(i32::from_le_bytes(self.array()?)).ok(),
            _ => usize::try_from(u64::from_le_bytes(self.array()?)).ok(),
        }
    }

    /// The next opcode that is not a `FRAME` (frames are checked and skipped).
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

    fn byte(&mut self) -> Option<u8> {
        let byte = *self.input.get(self.pos)?;
        self.pos += 1;
        Some(byte)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let bytes = self.take(N)?;
        bytes.try_into().ok()
    }

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
            // [(1, 2)]
            (
                "tuple element",
                b"\x80\x04\x95\x0a\x00\x00\x00\x00\x00\x00\x00]\x94K\x01K\x02\x86\x94a.",
            ),
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
        // [('a', 1)]: 'a' is pushed before TUPLE2 makes it an item, not an element.
        let tuple =
            b"\x80\x04\x95\x0c\x00\x00\x00\x00\x00\x00\x00]\x94\x8c\x01a\x94K\x01\x86\x94a.";
        let ints_only = |scalar: Scalar<'_>| match scalar {
            Scalar::Int(_) => Ok(()),
            _ => Err("not an int"),
        };
        assert!(matches!(scan(tuple, ints_only), Err(Stop::NotFlat)));
        // [1, 'a', 'b']: the first refusal, by element index.
        let flat =
            b"\x80\x04\x95\x0f\x00\x00\x00\x00\x00\x00\x00]\x94(K\x01\x8c\x01a\x94\x8c\x01b\x94e.";
        assert!(matches!(
            scan(flat, ints_only),
            Err(Stop::Sink(1, "not an int"))
        ));
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
        for length in 0..2000 {
            let bytes: Vec<u8> = (0..length % 40)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    [
                        b']', b'(', b'e', b'a', b'.', b'K', b'h', b'q', 0x94, 0x80, 0x95,
                    ][state as usize % 11]
                })
                .collect();
            if let Some(values) = flat(&bytes) {
                assert_eq!(from_pickle_list(&bytes).ok(), Some(values), "{bytes:?}");
            }
        }
    }
}
