"""Experiment files that parse but are wrong are refused at load, each with one line
naming the file, the line and the field (issue 17: accepted-but-wrong configs)."""

from __future__ import annotations

import pytest

from palaestra.core import ConfigError
from palaestra.runtime import Experiment

HEAD = "name: x\nseed: 0\njobs:\n  - env: graph.coloring\n    params: {n: 4}\n"


def _error(tmp_path, text: str) -> str:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    message = str(info.value)
    assert message.startswith(f"{path}:"), message
    return message.removeprefix(f"{path}:")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("    tasks: []\n", "6: jobs.0.tasks: an empty list runs nothing"),
        ("    tasks: [t1, t2, t1]\n", "6: jobs.0.tasks: task 't1' is listed twice"),
        ("    seeds: []\n", "6: jobs.0.seeds: an empty list runs nothing"),
        ("    seeds: [1, -5]\n", "6: jobs.0.seeds.1: a seed must be from 0 to 2**63-1, got -5"),
        ("    seeds: [3, 3]\n", "6: jobs.0.seeds: seed 3 is listed twice"),
        ("    seeds: 0\n", "6: jobs.0.seeds: seeds must be a count from 1 to 1,000,000"),
        ("    seeds: 2000000\n", "6: jobs.0.seeds: seeds must be a count from 1"),
        ("    seeds: 1000\n    epochs: 1001\n", "7: jobs.0.epochs: 1 tasks x 1,000 seeds x"),
        ("    epochs: 0\n", "6: jobs.0.epochs: Input should be greater than or equal to 1"),
        ("    max_steps: -1\n", "6: jobs.0.max_steps: Input should be greater than or equal"),
    ],
)
def test_job_counts(tmp_path, extra: str, expected: str) -> None:
    assert _error(tmp_path, HEAD + extra).startswith(expected)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("timeout_s: -1", "models.m.timeout_s: Input should be greater than 0"),
        ("timeout_s: 0", "models.m.timeout_s: Input should be greater than 0"),
        ("max_retries: -3", "models.m.max_retries: Input should be greater than or equal to 0"),
        ("temperature: -0.5", "models.m.temperature: Input should be greater than or equal to 0"),
        ('temperature: "nan"', "models.m.temperature: Input should be a finite number"),
        ("top_p: 1.5", "models.m.top_p: Input should be less than or equal to 1"),
        ("max_tokens: 0", "models.m.max_tokens: Input should be greater than or equal to 1"),
        (
            "max_connections: 0",
            "models.m.max_connections: Input should be greater than or equal to 1",
        ),
    ],
)
def test_model_numbers(tmp_path, model: str, expected: str) -> None:
    text = HEAD + f"models:\n  m:\n    spec: scripted\n    replies: [hi]\n    {model}\n"
    assert _error(tmp_path, text) == f"10: {expected}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            HEAD.replace("seed: 0", "seed: -1"),
            "2: seed: Input should be greater than or equal to 0",
        ),
        (HEAD.replace("seed: 0", "seed: 2**63"), "2: seed: Input should be a valid integer"),
        (HEAD.replace("seed: 0", "seed: 9223372036854775808"), "2: the integer 92233720"),
        (HEAD + 'limits: {max_wall_s: "inf"}\n', "6: limits.max_wall_s: Input should be a finite"),
        (HEAD + "limits: {max_wall_s: .nan}\n", "6: '.nan' is not a finite number"),
        (HEAD + "concurrency: {episodes: 0}\n", "6: concurrency.episodes: Input should be greater"),
    ],
)
def test_experiment_numbers(tmp_path, text: str, expected: str) -> None:
    assert _error(tmp_path, text).startswith(expected)


def test_seed_range_edges(tmp_path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(HEAD.replace("seed: 0", "seed: 9223372036854775807") + "    seeds: [0]\n")
    assert Experiment.from_yaml(path).seed == 2**63 - 1


def test_an_operator_factory_that_cannot_be_imported(tmp_path) -> None:
    text = HEAD + "    operator:\n      kind: python\n      factory: nosuch_pkg.mod:make\n"
    assert _error(tmp_path, text) == (
        "8: jobs.0.operator.factory: cannot import module 'nosuch_pkg.mod' (from "
        "'nosuch_pkg.mod:make'): No module named 'nosuch_pkg'"
    )
    text = HEAD + "    agents:\n      Michael: {kind: python, factory: 'os.path:nosuch'}\n"
    assert _error(tmp_path, text) == (
        "7: jobs.0.agents.Michael.factory: module 'os.path' has no attribute 'nosuch'"
    )
    text = HEAD + "    operator: {kind: llm, model: scripted, tools: [json:dumps, nosuch:f]}\n"
    assert _error(tmp_path, text).startswith(
        "6: jobs.0.operator.tools.1: cannot import module 'nosuch'"
    )


def test_an_importable_factory_loads(tmp_path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(
        HEAD + "    operator: {kind: python, factory: 'palaestra.operators:ScriptedOperator'}\n"
    )
    experiment = Experiment.from_yaml(path)
    assert experiment.jobs[0].operator.factory == "palaestra.operators:ScriptedOperator"


def test_scorer_blocks_are_checked_at_load(tmp_path) -> None:
    text = HEAD + "scorers:\n  - use: rubric\n    rubric: {items: [{id: a, wieght: 2}]}\n"
    assert _error(tmp_path, text).startswith("8: scorers.0.rubric.items.0")
    text = HEAD + "scorers:\n  - use: includes\n    answer: sideways\n"
    assert _error(tmp_path, text).startswith(
        "8: scorers.0.answer: unknown answer source 'sideways'; valid choices: final"
    )


def test_errors_found_when_planning_name_the_line(tmp_path) -> None:
    """An unknown environment, its parameters (also those a remote environment passes
    on), unknown task ids and agent names are known only when the run is planned."""
    import palaestra

    cases = [
        (HEAD.replace("graph.coloring", "graph.colouring"), "4: jobs.0.env: unknown environment"),
        (HEAD.replace("{n: 4}", "{n: 2}"), "5: jobs.0.params: invalid parameters for environment"),
        (
            HEAD.replace("graph.coloring", "remote.http").replace(
                "{n: 4}", "{env: graph.coloring, params: {n: 2}}"
            ),
            "5: jobs.0.params: invalid parameters for environment 'graph.coloring'",
        ),
        (HEAD + "    tasks: [nope]\n", "6: jobs.0.tasks: unknown task ids ['nope']"),
        (HEAD + "    agents:\n      Nobody: baseline\n", "7: jobs.0.agents.Nobody: environment"),
    ]
    path = tmp_path / "exp.yaml"
    for text, expected in cases:
        path.write_text(text)
        with pytest.raises(ConfigError) as info:
            palaestra.run(path, store=tmp_path / "runs.db")
        assert str(info.value).startswith(f"{path}:{expected}"), str(info.value)


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        # NaN compares false with every number: a limit of NaN would limit nothing
        (
            "governance:\n  agents:\n    agent:\n      arguments:\n        refund:\n"
            "          amount: {maximum: 'nan'}\n",
            "11: governance.agents.agent.arguments.refund.amount.maximum: Input should be a "
            "finite number",
        ),
        ("scorers: [{python: 'json:dumps', threshold: 'nan'}]\n", "6: scorers.0.threshold: "),
        ("faults: [{at: model, fault: error, probability: 'nan'}]\n", "6: faults.0.probability"),
    ],
)
def test_not_a_number_is_refused_in_every_block(tmp_path, block: str, expected: str) -> None:
    assert _error(tmp_path, HEAD + block).startswith(expected)
