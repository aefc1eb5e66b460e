"""The hostile-code battery again, as an unprivileged user, when the suite runs as root
(as CI does): the sandbox has two ways in (as root: a holder without a user namespace and
bubblewrap entered as ``nobody``; as anyone else: a holder in a user namespace of its
own), and both must hold.

The battery runs in a subprocess under ``setpriv --reuid=65534 --regid=65534
--clear-groups``, with an interpreter that user can execute (this one when readable, else
the system's ``python3`` of the same version, with this virtualenv's site-packages and
the repository on ``PYTHONPATH``: both are world-readable, nothing is copied).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

import pytest

from tests.sandbox.conftest import needs_bwrap

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534

pytestmark = [
    needs_bwrap,
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0,
        reason="the suite already runs unprivileged: test_hostile.py ran as this user",
    ),
]


def _readable_by_others(path: Path) -> bool:
    """Whether every directory up to `path` lets others in, and `path` lets them read."""
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
        except OSError:
            return False
        if not mode & 0o001:
            return False
    return bool(path.stat().st_mode & 0o004)


def _interpreter() -> str | None:
    """An interpreter of this Python version that uid 65534 can run, or None."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    candidates = [sys.executable] + [f"{d}/{version}" for d in ("/usr/local/bin", "/usr/bin")]
    for candidate in candidates:
        real = Path(os.path.realpath(candidate))
        if real.exists() and _readable_by_others(real):
            return str(real)
    return None


def test_the_battery_holds_when_run_by_an_unprivileged_user() -> None:
    python = _interpreter()
    if python is None:
        pytest.skip(f"no python{sys.version_info.major}.{sys.version_info.minor} uid 65534 can run")
    site = sysconfig.get_paths()["purelib"]
    assert _readable_by_others(Path(site)) and _readable_by_others(REPO / "src"), (
        "the virtualenv and the repository must be readable by others for this test"
    )
    scratch = tempfile.mkdtemp(prefix="palaestra-unprivileged-")
    os.chown(scratch, NOBODY, NOBODY)
    try:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": scratch,
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "src"), site]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
        }
        done = subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", python,
             "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", f"{scratch}/tmp",
             "-o", "addopts=", "tests/sandbox/test_hostile.py", "tests/sandbox/test_workspace.py"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    summary = re.search(r"(\d+) passed", done.stdout)
    assert summary and int(summary.group(1)) >= 30, tail
    assert "skipped" not in done.stdout.splitlines()[-1], tail  # nothing left out as nobody
