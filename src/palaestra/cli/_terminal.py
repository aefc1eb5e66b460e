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

_ASCII_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_CANDIDATES = re.compile(r"[\x00-\x1f\x7f-\U0010ffff]")


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
    if text.isascii():
        if _ASCII_CONTROLS.search(text) is None:
            return text
        return _ASCII_CONTROLS.sub(lambda m: _escape(m.group(), keep), text)
    return _CANDIDATES.sub(lambda m: _escape(m.group(), keep), text)


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
