"""`palaestra serve-env`, run as a real subprocess: it serves the env with the given
parameters on 127.0.0.1, stops cleanly on Ctrl-C, and refuses bad arguments clearly."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from palaestra.cli._main import main
from palaestra.cli._serve import DEFAULT_IDLE_TIMEOUT_S, DEFAULT_MAX_INSTANCES, parse_params
from palaestra.core import UserError
from palaestra.envs.remote import _server


def _palaestra(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "palaestra", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serves_with_params_and_stops_on_ctrl_c():
    proc = _palaestra(
        "serve-env",
        "graph.coloring",
        "--port",
        "0",
        "--param",
        "n=5",
        "--params",
        '{"family": "ba", "n": 9}',
        "--max-instances",
        "7",
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("serving graph.coloring at http://127.0.0.1:"), first
        url = first.rsplit(" at ", 1)[1].strip()
        assert f"url: {url}, env: graph.coloring" in proc.stdout.readline()
        health = httpx.get(url + "/").json()
        # --param wins over --params
        assert health["params"]["n"] == 5 and health["params"]["family"] == "ba"
        assert health["max_instances"] == 7
        created = httpx.post(url + "/create").json()
        assert len(created["agents"]) == 5
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "server stopped" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.env"], "unknown environment 'nope.env'"),
        (["graph.coloring", "--param", "n=2"], "n: Input should be greater than or equal to 4"),
        (["graph.coloring", "--param", "n"], "--param: expected KEY=VALUE, got 'n'"),
        (["graph.coloring", "--params", "[1]"], "--params: expected a JSON object"),
        (["graph.coloring", "--port", "70000"], "--port: expected 0..65535"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args, message, capsys):
    assert main(["serve-env", *args]) == 2
    assert message in capsys.readouterr().err


def test_parse_params_reads_json_values_else_strings():
    assert parse_params(["n=8", "family=ws", "rounds=null", "x=[1, 2]"], '{"n": 4, "y": true}') == {
        "n": 8,
        "y": True,
        "family": "ws",
        "rounds": None,
        "x": [1, 2],
    }
    with pytest.raises(UserError, match="--params: expected a JSON object"):
        parse_params([], "{nope")


def test_cli_defaults_match_the_server_defaults():
    assert DEFAULT_MAX_INSTANCES == _server.DEFAULT_MAX_INSTANCES
    assert DEFAULT_IDLE_TIMEOUT_S == _server.DEFAULT_IDLE_TIMEOUT_S
