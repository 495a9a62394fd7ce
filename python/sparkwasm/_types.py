"""Rust element type strings.

Descriptors name element types as the author spelled them (``(String,i64)``). The driver
compares them as strings, after removing whitespace, to reject a pipeline whose steps cannot
fit together before Spark runs anything. It does not try to understand Rust's type system:
``&str`` and ``String`` are different spellings and so different types here.
"""

from __future__ import annotations

import re
from typing import List, Optional, Tuple

__all__ = ["normalize", "split_pair"]

_WHITESPACE = re.compile(r"\s+")


def normalize(spelled: str) -> str:
    """The comparable form of a type string: whitespace removed."""
    return _WHITESPACE.sub("", spelled)


def _split_top_level(inner: str) -> List[str]:
    """Splits ``A,B<C,D>,(E,F)`` at commas that are not nested in brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(inner):
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(inner[start:i])
            start = i + 1
    parts.append(inner[start:])
    if parts and parts[-1] == "":
        parts.pop()  # `(T,)` is a one-tuple in Rust
    return parts


def _tuple_elements(spelled: str) -> Optional[List[str]]:
    t = normalize(spelled)
    if not (t.startswith("(") and t.endswith(")")):
        return None
    # `(A)(B)` is not one tuple: the opening paren must close at the very end.
    depth = 0
    for i, ch in enumerate(t):
        if ch in "<([":
            depth += 1
        elif ch in ">)]":
            depth -= 1
            if depth == 0 and i != len(t) - 1:
                return None
    return _split_top_level(t[1:-1])


def split_pair(spelled: str) -> Optional[Tuple[str, str]]:
    """``(K, V)`` of a 2-tuple type string, or ``None`` when it is not a 2-tuple."""
    parts = _tuple_elements(spelled)
    if parts is None or len(parts) != 2:
        return None
    return parts[0], parts[1]
