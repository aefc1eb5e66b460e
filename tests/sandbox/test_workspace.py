"""`Workspace`: what a well-behaved user of the API gets, for real: files that persist
across commands, task data read-only, the host's file methods, the manifest, the end of
a workspace, the explicit `isolation="none"`, and the refusal where bubblewrap is
missing."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from pathlib import Path

import pytest

from palaestra.core import UserError
from palaestra.sandbox import (
    DATA,
    WORKSPACE,
    CommandLimits,
    Manifest,
    Sandbox,
    SandboxUnavailable,
    Workspace,
    WorkspaceFileError,
    _workspace,
    isolation_problem,
)
from palaestra.sandbox._workspace import NO_ISOLATION_WARNING
from tests.sandbox.conftest import descendants, needs_bwrap


@needs_bwrap
async def test_files_persist_across_commands_and_the_host_sees_them(
    workspace: Workspace,
) -> None:
    first = await workspace.run_python("open('notes.txt', 'w').write('from call 1')")
    assert first.ok, first.stderr
    second = await workspace.shell("cat notes.txt; echo ' + call 2' >> notes.txt; pwd")
    assert second.stdout == f"from call 1{WORKSPACE}\n"
    assert workspace.read_text("notes.txt") == "from call 1 + call 2\n"
    workspace.write_text("src/app.py", "print('written by the host')\n")
    third = await workspace.run(["python3", "src/app.py"])
    assert third.stdout == "written by the host\n", third.stderr
    edited = await workspace.shell("echo more >> src/app.py && echo ok")  # the sandbox owns it
    assert edited.stdout == "ok\n", edited.stderr
    assert workspace.exists("src/app.py") and not workspace.exists("src/none.py")
    assert workspace.read_text(f"{WORKSPACE}/notes.txt").startswith("from call 1")


@needs_bwrap
async def test_commands_see_the_sandboxs_identity_and_environment(workspace: Workspace) -> None:
    result = await workspace.shell(
        "id -u; id -g; hostname; echo $HOME $TMPDIR $USER; echo $EXTRA", env={"EXTRA": "given"}
    )
    assert result.stdout.split("\n")[:5] == [
        "1000",
        "1000",
        "sandbox",
        "/workspace /tmp sandbox",
        "given",
    ]
    missing = await workspace.run(["no-such-program"])
    assert missing.exit_code == 127 and "No such file or directory" in missing.stderr
    failing = await workspace.shell("exit 3")
    assert failing.exit_code == 3 and failing.killed_by is None  # a program's code is its own


@needs_bwrap
async def test_task_data_is_mounted_read_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "input.csv").write_text("a,b\n1,2\n")
    async with Workspace(data=data) as workspace:
        assert workspace.data_dir == DATA
        result = await workspace.shell(
            f"cat {DATA}/input.csv; echo x > {DATA}/input.csv; echo $?; "
            f"touch {DATA}/new; ls {DATA}",
            limits=CommandLimits(max_processes=8),
        )
    assert result.stdout.startswith("a,b\n1,2\n1\n") and result.stdout.endswith("input.csv\n")
    assert "Read-only file system" in result.stderr
    assert (data / "input.csv").read_text() == "a,b\n1,2\n" and not (data / "new").exists()


@needs_bwrap
async def test_python_paths_are_importable_and_read_only(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "helper.py").write_text("VALUE = 42\n")
    async with Workspace(python_paths=[lib], limits=CommandLimits(max_processes=4)) as workspace:
        snippet = await workspace.run_python("import helper\nprint(helper.VALUE)")
        command = await workspace.run(["python3", "-c", "import helper; print(helper.VALUE)"])
        planted = await workspace.run_python(
            "import os, helper\n"
            "open(os.path.join(os.path.dirname(helper.__file__), 'evil.py'), 'w')"
        )
    assert snippet.stdout == command.stdout == "42\n"
    assert "Read-only file system" in planted.stderr and not (lib / "evil.py").exists()


@needs_bwrap
async def test_run_python_keeps_its_program_out_of_the_workspace(workspace: Workspace) -> None:
    result = await workspace.run_python(
        "import os, helper\nprint(sorted(os.listdir('.')), helper.X)",
        files={"helper.py": "X = 1\n"},
    )
    assert result.stdout == "[] 1\n"
    assert workspace.list_files() == ([], False)


@needs_bwrap
async def test_commands_in_one_workspace_may_run_concurrently(workspace: Workspace) -> None:
    results = await asyncio.gather(
        *(
            workspace.run_python(f"open('f{i}', 'w').write('{i}')\nprint({i} * {i})")
            for i in range(6)
        )
    )
    assert [r.stdout for r in results] == [f"{i * i}\n" for i in range(6)]
    assert sorted(e.path for e in workspace.list_files()[0]) == [f"f{i}" for i in range(6)]


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@needs_bwrap
async def test_concurrent_first_commands_start_one_workspace() -> None:
    workspace = Workspace()
    try:
        results = await asyncio.gather(*(workspace.run_python("print(1)") for _ in range(4)))
        assert [r.stdout for r in results] == ["1\n"] * 4
        holders = [pid for pid in descendants() if _command(pid) == "cat"]  # holders wait in cat
        assert workspace._holder is not None and holders == [workspace._holder.pid]
    finally:
        await workspace.close()


@needs_bwrap
async def test_manifest_lists_sizes_and_hashes_sorted_and_capped(workspace: Workspace) -> None:
    await workspace.shell(
        "mkdir -p b/c && printf hello > b/c/x.txt && printf '' > a.txt && ln -s a.txt link"
    )
    workspace.write_bytes("z.bin", bytes(range(256)) * 4)
    manifest = workspace.manifest()
    assert [(f.path, f.kind, f.size) for f in manifest.files] == [
        ("a.txt", "file", 0),
        ("b/c/x.txt", "file", 5),
        ("link", "symlink", 0),
        ("z.bin", "file", 1024),
    ]
    hashes = {f.path: f.sha256 for f in manifest.files}
    assert hashes["b/c/x.txt"] == hashlib.sha256(b"hello").hexdigest()
    assert hashes["z.bin"] == hashlib.sha256(bytes(range(256)) * 4).hexdigest()
    assert manifest.files[2].target == "a.txt" and hashes["link"] is None
    assert (manifest.total_files, manifest.total_bytes, manifest.truncated) == (4, 1029, False)
    assert Manifest.model_validate_json(manifest.model_dump_json()) == manifest
    few = workspace.manifest(max_files=2)
    assert len(few.files) == 2 and few.total_files == 4 and few.truncated
    unhashed = workspace.manifest(max_bytes=100)
    assert unhashed.truncated and {f.path: f.sha256 for f in unhashed.files}["z.bin"] is None


@needs_bwrap
async def test_host_file_methods_refuse_paths_out_of_the_workspace(workspace: Workspace) -> None:
    for path in ("../x", "a/../../x", "/etc/passwd", "", "/"):
        with pytest.raises(WorkspaceFileError):
            workspace.read_text(path)
    with pytest.raises(WorkspaceFileError, match="no such file"):
        workspace.read_text("missing.txt")
    workspace.write_text("d/f.txt", "x" * 100)
    with pytest.raises(WorkspaceFileError, match="is a directory"):
        workspace.read_text("d")
    with pytest.raises(WorkspaceFileError, match="larger than 10 bytes"):
        workspace.read_text("d/f.txt", max_bytes=10)
    listing, cut = workspace.list_files(recursive=True)
    assert [(e.path, e.kind) for e in listing] == [("d", "dir"), ("d/f.txt", "file")] and not cut
    assert workspace.list_files(recursive=True, limit=1) == (listing[:1], True)
    workspace.remove("d/f.txt")
    workspace.remove("d")
    assert workspace.list_files() == ([], False)


@needs_bwrap
async def test_host_writes_obey_the_disk_cap(workspace: Workspace) -> None:
    with pytest.raises(WorkspaceFileError, match="the workspace is full"):
        workspace.write_bytes("big.bin", b"0" * (17 << 20))  # the workspace holds 16 MiB


@needs_bwrap
async def test_close_destroys_the_workspace() -> None:
    workspace = Workspace()
    await workspace.start()
    await workspace.run_python("open('left.txt', 'w').write('x')")
    assert workspace._holder is not None and workspace._layout is not None
    holder, base = workspace._holder, workspace._layout.base
    await workspace.close()
    await workspace.close()  # idempotent
    assert holder.poll() is not None and not os.path.exists(base)
    with pytest.raises(WorkspaceFileError, match="closed"):
        workspace.read_text("left.txt")
    with pytest.raises(RuntimeError, match="closed"):
        await workspace.start()


async def test_isolation_none_is_explicit_logged_and_contains_nothing(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_workspace, "_warned_unisolated", False)
    with caplog.at_level(logging.WARNING, logger="palaestra.sandbox"):
        async with Workspace(isolation="none") as first, Workspace(isolation="none") as second:
            result = await first.run_python("import os\nprint(os.getcwd())")
            await second.run_python("pass")
    assert not first.isolated and result.isolated is False
    assert result.stdout.strip() == first.workdir != WORKSPACE
    assert [r.message for r in caplog.records] == [NO_ISOLATION_WARNING]  # once per process


async def test_bad_arguments_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="valid choices: bwrap, none"):
        Workspace(isolation="docker")  # type: ignore[arg-type]
    with pytest.raises(UserError, match="does not exist"):
        Workspace(data=tmp_path / "missing")
    with pytest.raises(UserError, match="disk_mb"):
        Workspace(disk_mb=0)
    with pytest.raises(UserError, match="invalid environment variable"):
        Workspace(env={"A B": "x"})
    async with Workspace(isolation="none") as workspace:
        with pytest.raises(UserError, match="argv must be a non-empty list"):
            await workspace.run([])


async def test_without_bubblewrap_agent_code_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap, unshare, nsenter or mount here
    isolation_problem.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="missing program") as caught:
            await Workspace().start()
        assert "apt-get install bubblewrap" in str(caught.value)
        assert "user.max_user_namespaces" in str(caught.value)
        with pytest.raises(SandboxUnavailable):
            Sandbox()
    finally:
        monkeypatch.undo()
        isolation_problem.cache_clear()
