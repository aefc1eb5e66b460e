"""`atomic_write`, `atomic_path`, `atomic_directory`: the destination is the old content or
the new, never a mix; temporaries are removed; what the user must fix is a `UserError`."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from palaestra.core import UserError, atomic_directory, atomic_path, atomic_write
from palaestra.core._files import TMP_SUFFIX, _tmp_name, remove_stale_temporaries

ROOT = Path(__file__).resolve().parents[2]


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(TMP_SUFFIX))


def test_writes_and_replaces_keeping_the_mode(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    with atomic_write(out) as fp:
        fp.write("first é\n")
        assert not out.exists()  # nothing at the destination until the block ends
        assert len(_temporaries(tmp_path)) == 1
    assert out.read_text(encoding="utf-8") == "first é\n"
    out.chmod(0o640)
    with atomic_write(out, "wb") as fp:
        fp.write(b"second\n")
    assert out.read_bytes() == b"second\n"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert _temporaries(tmp_path) == []


def test_error_in_the_block_keeps_the_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    out.write_text("old\n")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(out) as fp:
        fp.write("half of the new")
        raise RuntimeError("boom")
    assert out.read_text() == "old\n"
    assert _temporaries(tmp_path) == []
    with pytest.raises(KeyboardInterrupt), atomic_path(tmp_path / "new.bin") as tmp:
        tmp.write_bytes(b"x")
        raise KeyboardInterrupt
    assert not (tmp_path / "new.bin").exists() and _temporaries(tmp_path) == []


def test_destinations_the_user_must_fix(tmp_path: Path) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = {
        tmp_path / "adir": r"cannot write .*adir: it is a directory; give a file name",
        tmp_path / "missing" / "out.txt": r"directory .*missing does not exist; create it",
        tmp_path / "afile" / "out.txt": r"cannot write .*afile/out.txt: a parent of it is a file",
    }
    for path, expected in cases.items():
        with pytest.raises(UserError, match=expected), atomic_write(path) as fp:
            fp.write("never")
    with pytest.raises(UserError, match=r"cannot write directory .*afile: a file of that name"):
        with atomic_directory(tmp_path / "afile"):
            pass
    with atomic_write(tmp_path / "made" / "deep" / "out.txt", make_parents=True) as fp:
        fp.write("ok")
    assert (tmp_path / "made" / "deep" / "out.txt").read_text() == "ok"


_WRITE_SCRIPT = """
import os, sys
from palaestra.core import UserError, atomic_write
try:
    with atomic_write(sys.argv[1]) as fp:
        for _ in range(int(sys.argv[2])):
            fp.write("x" * 10_000)
except UserError as exc:
    print(exc)
folder = os.path.dirname(sys.argv[1])
print(sorted(os.listdir(folder)), repr(open(sys.argv[1]).read()))
"""


def _in_small_filesystem(folder: Path, mount_options: str, *args: str) -> str:
    """Run `_WRITE_SCRIPT` with a 64 KiB tmpfs mounted on `folder` (in a private mount
    namespace: nothing outside the child sees it); returns what it printed."""
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to mount a small file system")
    shell = (
        f"mount -t tmpfs -o size=64k tmpfs {folder} && echo old > {folder}/out.txt && "
        f'mount -o remount,{mount_options} {folder} && exec "$0" "$@"'
    )
    command = ["unshare", "--mount", "--map-root-user", "sh", "-c", shell]
    probe = subprocess.run([*command[:-2], "-c", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    result = subprocess.run(
        [*command, sys.executable, "-c", _WRITE_SCRIPT, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_full_disk_and_read_only_file_system_are_user_errors(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    # a real ENOSPC: 100 kB into a 64 KiB file system
    printed = _in_small_filesystem(tmp_path, "rw", str(out), "10")
    assert printed.splitlines() == [
        f"cannot write {out}: No space left on device; free some space or choose another location",
        "['out.txt'] 'old\\n'",  # the old file, and no temporary left
    ]
    printed = _in_small_filesystem(tmp_path, "ro", str(out), "1")
    assert printed.splitlines() == [
        f"cannot write {out}: the file system is read-only; choose another location",
        "['out.txt'] 'old\\n'",
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_directory_is_a_user_error(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    with pytest.raises(UserError, match=r"cannot write .*out\.jsonl: permission denied"):
        with atomic_write(folder / "out.jsonl") as fp:
            fp.write("x")
    assert list(folder.iterdir()) == []


def test_symlink_target_is_replaced_and_the_link_kept(tmp_path: Path) -> None:
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    with atomic_write(link) as fp:
        fp.write("new")
    assert link.is_symlink() and target.read_text() == "new"


def test_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    with atomic_write(fifo) as fp:
        fp.write("through the pipe\n")
    reader.join(timeout=30)
    assert received == [b"through the pipe\n"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = tmp_path / _tmp_name(out)
    theirs = tmp_path / _tmp_name(out).replace(f".{os.getpid()}.", f".{dead.pid}.")
    other_host = tmp_path / f".out.jsonl.elsewhere.{dead.pid}.0123abcd{TMP_SUFFIX}"
    unrelated = tmp_path / f".other.jsonl.x.{dead.pid}.0123abcd{TMP_SUFFIX}"
    for path in (mine, theirs, other_host, unrelated):
        path.write_text("partial")
    (tmp_path / "dir-left").mkdir()
    theirs_dir = tmp_path / _tmp_name(out).replace(f".{os.getpid()}.", f".{dead.pid}.")
    theirs_dir.mkdir()
    (theirs_dir / "model.bin").write_bytes(b"x")
    assert sorted(remove_stale_temporaries(out)) == sorted([theirs, theirs_dir])
    assert mine.exists() and other_host.exists() and unrelated.exists()
    theirs.write_text("partial")
    with atomic_write(out) as fp:  # each write cleans up after the dead writers first
        fp.write("whole")
    assert not theirs.exists() and mine.exists()


def test_disk_limit_while_writing_is_a_user_error(tmp_path: Path) -> None:
    """A file size limit (RLIMIT_FSIZE) fails the write like a full disk does."""
    script = (
        "import resource, signal, sys\n"
        "from palaestra.core import UserError, atomic_write\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "try:\n"
        "    with atomic_write(sys.argv[1]) as fp:\n"
        "        for _ in range(100):\n"
        "            fp.write('x' * 10_000)\n"
        "except UserError as exc:\n"
        "    print(exc)\n"
    )
    out = tmp_path / "out.txt"
    out.write_text("old")
    result = subprocess.run(
        [sys.executable, "-c", script, str(out)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"cannot write {out}: File too large")
    assert out.read_text() == "old" and _temporaries(tmp_path) == []


def test_directory_replaced_whole(tmp_path: Path) -> None:
    dest = tmp_path / "ckpt" / "step-000001"
    with atomic_directory(dest) as tmp:
        (tmp / "model").mkdir()
        (tmp / "model" / "weights.bin").write_bytes(b"1")
        assert not dest.exists()
    assert (dest / "model" / "weights.bin").read_bytes() == b"1"
    with pytest.raises(RuntimeError), atomic_directory(dest) as tmp:
        (tmp / "state.json").write_text("{}")
        raise RuntimeError("killed halfway")
    assert sorted(p.name for p in dest.iterdir()) == ["model"]  # the old one, untouched
    with atomic_directory(dest) as tmp:
        (tmp / "state.json").write_text("{}")
    assert sorted(p.name for p in dest.iterdir()) == ["state.json"]
    assert sorted(p.name for p in dest.parent.iterdir()) == ["step-000001"]


def test_kill_9_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    """A writer killed by SIGKILL while its temporary file grows: the destination keeps
    its old content (the export-sized version of this test is in tests/store)."""
    out = tmp_path / "out.txt"
    out.write_text("old\n")
    script = (
        "import sys\n"
        "from palaestra.core import atomic_write\n"
        "with atomic_write(sys.argv[1]) as fp:\n"
        "    fp.write('x' * 100_000)\n"
        "    fp.flush()\n"
        "    print('written', flush=True)\n"
        "    sys.stdin.read()\n"  # blocks until the test kills it
        "    fp.write('never')\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "written\n"
    (left,) = _temporaries(tmp_path)
    assert (tmp_path / left).stat().st_size == 100_000
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert out.read_text() == "old\n"
    with atomic_write(out) as fp:
        fp.write("new\n")
    assert out.read_text() == "new\n" and _temporaries(tmp_path) == []
