"""The workspace tools on real bubblewrap workspaces: what a model sees for each tool,
its mistakes as recoverable errors, hostile paths and links planted by the sandbox,
huge files, edit ambiguity, and pytest suites that pass, fail, error, cannot be
collected, or attack the host through their report file."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from palaestra.core import Message, Observation, ObservationEvent, ToolCall, UserError
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.operators import LLMOperator
from palaestra.runtime import AgentContext, EpisodeRecorder
from palaestra.runtime._recorder import row_event
from palaestra.sandbox import (
    TOOL_NAMES,
    CommandLimits,
    EpisodeWorkspace,
    Workspace,
    isolation_event,
    pytest_paths,
    run_tests,
    workspace_tools,
)
from palaestra.sandbox._tools import FILE_BYTES, LIST_ENTRIES
from palaestra.tools import Tool, ToolOutcome
from tests.sandbox.conftest import NO_BWRAP, needs_bwrap

LIMITS = CommandLimits(cpu_seconds=5, wall_seconds=20, memory_mb=512, max_processes=16)


@pytest.fixture
async def workspace() -> AsyncIterator[Workspace]:
    """A started bubblewrap workspace with pytest importable, 64 MiB, 5,000 files."""
    if NO_BWRAP is not None:
        pytest.skip(f"no sandbox: {NO_BWRAP}")
    async with Workspace(
        limits=LIMITS, disk_mb=64, max_files=5000, python_paths=pytest_paths()
    ) as started:
        yield started


@pytest.fixture
def tools(workspace: Workspace) -> dict[str, Tool]:
    return {tool.name: tool for tool in workspace_tools(workspace)}


async def call(tools: dict[str, Tool], name: str, **arguments: object) -> ToolOutcome:
    return await tools[name].call(arguments)


async def ok(tools: dict[str, Tool], name: str, **arguments: object) -> str:
    outcome = await call(tools, name, **arguments)
    assert not outcome.is_error, outcome.content
    return outcome.content


async def error(tools: dict[str, Tool], name: str, **arguments: object) -> str:
    outcome = await call(tools, name, **arguments)
    assert outcome.is_error, outcome.content
    assert outcome.content.startswith("Error: ")
    return outcome.content


# -- the tools as a model is told about them ------------------------------------------


@needs_bwrap
def test_every_tool_has_a_schema_written_for_a_model(tools: dict[str, Tool]) -> None:
    assert list(tools) == list(TOOL_NAMES)
    required = {
        "read_file": ["path"],
        "write_file": ["path", "content"],
        "edit_file": ["path", "old_string", "new_string"],
        "list_files": [],
        "shell": ["command"],
        "run_python": ["code"],
        "run_tests": [],
    }
    for name, tool in tools.items():
        spec = tool.spec
        assert spec.parameters["type"] == "object"
        assert spec.parameters["additionalProperties"] is False
        assert spec.parameters.get("required", []) == required[name]
        assert len(spec.description) > 60, name
        for prop, schema in spec.parameters["properties"].items():
            assert schema.get("description"), f"{name}.{prop} has no description"
    assert tools["edit_file"].spec.parameters["properties"]["replace_all"]["default"] is False
    paths = tools["run_tests"].spec.parameters["properties"]["paths"]["description"]
    assert paths.endswith("or none for every test in the workspace.")


@needs_bwrap
async def test_include_and_misuse_of_the_factory(workspace: Workspace) -> None:
    chosen = workspace_tools(workspace, include=["read_file", "shell"])
    assert [t.name for t in chosen] == ["read_file", "shell"]
    with pytest.raises(UserError, match="unknown or repeated"):
        workspace_tools(workspace, include=["read_file", "rm_rf"])
    with pytest.raises(UserError, match="unknown or repeated"):
        workspace_tools(workspace, include=["shell", "shell"])
    bare = Workspace(limits=LIMITS)  # no pytest among its import paths
    with pytest.raises(UserError, match="pytest_paths"):
        workspace_tools(bare)
    assert [t.name for t in workspace_tools(bare, include=["shell"])] == ["shell"]


@needs_bwrap
async def test_arguments_that_do_not_fit_the_schema_are_errors_for_the_model(
    tools: dict[str, Tool],
) -> None:
    assert "invalid arguments" in await error(tools, "read_file")
    assert "invalid arguments" in await error(tools, "write_file", path="a.txt", content=3)
    assert "invalid arguments" in await error(tools, "shell", command="ls", sudo=True)


# -- read_file ----------------------------------------------------------------------------


@needs_bwrap
async def test_read_file_numbers_lines_and_reads_long_files_a_window_at_a_time(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    workspace.write_text("app.py", "import os\n\nprint(os.getcwd())\n")
    assert await ok(tools, "read_file", path="app.py") == (
        "     1\timport os\n     2\t\n     3\tprint(os.getcwd())"
    )
    assert await ok(tools, "read_file", path="/workspace/app.py", offset=3) == (
        "     3\tprint(os.getcwd())\n[lines 3-3 of 3]"
    )
    await ok(tools, "shell", command="seq 1 5000 > numbers.txt")
    first = await ok(tools, "read_file", path="numbers.txt")
    assert first.splitlines()[0] == "     1\t1" and first.splitlines()[1999] == "  2000\t2000"
    assert first.endswith("[lines 1-2000 of 5000; read on with offset=2001]")
    window = await ok(tools, "read_file", path="numbers.txt", offset=4999, limit=10)
    assert window == "  4999\t4999\n  5000\t5000\n[lines 4999-5000 of 5000]"
    assert "past its end" in await error(tools, "read_file", path="numbers.txt", offset=5001)
    assert "limit between" in await error(tools, "read_file", path="numbers.txt", limit=0)
    workspace.write_text("empty.txt", "")
    assert await ok(tools, "read_file", path="empty.txt") == "(empty.txt is empty)"


@needs_bwrap
async def test_read_file_refuses_what_is_not_a_readable_text_file(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    assert "no such file: nope.py" in await error(tools, "read_file", path="nope.py")
    assert "no such directory" in await error(tools, "read_file", path="src/nope.py")
    workspace.write_text("src/app.py", "x = 1\n")
    assert "is a directory" in await error(tools, "read_file", path="src")
    workspace.write_bytes("latin1.txt", "café\n".encode("latin-1"))
    message = await error(tools, "read_file", path="latin1.txt")
    assert "not UTF-8 text (byte 0xe9 at offset 3)" in message and "xxd" in message
    workspace.write_bytes("blob.bin", b"ELF\x00\x01\x02")
    assert "NUL bytes" in await error(tools, "read_file", path="blob.bin")
    await ok(tools, "shell", command="mkfifo pipe")  # opening it must not hang the host
    assert "not a regular file" in await error(tools, "read_file", path="pipe")


@needs_bwrap
async def test_huge_files_and_lines_are_bounded(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    size = FILE_BYTES + 1
    done = await ok(tools, "shell", command=f"head -c {size} /dev/zero | tr '\\0' 'a' > big.txt")
    assert done.startswith("exit code: 0"), done
    message = await error(tools, "read_file", path="big.txt")
    assert "larger than 8 MiB" in message and "sed -n" in message
    assert "larger than 8 MiB" in await error(
        tools, "edit_file", path="big.txt", old_string="a", new_string="b"
    )
    workspace.write_text("wide.txt", "x" * 5000 + "\nshort\n")
    wide = await ok(tools, "read_file", path="wide.txt")
    assert wide == "     1\t" + "x" * 2000 + " [... 3000 characters cut]\n     2\tshort"
    workspace.write_text("wide_many.txt", ("y" * 1900 + "\n") * 100)
    many = await ok(tools, "read_file", path="wide_many.txt")
    assert len(many) <= 30_100 and many.endswith("read on with offset=16]")
    assert "limit is" in await error(
        tools, "write_file", path="huge.txt", content="z" * (FILE_BYTES + 1)
    )
    assert not workspace.exists("huge.txt")


# -- hostile paths ------------------------------------------------------------------------


@needs_bwrap
async def test_paths_out_of_the_workspace_are_refused(
    workspace: Workspace, tools: dict[str, Tool], tmp_path: Path
) -> None:
    outside = tmp_path / "target.txt"
    for path in ("../etc/passwd", "a/../../etc/passwd", "/etc/passwd", str(outside)):
        assert "Error" in await error(tools, "read_file", path=path)
        await error(tools, "write_file", path=path, content="pwned")
        await error(tools, "edit_file", path=path, old_string="", new_string="pwned")
        await error(tools, "list_files", path=path)
    assert not outside.exists()
    assert "'..' is not allowed" in await error(tools, "read_file", path="../x")
    assert "outside the workspace" in await error(tools, "read_file", path="/etc/passwd")


@needs_bwrap
async def test_links_planted_by_the_shell_are_never_followed(
    workspace: Workspace, tools: dict[str, Tool], tmp_path: Path
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("host secret\n")
    os.chmod(tmp_path, 0o755)
    await ok(
        tools,
        "shell",
        command=(
            "ln -s /etc/shadow shadow && ln -s / root && "
            f"ln -s {victim} victim && ln -s /tmp/created-by-link out && mkdir -p d && "
            "ln -s /etc d/etc"
        ),
    )
    assert "symbolic link" in await error(tools, "read_file", path="shadow")
    assert "symbolic link" in await error(tools, "read_file", path="root/etc/passwd")
    assert "symbolic link" in await error(tools, "read_file", path="d/etc/hostname")
    for path in ("victim", "out", "root/tmp/x", "d/etc/x"):
        await error(tools, "write_file", path=path, content="pwned")
    await error(tools, "edit_file", path="victim", old_string="host", new_string="pwned")
    assert victim.read_text() == "host secret\n"
    assert not Path("/tmp/created-by-link").exists()
    listing = await ok(tools, "list_files", recursive=True)
    assert "shadow -> /etc/shadow  (symbolic link; not followed by the file tools)" in listing
    assert "root -> /  (symbolic link" in listing
    assert "passwd" not in listing  # nothing below a link is listed
    assert "symbolic link" in await error(tools, "list_files", path="root")


# -- write_file, edit_file ----------------------------------------------------------------


@needs_bwrap
async def test_write_file_creates_and_replaces_files_the_sandbox_can_use(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    created = await ok(tools, "write_file", path="pkg/mod.py", content="VALUE = 41\n")
    assert created == "Created pkg/mod.py: 11 bytes, 1 lines."
    replaced = await ok(tools, "write_file", path="pkg/mod.py", content="VALUE = 42\nX = 1\n")
    assert replaced == "Replaced pkg/mod.py: 17 bytes, 2 lines."
    shown = await ok(tools, "run_python", code="from pkg.mod import VALUE\nprint(VALUE)")
    assert shown == "exit code: 0\nstdout:\n42"
    appended = await ok(tools, "shell", command="echo 'Y = 2' >> pkg/mod.py && tail -1 pkg/mod.py")
    assert appended == "exit code: 0\nstdout:\nY = 2"
    assert "is a directory" in await error(tools, "write_file", path="pkg", content="x")
    assert "surrogate" in await error(tools, "write_file", path="s.txt", content="a\ud800b")
    assert "surrogate" in await error(
        tools, "edit_file", path="pkg/mod.py", old_string="X = 1", new_string="X = '\udfff'"
    )
    assert not workspace.exists("s.txt") and "X = 1" in workspace.read_text("pkg/mod.py")


@needs_bwrap
async def test_edit_file_replaces_exactly_one_occurrence_and_shows_the_result(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    source = "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n"
    workspace.write_text("calc.py", source)
    ambiguous = await error(
        tools, "edit_file", path="calc.py", old_string="return a - b", new_string="return a + b"
    )
    assert "occurs 2 times in calc.py (at lines 2, 6)" in ambiguous
    assert "replace_all" in ambiguous
    assert workspace.read_text("calc.py") == source  # nothing changed
    edited = await ok(
        tools,
        "edit_file",
        path="calc.py",
        old_string="def add(a, b):\n    return a - b",
        new_string="def add(a, b):\n    return a + b",
    )
    assert edited.startswith("Edited calc.py: replaced 1 occurrence (first at line 1).\n")
    assert "     2\t    return a + b" in edited
    assert workspace.read_text("calc.py") == source.replace("a - b", "a + b", 1)
    every = await ok(
        tools, "edit_file", path="calc.py", old_string="a, b", new_string="x, y", replace_all=True
    )
    assert "replaced 2 occurrences" in every
    assert workspace.read_text("calc.py").count("def add(x, y)") == 1


@needs_bwrap
async def test_edit_file_tells_the_model_why_an_edit_did_not_apply(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    workspace.write_text("app.py", "def main():\n    print('hi')\n")
    missing = await error(
        tools, "edit_file", path="app.py", old_string="print('bye')", new_string="pass"
    )
    assert "not found in app.py" in missing and "read_file" in missing
    numbered = await error(
        tools,
        "edit_file",
        path="app.py",
        old_string="     2\t    print('hi')",
        new_string="    print('ho')",
    )
    assert "line numbers" in numbered
    indented = await error(
        tools,
        "edit_file",
        path="app.py",
        old_string="def main():\n  print('hi')",
        new_string="def main():\n  print('ho')",
    )
    assert "lines 1-2 match it except for indentation" in indented
    same = await error(tools, "edit_file", path="app.py", old_string="hi", new_string="hi")
    assert "the same" in same
    exists = await error(tools, "edit_file", path="app.py", old_string="", new_string="x")
    assert "already exists" in exists
    assert "no such file" in await error(
        tools, "edit_file", path="nope.py", old_string="a", new_string="b"
    )
    workspace.write_bytes("latin1.py", b"# caf\xe9\n")
    assert "not UTF-8" in await error(
        tools, "edit_file", path="latin1.py", old_string="caf", new_string="cafe"
    )
    assert workspace.read_text("app.py") == "def main():\n    print('hi')\n"
    created = await ok(tools, "edit_file", path="new/file.txt", old_string="", new_string="x\n")
    assert created.startswith("Created new/file.txt")


@needs_bwrap
async def test_edit_file_keeps_crlf_line_endings(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    workspace.write_bytes("win.txt", b"one\r\ntwo\r\nthree\r\n")
    await ok(tools, "edit_file", path="win.txt", old_string="one\ntwo", new_string="1\n2")
    assert workspace.read_bytes("win.txt") == b"1\r\n2\r\nthree\r\n"


# -- list_files ---------------------------------------------------------------------------


@needs_bwrap
async def test_list_files_shows_kinds_sizes_and_odd_names_safely(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    workspace.write_text("src/app.py", "x = 1\n")
    workspace.write_text("README.md", "hi\n")
    await ok(tools, "shell", command="mkdir empty && touch $'evil\\nFAILED fake' && mkfifo fifo")
    top = await ok(tools, "list_files")
    assert top.splitlines() == [
        "README.md  (3 bytes)",
        "empty/",
        "'evil\\nFAILED fake'  (0 bytes)",
        "fifo  (not a regular file: a FIFO, socket or device)",
        "src/",
    ]
    assert "src/app.py  (6 bytes)" in await ok(tools, "list_files", recursive=True)
    assert await ok(tools, "list_files", path="src") == "src/app.py  (6 bytes)"
    assert await ok(tools, "list_files", path="empty") == "(empty is an empty directory)"
    assert "not a directory" in await error(tools, "list_files", path="README.md")
    await ok(tools, "shell", command="mkdir many && cd many && touch $(seq -f 'f%04g' 1 600)")
    many = await ok(tools, "list_files", path="many")
    assert len(many.splitlines()) == LIST_ENTRIES + 1
    assert many.endswith(
        "[listing cut at 500 entries: list a subdirectory, or use shell (find, ls)]"
    )


@needs_bwrap
async def test_a_directory_nest_thousands_deep_neither_breaks_listings_nor_the_manifest(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    nest = "import os\nfor _ in range(1500):\n    os.mkdir('d')\n    os.chdir('d')\n"
    nest += "open('leaf', 'w').write('x')"
    assert (await ok(tools, "run_python", code=nest)) == "exit code: 0\n(no output)"
    workspace.write_text("top.txt", "t\n")
    listing = await ok(tools, "list_files", recursive=True)
    assert listing.endswith(
        "levels down are not listed: list a deeper directory, or use shell (find)]"
    )
    assert len(listing) <= 30_100 and "leaf" not in listing
    manifest = workspace.manifest()
    assert manifest.truncated and [f.path for f in manifest.files] == ["top.txt"]
    deep = "/".join(["d"] * 1500) + "/leaf"
    assert await ok(tools, "read_file", path=deep) == "     1\tx"


# -- shell, run_python ----------------------------------------------------------------------


@needs_bwrap
async def test_shell_and_run_python_report_output_and_the_limit_that_stopped_them(
    workspace: Workspace,
) -> None:
    quick = CommandLimits(cpu_seconds=2, wall_seconds=3, max_output_bytes=2000, max_processes=16)
    tools = {
        t.name: t for t in workspace_tools(workspace, include=["shell", "run_python"], limits=quick)
    }
    piped = await ok(tools, "shell", command="printf 'b\\na\\n' | sort | tr a-z A-Z; exit 3")
    assert piped == "exit code: 3\nstdout:\nA\nB"
    slow = await ok(tools, "shell", command="sleep 30")
    assert "killed: wall-clock limit of 3 s exceeded" in slow
    flood = await ok(tools, "run_python", code="while True:\n    print('x' * 100)")
    assert "killed: output went past 2000 bytes" in flood
    assert "[stdout truncated at 2000 bytes]" in flood
    cpu = CommandLimits(cpu_seconds=1, wall_seconds=30)
    (spinner,) = workspace_tools(workspace, include=["run_python"], limits=cpu)
    spin = await spinner.call({"code": "while True:\n    pass"})
    assert "killed: CPU time limit of 1 s exceeded" in spin.content
    crash = await ok(tools, "run_python", code="import json\njson.loads('{')")
    assert crash.startswith("exit code: 1") and "JSONDecodeError" in crash
    memory = await ok(tools, "run_python", code="x = bytearray(10 ** 10)")
    assert memory.endswith("MemoryError\nstopped: memory limit of 256 MiB exceeded (MemoryError)")
    assert "empty" in await error(tools, "run_python", code="  ")
    assert "empty" in await error(tools, "shell", command="")


# -- run_tests ----------------------------------------------------------------------------

SOLUTION = "def add(a, b):\n    return a + b\n"
SUITE = """\
import pytest
from solution import add


def test_adds():
    assert add(1, 2) == 3


@pytest.mark.parametrize("a, b, total", [(1, 1, 2), (2, 2, 5)])
def test_table(a, b, total):
    assert add(a, b) == total


@pytest.fixture
def database():
    raise RuntimeError("no database here")


def test_needs_a_database(database):
    pass


@pytest.mark.skip(reason="not yet")
def test_later():
    pass


@pytest.mark.xfail(reason="known bug")
def test_known():
    assert add(0, 0) == 1
"""


@needs_bwrap
async def test_run_tests_passing_suite(workspace: Workspace, tools: dict[str, Tool]) -> None:
    workspace.write_text("solution.py", SOLUTION)
    workspace.write_text(
        "tests/test_ok.py", "from solution import add\n\ndef test_a():\n    assert add(2, 2) == 4\n"
    )
    run = await run_tests(workspace, limits=LIMITS)
    assert run.ok and run.exit_code == 0 and run.collected == 1 and not run.problem
    assert [(t.nodeid, t.outcome) for t in run.tests] == [("tests/test_ok.py::test_a", "passed")]
    assert run.tests[0].duration_s >= 0
    text = await ok(tools, "run_tests")
    assert text == (
        "tests: 1 passed, 0 failed, 0 error, 0 skipped (1 in all); pytest exit code: 0\n"
        "passed: tests/test_ok.py::test_a"
    )
    assert not [e for e in workspace.list_files()[0] if e.path.startswith(".palaestra")]


@needs_bwrap
async def test_run_tests_reports_each_failing_erroring_and_skipped_test(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    workspace.write_text("solution.py", SOLUTION)
    workspace.write_text("test_calc.py", SUITE)
    run = await run_tests(workspace, limits=LIMITS)
    outcomes = {t.nodeid: (t.outcome, t.message) for t in run.tests}
    assert outcomes == {
        "test_calc.py::test_adds": ("passed", ""),
        "test_calc.py::test_table[1-1-2]": ("passed", ""),
        "test_calc.py::test_table[2-2-5]": ("failed", "assert 4 == 5"),
        "test_calc.py::test_needs_a_database": (
            "error",
            "setup failed: RuntimeError: no database here",
        ),
        "test_calc.py::test_later": ("skipped", "not yet"),
        "test_calc.py::test_known": ("skipped", "expected failure: known bug"),
    }
    assert run.counts == {"passed": 2, "failed": 1, "error": 1, "skipped": 2, "total": 6}
    assert run.exit_code == 1 and not run.ok and not run.problem
    text = await ok(tools, "run_tests")
    assert text.startswith(
        "tests: 2 passed, 1 failed, 1 error, 2 skipped (6 in all); pytest exit code: 1\n"
    )
    assert "FAILED test_calc.py::test_table[2-2-5] - assert 4 == 5" in text
    assert "---- test_calc.py::test_table[2-2-5] ----" in text and "E   assert 4 == 5" in text
    assert " in 0." not in text  # no wall-clock figures
    selected = await ok(tools, "run_tests", keyword="table")
    assert selected.startswith("tests: 1 passed, 1 failed, 0 error, 0 skipped (2 in all)")
    one = await ok(tools, "run_tests", paths=["test_calc.py::test_adds"])
    assert one.startswith("tests: 1 passed, 0 failed, 0 error, 0 skipped (1 in all)")
    assert "options are not accepted" in await error(tools, "run_tests", paths=["--help"])


@needs_bwrap
async def test_run_tests_collection_errors_and_empty_suites(
    workspace: Workspace, tools: dict[str, Tool]
) -> None:
    assert "No tests were collected" in await ok(tools, "run_tests")
    workspace.write_text("solution.py", SOLUTION)
    workspace.write_text("test_ok.py", "def test_fine():\n    pass\n")
    workspace.write_text("test_broken.py", "import missing_module\n")
    workspace.write_text("test_syntax.py", "def test_(:\n")
    run = await run_tests(workspace, limits=LIMITS)
    outcomes = {t.nodeid: t.outcome for t in run.tests}
    assert outcomes == {
        "test_broken.py": "error",
        "test_syntax.py": "error",
        "test_ok.py::test_fine": "passed",
    }
    broken = next(t for t in run.tests if t.nodeid == "test_broken.py")
    assert (
        broken.message == "collection failed: ModuleNotFoundError: No module named 'missing_module'"
    )
    text = await ok(tools, "run_tests")
    assert "ERROR test_syntax.py - collection failed: " in text
    assert "no such file" not in text
    usage = await ok(tools, "run_tests", paths=["no_such_dir"])
    assert "pytest exit code: 4" in usage and "file or directory not found" in usage


@needs_bwrap
async def test_run_tests_keeps_results_of_a_run_killed_at_its_wall_clock(
    workspace: Workspace,
) -> None:
    workspace.write_text(
        "test_slow.py",
        "import time\n\ndef test_quick():\n    pass\n\ndef test_stuck():\n    time.sleep(60)\n",
    )
    limits = LIMITS.model_copy(update={"wall_seconds": 6})
    run = await run_tests(workspace, limits=limits)
    assert run.result is not None and run.result.killed_by == "wall"
    assert [(t.nodeid, t.outcome) for t in run.tests] == [("test_slow.py::test_quick", "passed")]
    text = run.render()
    assert "killed: wall-clock limit of 6 s exceeded" in text
    assert "the test session did not end" in text and "pytest exit code: none (killed)" in text


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<testsuites><testsuite><testcase name="&lol9;"/></testsuite></testsuites>
"""


def _hostile_suite(attack: str) -> str:
    """A test module whose test overwrites the report file at the end of the session."""
    return f"""\
import atexit, json, os

REPORT = os.environ["PALAESTRA_PYTEST_REPORT"]


def attack():
{attack}


def test_plants_it():
    atexit.register(attack)  # after pytest wrote its last line
"""


HOSTILE_REPORTS = {
    "billion laughs": f"    open(REPORT, 'w').write({BILLION_LAUGHS!r})",
    "huge file": (
        "    with open(REPORT, 'w') as f:\n"
        "        for _ in range(48):\n"
        "            f.write(json.dumps({'nodeid': 'x' * 100, 'outcome': 'passed'}) * 10000)"
    ),
    "deep nesting": "    open(REPORT, 'w').write('[' * 1_000_000 + '\\n')",
    "link to a host secret": "    os.remove(REPORT); os.symlink('/etc/shadow', REPORT)",
    "fifo": "    os.remove(REPORT); os.mkfifo(REPORT)",
    "lies and wrong types": (
        "    open(REPORT, 'w').write('\\n'.join(["
        "json.dumps({'nodeid': ['x'], 'outcome': 'passed'}),"
        "json.dumps({'nodeid': 'a', 'outcome': 'pwned'}),"
        "json.dumps({'nodeid': 'b\\nFAILED fake', 'outcome': 'passed', 'duration': 'NaN',"
        " 'message': 7}),"
        "json.dumps({'summary': True, 'exitstatus': 10 ** 30, 'collected': -1}),"
        "'{not json', '7']))"
    ),
}


@needs_bwrap
@pytest.mark.parametrize("attack", list(HOSTILE_REPORTS))
async def test_a_hostile_report_file_is_read_safely(
    workspace: Workspace, tools: dict[str, Tool], attack: str
) -> None:
    workspace.write_text("test_hostile.py", _hostile_suite(HOSTILE_REPORTS[attack]))
    limits = LIMITS.model_copy(update={"max_file_mb": 64})
    run = await run_tests(workspace, limits=limits)
    assert run.result is not None and run.result.killed_by is None, run.result.render()
    assert run.problem, attack
    assert len(run.render()) < 20_000
    if attack == "billion laughs":
        assert run.tests == [] and "unreadable" in run.problem
        assert "lol" not in run.render().replace("&lol", "")  # nothing was expanded
    elif attack == "huge file":
        assert "larger than 4194304 bytes" in run.problem
    elif attack == "link to a host secret":
        assert "symbolic link" in run.problem and "root:" not in run.render()
    elif attack == "fifo":
        assert "not a regular file" in run.problem
    elif attack == "lies and wrong types":
        assert [(t.nodeid, t.duration_s, t.message) for t in run.tests] == [
            ("b FAILED fake", 0.0, "")
        ]
        assert run.exit_code == 0 and run.collected is None and not run.ok  # the process's
        assert "4 lines of the test report were unreadable" in run.problem
        assert "\nFAILED fake" not in run.render()
    outcome = await call(tools, "run_tests")  # and the tool answers, bounded
    assert len(outcome.content) < 20_000


# -- the episode's workspace ----------------------------------------------------------------


@needs_bwrap
async def test_an_episode_workspace_serves_tool_calls_and_ends_with_its_manifest() -> None:
    made: list[Workspace] = []

    def factory() -> Workspace:
        made.append(Workspace(limits=LIMITS, python_paths=pytest_paths()))
        return made[-1]

    episode = EpisodeWorkspace(factory, include=["read_file", "edit_file", "run_tests"])
    workspace = await episode.open({"solution.py": SOLUTION.replace("+", "-"), "data.bin": b"\x00"})
    assert [s.name for s in episode.specs] == ["read_file", "edit_file", "run_tests"]
    assert episode.names == {"read_file", "edit_file", "run_tests"}
    read = await episode.call(ToolCall(id="1", name="read_file", arguments={"path": "solution.py"}))
    assert read == ToolOutcome("     1\tdef add(a, b):\n     2\t    return a - b")
    unknown = await episode.call(ToolCall(id="2", name="shell", arguments={"command": "ls"}))
    assert unknown.is_error and "unknown tool 'shell'" in unknown.content
    arguments = {"path": "solution.py", "old_string": "a - b", "new_string": "a + b"}
    edit = await episode.call(ToolCall(id="3", name="edit_file", arguments=arguments))
    assert not edit.is_error
    manifest = await episode.finish()
    assert manifest is not None and await episode.finish() is None  # taken once
    assert [(f.path, f.size, f.sha256) for f in manifest.files] == [
        ("data.bin", 1, hashlib.sha256(b"\x00").hexdigest()),
        ("solution.py", len(SOLUTION), hashlib.sha256(SOLUTION.encode()).hexdigest()),
    ]
    assert not workspace.started and episode.workspace is None
    second = await episode.open()  # the next episode: a fresh, empty workspace
    assert second is not workspace and second.list_files() == ([], False)
    await episode.aclose()
    await episode.aclose()
    assert not second.started and episode.take_manifest() is None
    with pytest.raises(RuntimeError, match="not open"):
        await episode.call(ToolCall(id="4", name="read_file", arguments={"path": "x"}))


async def test_isolation_none_is_an_event_and_tools_still_answer(tmp_path: Path) -> None:
    async with Workspace(limits=LIMITS, isolation="none", python_paths=pytest_paths()) as plain:
        event = isolation_event(plain, "code.workspace")
        assert event is not None and event.rule == "sandbox.isolation_none"
        tools = {t.name: t for t in workspace_tools(plain)}
        await ok(tools, "write_file", path="solution.py", content=SOLUTION)
        plain.write_text(
            "test_s.py", "from solution import add\n\ndef test_a():\n    assert add(1, 1) == 2\n"
        )
        assert (await ok(tools, "run_tests")).startswith("tests: 1 passed")
        assert "'..' is not allowed" in await error(tools, "read_file", path="../x")


@needs_bwrap
async def test_an_llm_operator_calls_the_tools_as_its_own(workspace: Workspace) -> None:
    calls = [
        _tool_call("w", "write_file", path="app.py", content="print(6 * 7)\n"),
        _tool_call("r", "run_python", code="import app"),
        _tool_call("e", "edit_file", path="app.py", old_string="6", new_string="9"),
    ]

    def reply(request: ModelRequest) -> Message:
        done = sum(1 for m in request.messages if m.role == "tool")
        if done < len(calls):
            return Message(role="assistant", tool_calls=[calls[done]])
        return Message(role="assistant", content="done")

    operator = LLMOperator(ScriptedModel(fn=reply), tools=workspace_tools(workspace))
    recorder = EpisodeRecorder("e", run_seed=0)
    observation = Observation(text="write an app")
    handle = recorder.emit(0, "agent", ObservationEvent(observation=observation))
    turn = AgentContext(recorder, "agent", 0, handle)
    action = await operator.act(observation, turn)
    recorder.flush_turn(turn)
    assert action.text == "done"
    results = [row_event(row).payload for row in recorder.drain() if row[2] == "tool_result"]
    assert [(r.name, r.is_error) for r in results] == [
        ("write_file", False),
        ("run_python", False),
        ("edit_file", False),
    ]
    assert results[1].content == "exit code: 0\nstdout:\n42"
    assert workspace.read_text("app.py") == "print(9 * 7)\n"


def _tool_call(call_id: str, name: str, **arguments: object) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)
