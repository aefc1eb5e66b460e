"""Recorded text made inert before it reaches a terminal.

Model output, tool results, environment observations and even run and agent names are
data an attacker can shape (a prompt injection only has to make the model repeat it).
Written raw to a terminal, that text is also a program for the terminal: ESC and CSI
sequences move the cursor, recolour or erase lines (so a log can hide what it shows), OSC
sequences set the window title, write the clipboard or draw hyperlinks whose target
differs from their text, BEL rings, C1 controls (U+0080-U+009F) act like ESC sequences
on some terminals, and Unicode bidi controls (U+202A-U+202E, U+2066-U+2069) reorder what
is displayed (the "Trojan Source" trick), while zero-width and tag characters hide text.

`printable(text)` replaces every such character by a visible escape: C0 controls as
``\\x1b``, every other one (DEL included) as ``\\u202e`` (a surrogate pair such as
``\\udb40\\udc41`` beyond the BMP, as JSON writes it). Escaped are the Unicode
categories Cc (controls), Cf (format: bidi controls, zero-width characters, tags, the
BOM), Cs (lone surrogates, which would not even encode) and Zl /
Zp (line and paragraph separators); `keep` names the characters a layout wants as they
are (newline and tab by default). Everything else, letters of every script and emoji
included, is left alone. A backslash is not escaped, so ``\\x1b`` written by a model
reads the same as an escaped ESC: the escapes make text visible, not reversible.

`safe_stdout()` routes everything the `palaestra` command prints to standard output
through `printable`, so no printer (a table, a timeline, a report) can forget it.
Machine-readable output keeps its meaning: ``--json`` output is written with
``json.dumps``' default ``ensure_ascii``, so it holds no raw control or bidi character
(U+202E is the JSON escape ``\\u202e``, equal to the original once parsed), and every
escape `printable` writes for a character JSON may hold raw is a JSON escape too (C0
controls never appear raw in JSON), so JSON written through it (``--json``, ``palaestra
export`` to standard output) parses to the same value. Binary output written to
``sys.stdout.buffer`` (``palaestra export --format jsonl`` without ``-o``) passes
untouched.
"""

from __future__ import annotations

import contextlib
import re
import sys
import unicodedata
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, TextIO

ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
"""Unicode categories `printable` escapes."""

_CANDIDATES = (
    (0x00, 0x1F), (0x7F, 0x9F), (0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C),
    (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891), (0x8E2, 0x8E2), (0x180E, 0x180E),
    (0x200B, 0x200F), (0x2028, 0x202E), (0x2060, 0x206F), (0xD800, 0xDFFF), (0xFEFF, 0xFEFF),
    (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1345F),
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE007F),
)  # fmt: skip
"""Ranges holding every code point of the escaped categories (Unicode 15.1, with room
around the recent additions): `_escape` decides on each by its category, so the ranges
only have to hold them all (a test checks it against `unicodedata` on every code point)."""


@lru_cache(maxsize=16)
def _pattern(keep: str) -> re.Pattern[str]:
    """A regex class of the candidate code points, those in `keep` left out."""
    kept = sorted(ord(c) for c in set(keep))
    parts = []
    for low, high in _CANDIDATES:
        for code in kept:  # cut the kept code points out of the range
            if low <= code <= high:
                if low < code:
                    parts.append((low, code - 1))
                low = code + 1
        if low <= high:
            parts.append((low, high))
    return re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in parts) + "]")


@lru_cache(maxsize=16)
def _ascii_pattern(keep: str) -> re.Pattern[str]:
    """`_pattern(keep)` for ASCII text: the C0 controls and DEL not in `keep`."""
    codes = [c for c in (*range(0x20), 0x7F) if chr(c) not in keep]
    return re.compile("[" + "".join(f"\\x{c:02x}" for c in codes) + "]")


@lru_cache(maxsize=4096)
def _escape(char: str, keep: str) -> str:
    if char in keep:
        return char
    code = ord(char)
    if code < 0x20:
        return f"\\x{code:02x}"
    if code < 0x7F or (code > 0x9F and unicodedata.category(char) not in ESCAPED_CATEGORIES):
        return char
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
    return f"\\u{high:04x}\\u{low:04x}"  # as JSON writes it: JSON text stays JSON


def printable(text: str, *, keep: str = "\n\t") -> str:
    """`text` with every control, format, surrogate and separator character (but those
    in `keep`) written as a visible escape; see the module docstring."""
    pattern = _ascii_pattern(keep) if text.isascii() else _pattern(keep)
    if pattern.search(text) is None:
        return text
    return pattern.sub(lambda m: _escape(m.group(), keep), text)


class SafeText:
    """A text stream that writes `printable(text)` to `stream`; everything else
    (``buffer``, ``fileno``, ``isatty``, ``encoding``...) is the stream's own."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable(text))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


@contextlib.contextmanager
def safe_stdout() -> Iterator[None]:
    """Within the block, `sys.stdout` writes through `printable` (see `SafeText`)."""
    original = sys.stdout
    sys.stdout = SafeText(original)
    try:
        yield
    finally:
        if isinstance(sys.stdout, SafeText) and sys.stdout.stream is original:
            sys.stdout = original
