"""`kill -9` during `palaestra export` of a real run (graph colouring, 16 agents, 20
episodes: ~3,400 events, ~3 MB): a file destination is the old file or absent, never cut;
a pipe gets a cut stream that import refuses, and `--partial` imports what it holds.

The exporter is a real `palaestra export` process killed by SIGKILL. Where the moment of
the kill must be exact, the child pauses itself at that point (after a given number of
chunks, or just before the rename) and waits on its stdin, so the test does not depend on
timing; one test kills at arbitrary moments and checks the invariant that holds at any.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import palaestra
from palaestra.cli import main
from palaestra.core._files import TMP_SUFFIX
from palaestra.runtime import Experiment, Job
from palaestra.store import Store, export_jsonl

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import os, sys
pause_after = int(os.environ.get("PAUSE_AFTER_CHUNKS", "0"))
if pause_after:
    from palaestra.store import _jsonl
    write, chunks = _jsonl._DigestWriter.write, [0]

    def paused_write(self, text, *, hashed=True):
        write(self, text, hashed=hashed)
        chunks[0] += 1
        if chunks[0] == pause_after:
            self._fp.flush()
            os.write(2, b"paused\\n")
            sys.stdin.read()  # until killed
    _jsonl._DigestWriter.write = paused_write
if os.environ.get("PAUSE_BEFORE_RENAME"):
    replace = os.replace

    def paused_replace(src, dst):
        os.write(2, b"paused\\n")
        sys.stdin.read()  # until killed
        replace(src, dst)
    os.replace = paused_replace
from palaestra.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class BigRun:
    store: Path
    full: bytes
    """The whole export of the run (exports are deterministic: every export equals it)."""
    episodes: int


EXPERIMENT = Experiment(
    name="big",
    jobs=[Job(env="graph.coloring", params={"n": 16, "num_tasks": 20}, tasks="all")],
)


@pytest.fixture(scope="module")
def big() -> Iterator[BigRun]:
    folder = Path(tempfile.mkdtemp(prefix="palaestra-kill-"))
    path = folder / "big.db"
    with Store(path) as store:
        palaestra.run(EXPERIMENT, store=store, run_id="big")
        export_jsonl(store, "big", folder / "full.jsonl")
    full = (folder / "full.jsonl").read_bytes()
    assert len(full) > 2_000_000  # large enough that the pipe test cuts it mid-run
    yield BigRun(path, full, 20)


def _export(big: BigRun, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, "export", "big", "--store", str(big.store), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), **env},
    )


def _wait_paused(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert line == b"paused\n", line + proc.stderr.read()


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL


def _temporaries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.endswith(TMP_SUFFIX))


@pytest.mark.slow
def test_kill_mid_write_leaves_no_file_then_the_old_one(big: BigRun, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    proc = _export(big, "-o", str(out), PAUSE_AFTER_CHUNKS="8")  # header + 7 episodes
    _wait_paused(proc)
    _kill(proc)
    assert not out.exists()
    (left,) = _temporaries(tmp_path)  # what the killed writer had written, beside it
    written = left.read_bytes()
    assert 0 < len(written) < len(big.full) and big.full.startswith(written)

    out.write_bytes(b"the previous export\n")
    proc = _export(big, "-o", str(out), PAUSE_AFTER_CHUNKS="15")
    _wait_paused(proc)
    _kill(proc)
    assert out.read_bytes() == b"the previous export\n"

    proc = _export(big, "-o", str(out))  # a new export removes what dead writers left
    assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    assert out.read_bytes() == big.full and _temporaries(tmp_path) == []


def test_kill_between_the_complete_file_and_its_rename(big: BigRun, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    out.write_bytes(b"the previous export\n")
    proc = _export(big, "-o", str(out), PAUSE_BEFORE_RENAME="1")
    _wait_paused(proc)
    (left,) = _temporaries(tmp_path)
    assert left.read_bytes() == big.full  # written and fsync'd, not yet in place
    _kill(proc)
    assert out.read_bytes() == b"the previous export\n"


def test_kill_at_arbitrary_moments_never_leaves_a_cut_file(big: BigRun, tmp_path: Path) -> None:
    """Whenever the kill lands, the destination is the old file or the whole export."""
    out = tmp_path / "run.jsonl"
    out.write_bytes(b"old\n")
    for delay in (0.0, 0.2, 0.5, 1.0, 2.0):
        proc = _export(big, "-o", str(out))
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        content = out.read_bytes()
        assert content in (b"old\n", big.full)  # which one depends on the machine's speed
        out.write_bytes(b"old\n")


def test_kill_while_writing_to_a_pipe_then_import(big: BigRun, tmp_path: Path, capsys) -> None:
    """Stdout cannot be renamed: the cut stream is what the trailer is for."""
    proc = _export(big)  # to stdout, a pipe the test reads (and stops reading)
    assert proc.stdout is not None
    half = proc.stdout.read(len(big.full) // 2)  # the writer blocks on the full pipe
    _kill(proc)
    assert half == big.full[: len(half)]
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(half)
    target = str(tmp_path / "imported.db")

    assert main(["import", str(cut), "--store", target]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {cut}: not imported: line ") and "is cut off" in err
    assert "--partial" in err and "\n" not in err.rstrip("\n")  # one line, no traceback

    assert main(["import", str(cut), "--partial", "--store", target]) == 0
    captured = capsys.readouterr()
    assert "imported run big" in captured.out
    assert captured.err.startswith(f"warning: {cut} is not whole (line ")
    with Store(target) as store, Store(big.store) as source:
        run = store.get_run("big")
        assert run is not None and run.status == "interrupted"
        finished = store.finished_episode_ids("big")
        assert 0 < len(finished) < big.episodes
        for episode_id in finished:  # what was complete is imported exactly
            assert store.events("big", episode_id) == source.events("big", episode_id)
        unfinished = [row for row in store.episodes("big") if row.status == "running"]
        assert len(unfinished) <= 1  # at most the episode the cut fell into

    with Store(target) as store, Store(big.store) as source:  # a resume completes it
        palaestra.run(EXPERIMENT, store=store, run_id="big")
        run = store.get_run("big")
        assert run is not None and run.status == "finished"
        resumed = {row.episode_id: row.hash for row in store.episodes("big")}
        assert resumed == {row.episode_id: row.hash for row in source.episodes("big")}


def test_cut_at_an_episode_boundary_is_refused_by_the_cli(
    big: BigRun, tmp_path: Path, capsys
) -> None:
    lines = big.full.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.startswith(b'{"type":"episode"')]
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines[: starts[10]]))  # ten whole episodes, nothing cut off
    target = str(tmp_path / "imported.db")
    assert main(["import", str(cut), "--store", target]) == 2
    err = capsys.readouterr().err
    assert "without the trailer an export writes last, so it is incomplete (10 episodes" in err
    assert main(["import", str(cut), "--partial", "--store", target, "--run-id", "ten"]) == 0
    capsys.readouterr()
    with Store(target) as store:
        run = store.get_run("ten")
        assert run is not None and run.status == "interrupted"
        assert len(store.finished_episode_ids("ten")) == 10


def test_whole_export_round_trips_through_the_cli(big: BigRun, tmp_path: Path, capsys) -> None:
    full = tmp_path / "full.jsonl"
    full.write_bytes(big.full)
    target = str(tmp_path / "imported.db")
    assert main(["import", str(full), "--store", target]) == 0
    assert capsys.readouterr().err == ""
    assert main(["export", "big", "--store", target]) == 0
    assert capsys.readouterr().out.encode("utf-8") == big.full
    with Store(target) as store:
        run = store.get_run("big")
        assert run is not None and run.status == "finished"


def test_export_destinations_the_user_must_fix(big: BigRun, tmp_path: Path, capsys) -> None:
    store = str(big.store)
    for target, expected in (
        (tmp_path, f"cannot write {tmp_path}: it is a directory; give a file name"),
        (tmp_path / "no" / "x.jsonl", f"directory {tmp_path / 'no'} does not exist"),
    ):
        for fmt in ("jsonl", "sft"):
            args = ["export", "big", "--format", fmt, "-o", str(target), "--store", store]
            assert main(args) == 2
            assert expected in capsys.readouterr().err
    assert main(["import", str(tmp_path), "--store", str(tmp_path / "x.db")]) == 2
    assert "is a directory; give the exported file" in capsys.readouterr().err
