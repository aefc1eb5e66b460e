"""Hostile and malformed config files and command lines (issue 17): each is one `error:`
line naming the file and line (or the flag) and the fix, exit status 2, never a
traceback; a bug of palaestra's own still raises. `palaestra.cli.main` runs in-process
on real files and a real store; hypothesis generates argv and config files."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palaestra.cli import main

GOOD = """\
name: hostile
seed: 0
jobs:
  - env: graph.coloring
    params: {n: 4}
    tasks: 1
"""


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A folder with a store holding one finished run `r1`, and a directory `adir`."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "good.yaml").write_text(GOOD)
    (root / "adir").mkdir()
    code = main(["run", str(root / "good.yaml"), "--store", str(root / "s.db"), "--quiet",
                 "--run-id", "r1"])  # fmt: skip
    assert code == 0
    return root


def _call(argv: list[str], capsys) -> tuple[int, str]:
    """Exit status and stderr of one in-process command (argparse's exit included)."""
    capsys.readouterr()
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: a usage line, then "palaestra X: error: ..."
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def _one_error(err: str) -> str:
    """The `error:` line of stderr (argparse's own errors follow its usage line)."""
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "no message"
    if lines[0].startswith("usage:"):
        assert re.match(r"palaestra[\w -]*: error: ", lines[-1]), err
        return lines[-1]
    assert lines[0].startswith("error: "), err
    return lines[0]


def _run_file(home: Path, name: str, content: str | bytes, capsys) -> tuple[int, str, Path]:
    path = home / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    code, err = _call(["run", str(path), "--store", str(home / "s.db"), "--quiet"], capsys)
    return code, err, path


_BOMB = "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9) if i else ', '.join(['x'] * 9)}]\n"
    for i in range(9)
)

CONFIGS = {
    # (file content, line the error names)
    "alias-bomb": (GOOD + _BOMB, 12),
    "nesting-1000": (GOOD + "x: " + "[" * 1000 + "]" * 1000 + "\n", 7),
    "python-tag": (GOOD + "x: !!python/object/apply:os.system [id]\n", 7),
    "custom-tag": (GOOD.replace("name: hostile", "name: !secret hostile"), 1),
    "list-key": (GOOD + "? [a, b]\n: 1\n", 7),
    "duplicate-key": (GOOD + "seed: 1\n", 7),
    "lone-surrogate": (GOOD + 'x: "\\udc80"\n', 7),
    "not-utf8": (GOOD.encode() + b"x: caf\xe9\n", 7),
    "seed-2^63": (GOOD.replace("seed: 0", "seed: 9223372036854775808"), 2),
    "seed-negative": (GOOD.replace("seed: 0", "seed: -1"), 2),
    "seeds-2^63": (GOOD + "    seeds: [9223372036854775808]\n", 7),
    "tasks-empty": (GOOD.replace("tasks: 1", "tasks: []"), 6),
    "factory": (GOOD + "    operator: {kind: python, factory: 'no_such_pkg:make'}\n", 7),
    "agent-name": (GOOD + "    agents: {Nobody: baseline}\n", 7),
    "timeout": (GOOD + "models:\n  m: {spec: scripted, replies: [hi], timeout_s: -1}\n", 8),
    "retries": (GOOD + "models:\n  m: {spec: scripted, replies: [hi], max_retries: -1}\n", 8),
    "env-params": (GOOD.replace("{n: 4}", "{n: -4}"), 5),
    "env-id": (GOOD.replace("graph.coloring", "graph.colouring"), 4),
    "nan": (GOOD + "limits: {max_wall_s: .nan}\n", 7),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_config_errors_name_the_file_and_line(home, capsys, case: str) -> None:
    content, line = CONFIGS[case]
    code, err, path = _run_file(home, f"{case}.yaml", content, capsys)
    assert code == 2, err
    assert _one_error(err).startswith(f"error: {path}:{line}: "), err
    assert "Traceback" not in err


def test_size_limit_and_how_to_raise_it(home, capsys, monkeypatch) -> None:
    path = home / "comments.yaml"
    with path.open("wb") as handle:
        handle.write(GOOD.encode() + b"# padding\n")
        handle.truncate(50 * 2**20)
    code, err = _call(["run", str(path), "--store", str(home / "s.db")], capsys)
    assert code == 2
    assert _one_error(err).startswith(f"error: {path}: 52,428,800 bytes, over the limit")
    assert "PALAESTRA_CONFIG_MAX_BYTES=" in err
    path.write_text(GOOD + "# " + "x" * 200 + "\n")
    monkeypatch.setenv("PALAESTRA_CONFIG_MAX_BYTES", "100")
    code, err = _call(["run", str(path), "--store", str(home / "s.db")], capsys)
    assert code == 2 and "over the limit of 100 (PALAESTRA_CONFIG_MAX_BYTES)" in err


def test_a_directory_where_a_file_is_expected(home, capsys) -> None:
    folder, store = str(home / "adir"), str(home / "s.db")
    good = str(home / "good.yaml")
    commands = [
        ["run", folder, "--store", store],
        ["run", good, "--faults", folder, "--store", store],
        ["check", "r1", "--contracts", folder, "--store", store],
        ["import", folder, "--store", store],
        ["export", "r1", "-o", folder, "--store", store],
        ["train", folder, "--store", store],
        ["score", "r1", "--scorer", "includes", "--labels", folder, "--calibrate", "includes",
         "--store", store],
        ["shapley", folder, "--store", store],
    ]  # fmt: skip
    for argv in commands:
        code, err = _call(argv, capsys)
        assert code == 2, (argv, err)
        line = _one_error(err)
        assert folder in line and "director" in line, (argv, line)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "r1", "--scorer", "includes", "--concurrency", "0"], "--concurrency 0: "),
        (["show", "r1", "x", "--context", "-1"], "--context -1: expected a whole number"),
        (["show", "r1", "x", "--at", "-2"], "--at -2: expected a whole number of at least 0"),
        (["stress", "G", "--budget", "0"], "--budget 0: expected a whole number of at least 1"),
        (["stress", "G", "--budget", "1", "--seed", "-1"], "--seed -1: expected a whole number"),
        (["shapley", "G", "--samples", "0"], "--samples 0: expected a whole number"),
        (["train", "G", "--steps", "0"], "--steps 0: expected a whole number of at least 1"),
        (["compare", "G", "--systems", "a", "--budget-tokens", "-5"], "--budget-tokens -5: "),
        (["run", "G", "--model", ""], "--model '': give a model spec"),
        (["run", "G", "--model", "gpt4:mini"], "--model 'gpt4:mini': unknown model spec"),
        (["run", "G", "--model", "openai:"], "--model 'openai:': name the model after openai:"),
        (["run", "G", "--base-url", "localhost:8000"], "--base-url 'localhost:8000': expected"),
        (["run", "G", "--run-id", ""], "--run-id '': give a non-empty run id"),
        (["run", "G", "--run-id", "a\nb"], "--run-id 'a\\nb': a run id cannot hold control"),
        (["run", "G", "--run-id", "r" * 201], "a run id has at most 200 characters"),
        (["serve-env", "graph.coloring", "--idle-timeout", "nan"], "--idle-timeout nan: "),
    ],
)
def test_flags_are_checked_before_any_work(home, capsys, argv, message) -> None:
    argv = [str(home / "good.yaml") if a == "G" else a for a in argv]
    store = [] if argv[0] == "serve-env" else ["--store", str(home / "s.db")]
    code, err = _call([*argv, *store], capsys)
    assert code == 2
    line = _one_error(err)
    assert line.startswith(f"error: {message}") or message in line, err


def test_concurrency_zero_is_refused_by_every_command(home, capsys) -> None:
    good, store = str(home / "good.yaml"), str(home / "s.db")
    for argv in (["run", good], ["eval", good], ["compare", good, "--systems", "a"],
                 ["shapley", good]):  # fmt: skip
        code, err = _call([*argv, "--concurrency", "0", "--store", store], capsys)
        assert code == 2 and "--concurrency" in _one_error(err), (argv, err)


@pytest.mark.parametrize("arg", ["r\udcff1", "r\x001"])
def test_arguments_that_are_not_text(home, capsys, arg: str) -> None:
    code, err = _call(["show", arg, "--store", str(home / "s.db")], capsys)
    assert code == 2
    assert _one_error(err).startswith("error: argument 2 (") and "not valid UTF-8 text" in err


def test_os_errors_on_the_users_paths_are_user_errors(home, capsys) -> None:
    store = home / "good.yaml" / "s.db"  # a file where a directory must be
    code, err = _call(["run", str(home / "good.yaml"), "--store", str(store)], capsys)
    assert code == 2
    assert _one_error(err) == (
        f"error: {home / 'good.yaml'}: File exists; a part of the path is a file, not a "
        "directory; choose another path"
    )


def test_an_os_error_elsewhere_is_a_bug_and_raises(home, capsys, monkeypatch) -> None:
    import palaestra.cli._main as cli_main

    def broken(args):
        raise PermissionError(13, "Permission denied", "/nonexistent/palaestra-internal")

    monkeypatch.setattr(cli_main, "_cmd_run", broken)
    with pytest.raises(PermissionError):
        main(["run", str(home / "good.yaml"), "--store", str(home / "s.db")])


def test_train_without_torch_says_how_to_install_it(capsys, monkeypatch) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "train" / "arith.yaml"
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    code, err = _call(["train", str(example), "--store", os.devnull + ".db"], capsys)
    assert code == 2
    assert _one_error(err).startswith("error: palaestra train needs PyTorch")
    assert "pip install 'palaestra[train]'" in err


def test_a_labels_file_nested_too_deeply(home, capsys) -> None:
    labels = home / "labels.jsonl"
    labels.write_text('{"episode_id": "x", "label": true}\n' + "[" * 100_000 + "\n")
    argv = ["score", "r1", "--scorer", "includes", "--labels", str(labels)]
    code, err = _call([*argv, "--calibrate", "includes", "--store", str(home / "s.db")], capsys)
    assert code == 2 and _one_error(err).startswith(f"error: {labels}:2: nested too deeply")


def test_json_nested_too_deeply_on_import_and_serve_env(home, capsys) -> None:
    deep = home / "deep.jsonl"
    deep.write_text("[" * 100_000 + "\n")
    code, err = _call(["import", str(deep), "--store", str(home / "s.db")], capsys)
    assert code == 2 and _one_error(err).startswith(f"error: {deep}:1: nested too deeply")
    for flag, value in (("--params", "[" * 100_000), ("--param", "n=" + "[" * 100_000)):
        code, err = _call(["serve-env", "graph.coloring", flag, value], capsys)
        assert code == 2 and _one_error(err).startswith(f"error: {flag}"), err


def test_an_invalid_shapley_variant_is_one_line(home, capsys) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "eval" / "shapley.yaml"
    text = example.read_text()
    patched = "      test: {jobs.0.operator.members.a.model: right}"
    assert patched in text
    path = home / "shapley.yaml"
    path.write_text(text.replace(patched, "      test: {jobs.0.seeds: [-1]}"))
    code, err = _call(["shapley", str(path), "--store", str(home / "s.db")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    line = _one_error(err)
    assert line.startswith(f"error: {path}:") and "shapley.modules: a variant" in line
    assert "a seed must be from 0 to 2**63-1, got -1" in line


def test_an_invalid_comparison_is_one_line() -> None:
    from palaestra.core import UserError
    from palaestra.runtime import Experiment
    from palaestra.studies import comparison_experiment

    example = Path(__file__).resolve().parents[2] / "examples" / "systems" / "compare.yaml"
    experiment = Experiment.from_yaml(example)
    experiment.jobs[0].label = "a/b"  # set after validation, as Python code may
    with pytest.raises(UserError) as info:
        comparison_experiment(experiment, ["solo", "vote"], None)
    assert str(info.value) == (
        "--systems solo,vote: the comparison is invalid: job 'a/b@solo'.label: must not contain '/'"
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"step": 1}\n{"loss": 2}\n', ":2: not a curve record"),
        (b'{"step": 1, "reward_mean": "high"}\n', ":1: not a curve record"),
        (b"\xff\xfe\n", ": not UTF-8 text"),
    ],
)
def test_a_curve_file_that_is_not_one(home, capsys, content: bytes, expected: str) -> None:
    curve = home / "curve.jsonl"
    curve.write_bytes(content)
    argv = ["report", "r1", "--curve", str(curve), "-o", str(home / "r.html")]
    code, err = _call([*argv, "--store", str(home / "s.db")], capsys)
    assert code == 2 and _one_error(err).startswith(f"error: {curve}{expected}"), err


# -- fuzzing --------------------------------------------------------------------------

_HOSTILE_VALUES = [
    -1, 0, 2**63 - 1, 2**63, -(2**63) - 1, 10**40, 1.5, -0.0, "nan", "-inf", "", "x" * 5000,
    None, True, [], {}, [[[[1]]]], {"a": {"b": None}}, "\u202e\x1b[2J", "a/b", "nosuch:thing",
    "local", {"kind": "python", "factory": "no_such_pkg:x"}, {"kind": "human"}, ["t", "t"],
    [-3], {"kind": "llm", "model": "nowhere"}, "all",
]  # fmt: skip
_FIELDS = [
    ("name",), ("seed",), ("concurrency",), ("concurrency", "episodes"),
    ("limits", "max_steps"), ("limits", "max_tokens"), ("limits", "max_wall_s"), ("jobs",),
    ("jobs", 0), ("jobs", 0, "env"), ("jobs", 0, "params"), ("jobs", 0, "params", "n"),
    ("jobs", 0, "tasks"), ("jobs", 0, "seeds"), ("jobs", 0, "epochs"), ("jobs", 0, "label"),
    ("jobs", 0, "max_steps"), ("jobs", 0, "operator"), ("jobs", 0, "agents"),
    ("models",), ("models", "m"), ("models", "m", "timeout_s"), ("models", "m", "max_retries"),
    ("models", "m", "temperature"), ("faults",), ("governance",), ("contracts",),
    ("scorers",), ("systems",), ("train",),
]  # fmt: skip
_SNIPPETS = [
    "x: !!python/name:os.system\n", "? [1]\n: 2\n", "name: again\n", "x: \"\\ud800\"\n",
    "x: &a [*a]\n", "\tx: 1\n", "x: \x07\n", "%TAG ! tag:evil,2000:\n---\n", "x: 0o777777\n",
    "x: 1:30:00\n", "x: 2038-01-19T03:14:08Z\n", "<<: [1]\n", "x: |\n  a\n b\n", "...\n",
]  # fmt: skip
_RUN_IDS = itertools.count()


def _base() -> dict:
    data = yaml.safe_load(GOOD)
    data["models"] = {"m": {"spec": "scripted", "replies": ["hi"]}}
    return data


def _set(data: dict, path: tuple, value) -> dict:
    node = data
    for part in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(part, {})
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return data
        if not isinstance(node, dict | list):
            return data
    if isinstance(node, dict):
        node[path[-1]] = value
    elif isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        node[path[-1]] = value
    return data


@st.composite
def _configs(draw) -> bytes:
    data = _base()
    for _ in range(draw(st.integers(1, 3))):
        data = _set(data, draw(st.sampled_from(_FIELDS)), draw(st.sampled_from(_HOSTILE_VALUES)))
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    if draw(st.booleans()):
        lines = text.splitlines(keepends=True)
        at = draw(st.integers(0, len(lines)))
        text = "".join([*lines[:at], draw(st.sampled_from(_SNIPPETS)), *lines[at:]])
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 9)) == 0:
        raw = raw.replace(b"hostile", b"host\xffile")
    return raw


def _check_outcome(code: int, err: str) -> None:
    assert "Traceback" not in err
    assert code in (0, 1, 2), (code, err)
    if code == 2:
        _one_error(err)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(_configs(), st.sampled_from(["experiment", "--faults", "--contracts"]))
def test_fuzzed_config_files(home, capsys, config: bytes, role: str) -> None:
    """The same files as an experiment, a fault plan and a contracts file."""
    path = home / "fuzz.yaml"
    path.write_bytes(config)
    store = ["--store", str(home / "s.db")]
    if role == "experiment":
        argv = ["run", str(path), "--quiet", "--run-id", f"fuzz-{next(_RUN_IDS)}", *store]
    elif role == "--faults":
        argv = ["run", str(home / "good.yaml"), "--faults", str(path), "--quiet", *store]
    else:
        argv = ["check", "r1", "--contracts", str(path), *store]
    code, err = _call(argv, capsys)
    _check_outcome(code, err)
    if code == 2:  # the file was at fault: its path (and mostly a line) is named
        assert _one_error(err).startswith(f"error: {path}"), err
    if code == 2:
        line = _one_error(err)
        assert line.startswith(f"error: {path}") or line.startswith("error: --"), line


_ARG_VALUES = st.sampled_from(
    ["0", "-1", "1", "9223372036854775808", "99999999999999999999999", "1e3", "nan", "",
     "last", "r1", "x\udcff", "a\x00b", "\x1b]0;t\x07", "sub/../x", "ADIR",
     "GOOD", "MISSING", "openai:", "x:y", "http://", "{use: !!python/name:os.system x}",
     "{a: " + "[" * 200 + "}", "[" * 50_000]
)  # fmt: skip
_COMMANDS = {
    "run": ["--run-id", "--model", "--base-url", "--concurrency", "--faults"],
    "show": ["--at", "--context", "--violation"],
    "check": ["--contracts", "--episode"],
    "export": ["--format", "-o", "--agent"],
    "import": ["--format", "--run-id"],
    "replay": [],
    "score": ["--scorer", "--labels", "--calibrate", "--concurrency", "--run-id", "--model"],
    "report": ["-o"],
    "diagnose": [],
    "stress": ["--budget", "--seed", "--contracts", "--out"],
    "shapley": ["--samples", "--concurrency", "--run-id"],
    "compare": ["--systems", "--budget-tokens", "--concurrency"],
    "train": ["--steps", "--checkpoint-dir"],
}
_POSITIONAL = {"run": 1, "show": 2, "check": 1, "export": 1, "import": 1, "replay": 1,
               "score": 1, "report": 1, "diagnose": 1, "stress": 1, "shapley": 1,
               "compare": 1, "train": 1}  # fmt: skip


@st.composite
def _argvs(draw) -> list[str]:
    command = draw(st.sampled_from(sorted(_COMMANDS)))
    argv = [command]
    argv += [draw(_ARG_VALUES) for _ in range(draw(st.integers(0, _POSITIONAL[command])))]
    flags = _COMMANDS[command]
    for _ in range(draw(st.integers(0, 3)) if flags else 0):
        argv += [draw(st.sampled_from(flags)), draw(_ARG_VALUES)]
    if command == "stress" and "--budget" not in argv:
        argv += ["--budget", "1"]
    if command == "compare" and "--systems" not in argv:
        argv += ["--systems", "a"]
    return argv


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(_argvs())
def test_fuzzed_command_lines(home, capsys, argv: list[str]) -> None:
    names = {"ADIR": home / "adir", "GOOD": home / "good.yaml", "MISSING": home / "missing"}
    argv = [str(names[a]) if a in names else a for a in argv]
    with contextlib.chdir(home):  # relative outputs (-o r1, --out x) land in the fixture
        code, err = _call([*argv, "--store", str(home / "s.db")], capsys)
    _check_outcome(code, err)


def test_a_steps_override_that_breaks_the_train_config(home, capsys) -> None:
    """Found by the command-line fuzzer: `--steps 2**63` made the training seeds run into
    the held-out ones and the config's ValueError came out as a traceback."""
    pytest.importorskip("torch")
    code, err = _call(["train", str(home / "good.yaml"), "--steps", str(2**63)], capsys)
    assert code == 2, err
    line = _one_error(err)
    assert "--steps" in line and "eval_seeds overlap the training seeds" in line, line
