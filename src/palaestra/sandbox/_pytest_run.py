"""pytest inside a workspace's sandbox, with a structured result per test (`TestRun`).

pytest must be importable in the sandbox without handing it the host's virtualenv:
`pytest_paths` copies the distributions pytest needs (pytest, pluggy, iniconfig,
packaging, pygments: found from pytest's own requirements) and the reporting plugin
(`_pytest_plugin`) into one private directory, once per process, to give a workspace as
a read-only import path (``Workspace(python_paths=pytest_paths())``). Nothing else of
the host's site-packages is visible, and the copy is the host's own: a workspace cannot
write to it (it is mounted read-only) nor plant anything in it beforehand (it is made
with the host's ``mkdtemp``).

`run_tests` runs ``python -S -B -m pytest`` in the workspace (so the workspace's root is
importable, as with ``python -m pytest``; no ``site``, no plugin autoloading, no cache
directory). The plugin writes one JSON line per test into a report file in the
workspace, which the host reads as hostile input (the code under test runs in the same
process and may replace it with anything: a link, a FIFO, gigabytes, nested JSON): at
most `REPORT_BYTES`, through the workspace's no-follow file methods, line by line with
the standard `json` parser (no entities, no references: nothing expands), every field
type-checked and cut to size, at most `MAX_TESTS` tests. What it says about the tests is
the tests' own account, as trustworthy as their code: a grader uses its own tests in a
fresh sandbox (``code.python``'s hidden tests), never an agent's report.
"""

from __future__ import annotations

import atexit
import compileall
import importlib.metadata
import json
import math
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from palaestra.core import UserError
from palaestra.sandbox import _pytest_plugin
from palaestra.sandbox._files import WorkspaceFileError
from palaestra.sandbox._limits import CommandLimits, ExecResult
from palaestra.sandbox._workspace import Workspace

PLUGIN_MODULE = "_palaestra_pytest_report"
"""The plugin's module name inside the sandbox (loaded with ``-p``)."""
REPORT_BYTES = 4 << 20
"""The most of a report file the host reads; a larger one is left unread."""
MAX_TESTS = 5000
"""Tests read at most from a report (the rest are counted as not reported)."""
_LINE_BYTES = 64 << 10
_NODEID_CHARS = 500
_MESSAGE_CHARS = 500
_DETAILS_CHARS = 4000

Outcome = Literal["passed", "failed", "error", "skipped"]
OUTCOMES: tuple[Outcome, ...] = ("passed", "failed", "error", "skipped")

_staged: str | None = None
_staging = threading.Lock()


def pytest_paths() -> list[str]:
    """Import paths that make pytest (and the report plugin) importable in a workspace:
    pass them as ``Workspace(python_paths=...)``. Built once per process; `UserError`
    when pytest is not installed in palaestra's environment."""
    global _staged
    with _staging:
        if _staged is None or not os.path.isdir(_staged):
            _staged = _stage()
            atexit.register(shutil.rmtree, _staged, True)
        return [_staged]


def has_pytest(workspace: Workspace) -> bool:
    """Whether one of `workspace`'s import paths holds pytest."""
    return any(
        os.path.isfile(os.path.join(p, "pytest", "__init__.py")) for p in workspace.python_paths
    )


def _distributions() -> list[importlib.metadata.Distribution]:
    """pytest and what it requires on this interpreter (markers evaluated)."""
    from packaging.requirements import Requirement

    try:
        pending = [importlib.metadata.distribution("pytest")]
    except importlib.metadata.PackageNotFoundError:
        raise UserError(
            "run_tests needs pytest installed where palaestra runs: pip install 'pytest>=8'"
        ) from None
    found: dict[str, importlib.metadata.Distribution] = {}
    while pending:
        dist = pending.pop()
        name = dist.metadata["Name"].lower()
        if name in found:
            continue
        found[name] = dist
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            try:
                pending.append(importlib.metadata.distribution(requirement.name))
            except importlib.metadata.PackageNotFoundError:
                raise UserError(
                    f"pytest's requirement {requirement.name!r} is not installed: "
                    f"pip install '{requirement}'"
                ) from None
    return list(found.values())


def _stage() -> str:
    """A fresh directory with copies of pytest's distributions and the plugin."""
    target = tempfile.mkdtemp(prefix="palaestra-pytest-")
    try:
        for dist in _distributions():
            root = str(dist.locate_file(""))
            tops = {str(f).split("/")[0] for f in dist.files or []}
            for top in sorted(tops - {"..", "__pycache__", ""}):
                source = os.path.join(root, top)
                if os.path.isdir(source):
                    shutil.copytree(source, os.path.join(target, top), dirs_exist_ok=True)
                elif os.path.isfile(source):
                    shutil.copy2(source, os.path.join(target, top))
        plugin = _pytest_plugin.__file__
        assert plugin is not None
        shutil.copy2(plugin, os.path.join(target, PLUGIN_MODULE + ".py"))
        compileall.compile_dir(target, quiet=2, workers=1)  # what the copies lacked
        for folder, _dirs, files in os.walk(target):  # readable by the sandbox's user
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return target


# -- results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TestCase:
    """One test as the report gave it (or a file that could not be collected)."""

    __test__ = False  # not a test class, for pytest collecting palaestra's own tests

    nodeid: str
    """pytest's id: ``path::Class::test[param]``."""
    outcome: Outcome
    duration_s: float
    """Seconds of its setup, call and teardown (wall clock; never shown to a model)."""
    message: str = ""
    """Why it failed, errored or was skipped, on one line."""
    details: str = ""
    """The end of its failure report (pytest's ``--tb=short`` text)."""


@dataclass
class TestRun:
    """The outcome of one `run_tests`."""

    __test__ = False

    tests: list[TestCase] = field(default_factory=list)
    """Tests in the order they ended, collection errors included (``outcome: error``)."""
    exit_code: int | None = None
    """pytest's exit status (0 all passed, 1 some failed, 2 interrupted, e.g. by a
    collection error, 3 internal error, 4 usage error, 5 no tests collected)."""
    collected: int | None = None
    """Tests pytest collected (None when its session did not end)."""
    problem: str = ""
    """Why the structured report is missing or partial ('' when it is whole)."""
    result: ExecResult | None = None
    """The sandboxed command (its output, the limit that killed it)."""

    def count(self, outcome: Outcome) -> int:
        return sum(1 for test in self.tests if test.outcome == outcome)

    @property
    def counts(self) -> dict[str, int]:
        """Tests per outcome, and ``total``."""
        out: dict[str, int] = {name: self.count(name) for name in OUTCOMES}
        out["total"] = len(self.tests)
        return out

    @property
    def ok(self) -> bool:
        """pytest ran to its end and every collected test passed (or was skipped)."""
        return self.exit_code == 0 and not self.problem and not self.count("failed")

    def render(
        self, *, max_listed: int = 100, max_details: int = 3, details_chars: int = 1500
    ) -> str:
        """The run as a model reads it: counts, a line per test that did not pass, the
        failure reports of the first `max_details`, and pytest's own output where the
        report cannot explain the result. No durations (they would make logs differ)."""
        counts = self.counts
        summary = ", ".join(f"{counts[name]} {name}" for name in OUTCOMES)
        lines = [f"tests: {summary} ({counts['total']} in all); pytest exit code: {_code(self)}"]
        result = self.result
        if result is not None and result.killed_by:
            lines.append(
                f"The test run was {result.limit_message()}; results are those of the "
                "tests that ended before."
            )
        if self.problem:
            lines.append(self.problem)
        meaning = _EXIT_MEANINGS.get(self.exit_code) if self.exit_code is not None else None
        if meaning:
            lines.append(meaning)
        shown = [t for t in self.tests if t.outcome != "passed"]
        for test in shown[:max_listed]:
            note = f" - {test.message}" if test.message else ""
            lines.append(f"{test.outcome.upper()} {test.nodeid}{note}")
        if len(shown) > max_listed:
            lines.append(f"[... {len(shown) - max_listed} more tests that did not pass]")
        if counts["passed"] and counts["passed"] <= max_listed:
            lines.append(
                "passed: " + ", ".join(t.nodeid for t in self.tests if t.outcome == "passed")
            )
        failing = [t for t in self.tests if t.outcome in ("failed", "error") and t.details]
        for test in failing[:max_details]:
            lines.append(f"\n---- {test.nodeid} ----\n{cut(test.details.rstrip(), details_chars)}")
        if result is not None and (self.problem or self.exit_code in (3, 4) or not self.tests):
            output = (result.stdout + result.stderr).strip()
            if output:
                lines.append("\npytest output:\n" + cut(_without_timings(output), 3000, tail=True))
        return "\n".join(lines)


_EXIT_MEANINGS = {
    2: "pytest was interrupted (see its output).",
    3: "pytest stopped on an internal error (see its output).",
    4: "pytest could not start as asked (a wrong path or -k expression: see its output).",
    5: "No tests were collected: test files are named test_*.py or *_test.py, test "
    "functions test_*.",
}


def _code(run: TestRun) -> str:
    return "none (killed)" if run.exit_code is None else str(run.exit_code)


def _without_timings(text: str) -> str:
    """pytest's summary line without its wall-clock time (logs must not depend on it)."""
    return re.sub(r" in \d+(?:\.\d+)?s(?: \([0-9:]+\))?", "", text)


def cut(text: str, limit: int, *, tail: bool = False) -> str:
    """`text` at most `limit` characters, with a marker saying how much was left out."""
    if len(text) <= limit:
        return text
    left = len(text) - limit
    if tail:
        return f"[... {left} characters cut ...]\n" + text[-limit:]
    return text[:limit] + f"\n[... {left} characters cut ...]"


# -- running ----------------------------------------------------------------------------


async def run_tests(
    workspace: Workspace,
    paths: Sequence[str] = (),
    *,
    keyword: str = "",
    limits: CommandLimits | None = None,
) -> TestRun:
    """Run pytest on `paths` (files, directories or node ids; default: the workspace)
    in `workspace`, under `limits`; select tests with `keyword` (pytest's ``-k``).

    The workspace needs pytest among its import paths (`pytest_paths`). A path that is
    an option (starts with ``-``) is refused (`WorkspaceFileError`, worded for a model).
    """
    for path in paths:
        if not isinstance(path, str) or not path.strip() or path.lstrip().startswith("-"):
            raise WorkspaceFileError(
                f"invalid test path {path!r}: give files, directories or test ids such as "
                "'tests/test_app.py::test_add' (options are not accepted)"
            )
    name = f".palaestra-pytest-{secrets.token_hex(6)}.jsonl"
    argv = [
        workspace.python, "-S", "-B", "-m", "pytest",
        "-p", PLUGIN_MODULE, "-p", "no:cacheprovider",
        "-q", "--tb=short", "--color=no", "-rN", "--no-header",
        "--continue-on-collection-errors",
    ]  # fmt: skip
    if keyword:
        argv += ["-k", keyword]
    argv += ["--", *paths] if paths else []
    env = {
        _pytest_plugin.REPORT_VARIABLE: os.path.join(workspace.workdir, name),
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    try:
        result = await workspace.run(argv, limits=limits, env=env)
        run = read_report(workspace, name)
    finally:
        try:
            workspace.remove(name)
        except WorkspaceFileError:
            pass  # never written, or replaced by something the host does not remove
    run.result = result
    if run.exit_code is None and not result.killed_by and result.exit_code is not None:
        run.exit_code = result.exit_code
    if run.problem and "No module named pytest" in result.stderr:
        run.problem = (
            "pytest is not importable in this workspace: it was created without "
            "pytest_paths() among its python_paths."
        )
    return run


def read_report(workspace: Workspace, name: str) -> TestRun:
    """The report file `name` of `workspace`, parsed as hostile input (module docstring)."""
    run = TestRun()
    try:
        data = workspace.read_bytes(name, max_bytes=REPORT_BYTES)
    except WorkspaceFileError as exc:
        run.problem = f"No structured test report: {exc}."
        return run
    ended = False
    skipped_lines = 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        if len(line) > _LINE_BYTES:
            skipped_lines += 1
            continue
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            skipped_lines += 1
            continue
        if not isinstance(entry, dict):
            skipped_lines += 1
        elif entry.get("summary") is True:
            ended = True
            run.exit_code = _int(entry.get("exitstatus"))
            run.collected = _int(entry.get("collected"))
        elif len(run.tests) >= MAX_TESTS:
            skipped_lines += 1
        else:
            test = _test_case(entry)
            if test is None:
                skipped_lines += 1
            else:
                run.tests.append(test)
    problems = []
    if skipped_lines:
        problems.append(
            f"{skipped_lines} lines of the test report were unreadable or past "
            f"{MAX_TESTS} tests and were left out"
        )
    if not ended:
        problems.append("the test session did not end (its report stops early)")
    if problems:
        run.problem = "The structured report is incomplete: " + "; ".join(problems) + "."
    return run


def _int(value: object) -> int | None:
    return (
        value
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31
        else None
    )


def _test_case(entry: dict[str, object]) -> TestCase | None:
    nodeid, outcome = entry.get("nodeid"), entry.get("outcome")
    if not isinstance(nodeid, str) or outcome not in OUTCOMES:
        return None
    duration = entry.get("duration")
    seconds = (
        float(duration)
        if isinstance(duration, int | float) and not isinstance(duration, bool)
        else 0.0
    )
    if not math.isfinite(seconds) or seconds < 0:
        seconds = 0.0
    message, details = entry.get("message"), entry.get("details")
    return TestCase(
        nodeid=_clean(nodeid, _NODEID_CHARS),
        outcome=outcome,  # checked against OUTCOMES above
        duration_s=seconds,
        message=_clean(message, _MESSAGE_CHARS) if isinstance(message, str) else "",
        details=details[-_DETAILS_CHARS:] if isinstance(details, str) else "",
    )


def _clean(text: str, limit: int) -> str:
    """One line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
