"""Tools on a workspace: `workspace_tools(workspace)` gives a model the tools of a coding
agent, each a normal palaestra `Tool` (JSON schema, description written for a model)
bound to one `Workspace`:

- ``read_file(path, offset, limit)``: numbered lines of a UTF-8 file, a window at a time;
- ``write_file(path, content)``: create or replace a file (directories too);
- ``edit_file(path, old_string, new_string, replace_all)``: exact-string replacement;
  `old_string` must occur exactly once unless `replace_all`;
- ``list_files(path, recursive)``: entries with kinds and sizes (links shown, not followed);
- ``shell(command)``: bash in the sandbox, the workspace as working directory;
- ``run_python(code)``: a Python program run in the workspace (its modules importable);
- ``run_tests(paths, keyword)``: pytest in the sandbox, a result per test.

Everything the model sends is hostile and every mistake it makes is a tool error it can
recover from (``Error: ...``, `ToolOutcome.is_error`): a missing file, a path out of the
workspace (``..``, an absolute path, a symbolic link planted by ``shell``: the host's
file methods never follow one), text that is not UTF-8, an edit string found nowhere or
more than once. Every output is bounded, and says where it was cut and how to see the
rest. A command stopped by a limit says which one (time, memory, output, disk...).
Nothing shown depends on the wall clock, so a replayed episode shows the same text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from palaestra.core import UserError
from palaestra.sandbox._files import MAX_DEPTH, FileEntry, WorkspaceFileError
from palaestra.sandbox._limits import CommandLimits, ExecResult
from palaestra.sandbox._pytest_run import cut, has_pytest, run_tests
from palaestra.sandbox._workspace import Workspace
from palaestra.tools import Tool, ToolOutcome

TOOL_NAMES = (
    "read_file",
    "write_file",
    "edit_file",
    "list_files",
    "shell",
    "run_python",
    "run_tests",
)
"""Every workspace tool, in the order `workspace_tools` gives them."""
FILE_BYTES = 8 << 20
"""The largest file `read_file` and `edit_file` read, and `write_file` writes."""
READ_LINES = 2000
"""Lines `read_file` shows at most per call."""
LINE_CHARS = 2000
"""Characters of one line `read_file` shows; a longer line is cut with a marker."""
LIST_ENTRIES = 500
"""Entries `list_files` shows at most."""
OUTPUT_CHARS = 30_000
"""Characters of any one tool result at most (cut with a marker)."""
_SNIPPET_LINES = 40
_NUMBERED = re.compile(r"^\s*\d+\t")


def _at_least(limits: CommandLimits, **floors: float) -> CommandLimits:
    """`limits` with each named field raised to at least its floor."""
    raised = {name: max(getattr(limits, name), floor) for name, floor in floors.items()}
    return limits.model_copy(update=raised)


def workspace_tools(
    workspace: Workspace,
    *,
    include: Iterable[str] | None = None,
    limits: CommandLimits | None = None,
    shell_limits: CommandLimits | None = None,
    test_limits: CommandLimits | None = None,
) -> list[Tool]:
    """The tools of `include` (default: all of `TOOL_NAMES`) bound to `workspace`.

    `limits` are run_python's (default: the workspace's). `shell_limits` default to them
    with at least 16 processes (pipelines fork); `test_limits` to them with at least 16
    processes, 512 MiB, 10 s of CPU and 30 s of wall clock (pytest starts in about a
    second). ``run_tests`` needs pytest among the workspace's import paths
    (``Workspace(python_paths=pytest_paths())``): without it, asking for the tool is a
    `UserError`.
    """
    names = list(TOOL_NAMES if include is None else include)
    unknown = [name for name in names if name not in TOOL_NAMES]
    if unknown or len(set(names)) != len(names):
        raise UserError(
            f"workspace tools: unknown or repeated names {sorted(unknown) or names}; "
            f"choose from {', '.join(TOOL_NAMES)}"
        )
    if "run_tests" in names and not has_pytest(workspace):
        raise UserError(
            "the run_tests tool needs pytest importable in the workspace: create it with "
            "Workspace(python_paths=pytest_paths()) (palaestra.sandbox.pytest_paths)"
        )
    base = limits if limits is not None else workspace.limits
    shell = shell_limits if shell_limits is not None else _at_least(base, max_processes=16)
    tests = test_limits
    if tests is None:
        tests = _at_least(base, max_processes=16, memory_mb=512, cpu_seconds=10, wall_seconds=30)
    made = _Tools(workspace, base, shell, tests)
    return [Tool(getattr(made, name), name=name) for name in names]


def _error(message: str) -> ToolOutcome:
    return ToolOutcome(f"Error: {message}", is_error=True)


class _Tools:
    """The tools' functions, bound to one workspace (their docstrings are what a model
    reads: the summary becomes the description, ``Args:`` the parameters')."""

    def __init__(
        self,
        workspace: Workspace,
        limits: CommandLimits,
        shell: CommandLimits,
        tests: CommandLimits,
    ):
        self.workspace = workspace
        self.limits = limits
        self.shell_limits = shell
        self.test_limits = tests

    async def _ready(self) -> Workspace:
        if not self.workspace.started:
            await self.workspace.start()
        return self.workspace

    async def _text(self, path: str) -> str:
        """The UTF-8 text of `path` (`WorkspaceFileError` worded for the model)."""
        workspace = await self._ready()
        try:
            data = workspace.read_bytes(path, max_bytes=FILE_BYTES)
        except WorkspaceFileError as exc:
            if "larger than" in str(exc):
                raise WorkspaceFileError(
                    f"{path} is larger than {FILE_BYTES >> 20} MiB: look at parts of it "
                    "with shell (head, tail, sed -n '100,200p', grep -n)"
                ) from None
            raise
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WorkspaceFileError(
                f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                f"{exc.start}): it may be binary; inspect it with shell (file, xxd | head)"
            ) from None
        if "\x00" in text:
            raise WorkspaceFileError(
                f"{path} holds NUL bytes (binary data); inspect it with shell (file, xxd | head)"
            )
        return text

    async def read_file(self, path: str, offset: int = 1, limit: int = READ_LINES) -> Any:
        """Read a UTF-8 text file of the workspace. Lines come numbered like `cat -n`
        (number, tab, line); the numbers are not part of the file, so leave them out of
        edit_file's strings. Long files come a window at a time: pass `offset` to read on.

        Args:
            path: File path relative to the workspace (e.g. 'src/app.py').
            offset: The 1-based line number to start at.
            limit: How many lines to show at most (at most 2000).
        """
        if offset < 1 or not 1 <= limit <= READ_LINES:
            return _error(f"offset must be >= 1 and limit between 1 and {READ_LINES}")
        try:
            text = await self._text(path)
        except WorkspaceFileError as exc:
            return _error(str(exc))
        lines = _lines(text)
        if not lines:
            return f"({path} is empty)"
        if offset > len(lines):
            return _error(f"{path} has {len(lines)} lines; offset {offset} is past its end")
        end = min(len(lines), offset - 1 + limit)
        shown = [_numbered(n, lines[n - 1]) for n in range(offset, end + 1)]
        body = "\n".join(shown)
        if len(body) > OUTPUT_CHARS:  # many long lines: fewer of them
            kept, size = [], 0
            for line in shown:
                size += len(line) + 1
                if size > OUTPUT_CHARS:
                    break
                kept.append(line)
            end = offset - 1 + len(kept)
            body = "\n".join(kept)
        if offset > 1 or end < len(lines):
            body += f"\n[lines {offset}-{end} of {len(lines)}"
            body += f"; read on with offset={end + 1}]" if end < len(lines) else "]"
        return body

    async def write_file(self, path: str, content: str) -> Any:
        """Create a file in the workspace, or replace all of its content (missing
        directories are created). To change part of a file, use edit_file.

        Args:
            path: File path relative to the workspace (e.g. 'src/app.py').
            content: The whole new content of the file.
        """
        data = _encoded(content)
        if data is None:
            return _error(_SURROGATES)
        if len(data) > FILE_BYTES:
            return _error(f"content is {len(data)} bytes; the limit is {FILE_BYTES}")
        try:
            workspace = await self._ready()
            existed = workspace.exists(path)
            workspace.write_bytes(path, data)
        except WorkspaceFileError as exc:
            return _error(str(exc))
        verb = "Replaced" if existed else "Created"
        return f"{verb} {path}: {len(data)} bytes, {len(_lines(content))} lines."

    async def edit_file(
        self, path: str, old_string: str, new_string: str, replace_all: bool = False
    ) -> Any:
        """Replace an exact piece of text in a file. `old_string` must match the file
        exactly (whitespace and indentation included) and occur exactly once, unless
        `replace_all` is true; include enough surrounding lines to make it unique. An
        empty `old_string` creates a new file holding `new_string`.

        Args:
            path: File path relative to the workspace.
            old_string: The exact text to replace (without read_file's line numbers).
            new_string: The text to put in its place.
            replace_all: Replace every occurrence instead of exactly one.
        """
        try:
            workspace = await self._ready()
            if old_string == "":
                if workspace.exists(path):
                    return _error(
                        f"{path} already exists and old_string is empty: give the text to "
                        "replace as old_string, or use write_file to replace the whole file"
                    )
                return await self.write_file(path, new_string)
            if old_string == new_string:
                return _error("old_string and new_string are the same: nothing would change")
            text = await self._text(path)
        except WorkspaceFileError as exc:
            return _error(str(exc))
        old, new = old_string, new_string
        count = text.count(old)
        if count == 0 and "\r\n" in text and "\n" in old and "\r\n" not in old:
            old, new = old.replace("\n", "\r\n"), new.replace("\n", "\r\n")  # CRLF file
            count = text.count(old)
        if count == 0:
            return _error(_not_found(path, text, old_string))
        if count > 1 and not replace_all:
            where = _occurrences(text, old)
            return _error(
                f"old_string occurs {count} times in {path} (at lines {where}); include "
                "more surrounding lines to make it unique, or set replace_all to true"
            )
        first = text.index(old)
        edited = text.replace(old, new) if replace_all else text.replace(old, new, 1)
        data = _encoded(edited)
        if data is None:
            return _error(_SURROGATES)
        if len(data) > FILE_BYTES:
            return _error(f"the edited file would be {len(data)} bytes; the limit is {FILE_BYTES}")
        try:
            workspace.write_bytes(path, data)
        except WorkspaceFileError as exc:
            return _error(str(exc))
        start = text.count("\n", 0, first) + 1
        replaced = f"{count} occurrences" if replace_all and count > 1 else "1 occurrence"
        lines = _lines(edited)
        low = max(1, start - 3)
        high = min(len(lines), start + new.count("\n") + 3, low + _SNIPPET_LINES - 1)
        snippet = "\n".join(_numbered(n, lines[n - 1]) for n in range(low, high + 1))
        return f"Edited {path}: replaced {replaced} (first at line {start}).\n{snippet}"

    async def list_files(self, path: str = ".", recursive: bool = False) -> Any:
        """List the entries of a workspace directory: directories end with '/', files
        show their size, symbolic links what they point to (never followed).

        Args:
            path: Directory relative to the workspace ('.' is its root).
            recursive: List everything below it too.
        """
        try:
            workspace = await self._ready()
            entries, more = workspace.list_files(path, recursive=recursive, limit=LIST_ENTRIES)
        except WorkspaceFileError as exc:
            return _error(str(exc))
        if not entries:
            return f"({path} is an empty directory)"
        shown = "\n".join(_entry(entry) for entry in entries)
        if more and len(entries) >= LIST_ENTRIES:
            shown += (
                f"\n[listing cut at {LIST_ENTRIES} entries: list a subdirectory, or use "
                "shell (find, ls)]"
            )
        elif more:
            shown += (
                f"\n[directories more than {MAX_DEPTH} levels down are not listed: list "
                "a deeper directory, or use shell (find)]"
            )
        return cut(shown, OUTPUT_CHARS)

    async def shell(self, command: str) -> Any:
        """Run a bash command in the sandbox, in the workspace directory (no network;
        files persist between calls). Shows the exit code, stdout and stderr, and the
        limit that stopped the command if one did.

        Args:
            command: The bash command line, e.g. 'ls -la && python3 app.py'.
        """
        if not command.strip() or "\x00" in command:
            return _error("command is empty (or holds a NUL byte)")
        workspace = await self._ready()
        result = await workspace.shell(command, limits=self.shell_limits)
        return _rendered(result)

    async def run_python(self, code: str) -> Any:
        """Run a Python 3 program in the sandbox with the workspace as its working
        directory: modules in the workspace are importable (standard library only
        otherwise, no network). Shows the exit code, stdout and stderr; print what you
        want to see.

        Args:
            code: Python 3 source code.
        """
        if not code.strip():
            return _error("code is empty")
        workspace = await self._ready()
        argv = [workspace.python, "-S", "-B", "-u", "-X", "utf8", "-"]  # the program on stdin
        result = await workspace.run(argv, limits=self.limits, stdin=code)
        return _rendered(result)

    async def run_tests(self, paths: list[str] | None = None, keyword: str = "") -> Any:
        """Run the workspace's tests with pytest in the sandbox and get a result per
        test: counts, each test that failed, errored or was skipped with its reason,
        and the failure reports of the first ones.

        Args:
            paths: Test files, directories or test ids (e.g. 'tests/test_app.py::test_add'),
                or none for every test in the workspace.
            keyword: Only tests matching this pytest -k expression (e.g. 'add and not slow').
        """
        try:
            workspace = await self._ready()
            run = await run_tests(workspace, paths or [], keyword=keyword, limits=self.test_limits)
        except WorkspaceFileError as exc:
            return _error(str(exc))
        return cut(run.render(), OUTPUT_CHARS)


def _rendered(result: ExecResult) -> str:
    """A command's result as the model reads it, bounded; a program that ended on an
    uncaught `MemoryError` (the address-space limit: Python raises rather than dies) is
    said to have hit the memory limit, as the other limits are."""
    text = result.render()
    last = result.stderr.rstrip().rsplit("\n", 1)[-1]
    if not result.killed_by and result.exit_code and last.startswith("MemoryError"):
        text += f"\nstopped: memory limit of {result.limits.memory_mb} MiB exceeded (MemoryError)"
    return cut(text, OUTPUT_CHARS)


_SURROGATES = (
    "the text holds unpaired surrogate characters (e.g. '\\ud800'), which cannot be "
    "written as UTF-8; remove them"
)


def _encoded(text: str) -> bytes | None:
    """`text` as UTF-8, or None where it holds lone surrogates (invalid Unicode that a
    JSON string can carry)."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return None


def _lines(text: str) -> list[str]:
    """Lines as editors and ``sed`` count them (only ``\\n`` ends a line)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def _numbered(number: int, line: str) -> str:
    if len(line) > LINE_CHARS:
        line = line[:LINE_CHARS] + f" [... {len(line) - LINE_CHARS} characters cut]"
    return f"{number:6}\t{line}"


def _occurrences(text: str, old: str, shown: int = 10) -> str:
    starts: list[int] = []
    at = text.find(old)
    while at >= 0 and len(starts) < shown:
        starts.append(text.count("\n", 0, at) + 1)
        at = text.find(old, at + len(old))
    return ", ".join(str(s) for s in starts) + (", ..." if at >= 0 else "")


def _not_found(path: str, text: str, old: str) -> str:
    """Why `old` is not in `text`, with the likeliest cause."""
    old_lines = _lines(old) or [old]
    if all(_NUMBERED.match(line) for line in old_lines):
        return (
            f"old_string was not found in {path}: its lines start with line numbers "
            "from read_file (like '    12<tab>'), which are not part of the file; leave "
            "them out"
        )
    wanted = [line.strip() for line in old_lines]
    lines = _lines(text)
    for start in range(len(lines) - len(wanted) + 1):
        if all(lines[start + i].strip() == wanted[i] for i in range(len(wanted))):
            return (
                f"old_string was not found in {path} exactly, but lines {start + 1}-"
                f"{start + len(wanted)} match it except for indentation or spaces at the "
                "ends of lines; copy them exactly (tabs and spaces differ)"
            )
    return (
        f"old_string was not found in {path}; read the file again (read_file) and copy "
        "the text to replace exactly, whitespace included"
    )


def _shown(text: str, limit: int = 300) -> str:
    """A name from the workspace as one safe line (odd characters escaped)."""
    safe = text if text.isprintable() and text.strip() == text else repr(text)
    return safe if len(safe) <= limit else safe[:limit] + "..."


def _entry(entry: FileEntry) -> str:
    if entry.kind == "dir":
        return _shown(entry.path) + "/"
    if entry.kind == "file":
        return f"{_shown(entry.path)}  ({entry.size} bytes)"
    if entry.kind == "symlink":
        target = _shown(entry.target or "")
        return f"{_shown(entry.path)} -> {target}  (symbolic link; not followed by the file tools)"
    return f"{_shown(entry.path)}  (not a regular file: a FIFO, socket or device)"
