"""`palaestra view` (cli/_view.py): serves the viewer of a store on a free port until
interrupted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from palaestra.cli import main
from tests.viewer.conftest import ViewerRuns


def test_view_serves_the_store_and_stops_on_ctrl_c(viewer_runs: ViewerRuns) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "palaestra", "view", "--store", str(viewer_runs.store),
         "--port", "0", "--no-open"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith(f"palaestra viewer of {viewer_runs.store} at http://127.0.0.1:")
        url = first.split(" at ")[1].split()[0]
        runs = httpx.get(url + "api/runs", timeout=10).json()
        assert {r["run_id"] for r in runs["items"]} == {
            viewer_runs.tooluse,
            viewer_runs.system,
            viewer_runs.errors,
        }
        assert "<title>palaestra viewer</title>" in httpx.get(url, timeout=10).text
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "viewer stopped" in err


def test_view_without_a_store_is_a_user_error(tmp_path: Path, capsys) -> None:
    assert main(["view", "--store", str(tmp_path / "none.db"), "--no-open"]) == 2
    assert "no event store at" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_view_on_a_busy_port_names_the_port(viewer_runs: ViewerRuns, capsys) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["view", "--store", str(viewer_runs.store), "--port", str(port), "--no-open"])
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
