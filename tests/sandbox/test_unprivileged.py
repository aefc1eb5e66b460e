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
    pytest.mark.timeout(300),  # the whole hostile battery again, as uid 65534
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
    site = Path(sysconfig.get_paths()["purelib"])
    scratch = tempfile.mkdtemp(prefix="palaestra-unprivileged-")
    os.chown(scratch, NOBODY, NOBODY)
    # A checkout (or virtualenv) under a directory others cannot enter, such as /root,
    # is bind-mounted at a path they can reach, in a mount namespace of the test's own.
    binds: list[tuple[Path, Path]] = []
    repo = REPO
    if not (_readable_by_others(REPO / "src") and _readable_by_others(REPO / "tests")):
        repo = Path(scratch) / "repo"
        binds.append((REPO, repo))
    if not _readable_by_others(site):
        if site.is_relative_to(REPO) and binds:
            site = repo / site.relative_to(REPO)
        else:
            view = Path(scratch) / "site"
            binds.append((site, view))
            site = view
    mounts = ["true"]
    for source, target in binds:
        target.mkdir(mode=0o755)
        mounts.append(f"mount --bind '{source}' '{target}'")
    try:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": scratch,
            "PYTHONPATH": os.pathsep.join([str(repo), str(repo / "src"), str(site)]),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LANG": "C.UTF-8",
        }
        battery = [
            "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", python,
            "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", f"{scratch}/tmp",
            "-o", "addopts=", "tests/sandbox/test_hostile.py", "tests/sandbox/test_workspace.py",
        ]  # fmt: skip
        if binds:  # mount, enter the view, then drop to nobody (only root gets here)
            script = " && ".join([*mounts, f"cd '{repo}'", 'exec "$@"'])
            battery = ["unshare", "--mount", "--propagation", "private", "--",
                       "sh", "-c", script, "sh", *battery]  # fmt: skip
        done = subprocess.run(
            battery, cwd=REPO, env=env, capture_output=True, text=True, timeout=240
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    tail = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, tail
    summary = re.search(r"(\d+) passed", done.stdout)
    assert summary and int(summary.group(1)) >= 30, tail
    assert "skipped" not in done.stdout.splitlines()[-1], tail  # nothing left out as nobody
