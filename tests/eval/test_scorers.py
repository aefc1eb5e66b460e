"""Matching and programmatic scorers on real logs (tool-use and MAS runs), answer
sources, targets, scorer blocks in an experiment, and failures recorded, not fatal."""

from __future__ import annotations

import asyncio
import sys
import types

import pytest

from palaestra.core import ConfigError, ScoreEvent, UserError, episode_hash
from palaestra.eval import (
    EpisodeLog,
    ScoreResult,
    ScorerSpec,
    Target,
    exact,
    includes,
    numeric,
    parse_scorer_arg,
    programmatic,
    scorer_rows,
)
from palaestra.eval._match import extract_numbers
from palaestra.eval._scorer import answer_extractor
from palaestra.runtime import run
from palaestra.store import Store


def _run(tmp_path, experiment: dict, name: str = "r"):
    store = Store(tmp_path / f"{name}.db")
    result = run(experiment, store=store, run_id=name)
    return store, result


@pytest.fixture(scope="module")
def tooluse_logs(tmp_path_factory):
    """Real logs of the tool-use store domain played by its ground-truth baseline."""
    tmp = tmp_path_factory.mktemp("tooluse")
    store, _ = _run(
        tmp,
        {"jobs": [{"env": "tooluse.store", "params": {"num_tasks": 8}, "tasks": 8}]},
    )
    logs = [EpisodeLog(store.events("r", e.episode_id)) for e in store.episodes("r")]
    store.close()
    return logs


def _score(scorer, log, target):
    return asyncio.run(scorer(log, target))


def test_env_target_recorded_on_env_score(tooluse_logs) -> None:
    with_outputs = [log for log in tooluse_logs if log.env_target.values]
    assert with_outputs, "some store tasks require outputs"
    for log in tooluse_logs:
        score = log.env_score
        assert score is not None and score.scorer == "" and isinstance(score.target, list)
    # the baseline says every required output: `includes` over its replies agrees
    scorer = includes(answer="replies", all=True, ignore_commas=True)
    for log in with_outputs:
        result = _score(scorer, log, log.env_target)
        assert result.success and result.value == 1.0, result.explanation
        assert log.env_score is not None and log.env_score.metrics["outputs_found"] == 1.0


def test_includes_partial_credit_and_any(tooluse_logs) -> None:
    log = next(log for log in tooluse_logs if log.env_target.values)
    wanted = log.env_target.values[0]
    partial = _score(includes(answer="replies", all=True), log, Target.of([wanted, "zebra"]))
    assert partial.value == 0.5 and not partial.success and "zebra" in partial.explanation
    anyone = _score(includes(answer="replies"), log, Target.of(["zebra", wanted]))
    assert anyone.success and anyone.value == 1.0
    none = _score(includes(answer="replies"), log, Target.of(["zebra"]))
    assert none.value == 0.0 and not none.success


def test_exact_normalises_case_and_punctuation(tooluse_logs) -> None:
    log = tooluse_logs[0]
    final = log.texts()[-1]
    shouted = final.upper().replace(".", "!")
    assert _score(exact(), log, Target.of(shouted)).success
    assert not _score(exact(ignore_punctuation=False), log, Target.of(shouted)).success
    assert not _score(exact(), log, Target.of("something else")).success
    assert _score(exact(), log, Target.of(final)).answer == final


def test_no_target_and_no_answer_are_explained(tooluse_logs) -> None:
    log = tooluse_logs[0]
    result = _score(includes(), log, Target())
    assert result.value == 0.0 and "no target" in result.explanation
    silent = _score(includes(agent="nobody"), log, Target.of("x"))
    assert silent.answer is None and "no answer" in silent.explanation
    # a task that requires no outputs: every one of none is there
    assert _score(includes(all=True), log, Target.of([])).success


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("The total is $1,234.50 today", [1234.5]),
        ("-3 and +4.5e2 and 12%", [-3.0, 450.0, 12.0]),
        ("no digits here.", []),
        ("version 2. then .5", [2.0, 0.5]),
    ],
)
def test_extract_numbers(text, numbers) -> None:
    assert extract_numbers(text) == numbers


def test_numeric_on_a_mas_run_answer_tool(tmp_path) -> None:
    # mas.controlled's baseline answers through the `answer` tool: the number is the
    # `value` argument of its last call; the target is what the env recorded
    store, _ = _run(
        tmp_path,
        {
            "jobs": [
                {"env": "mas.controlled", "params": {"breadth": [1], "parallel": [1]}, "tasks": 1}
            ]
        },
    )
    (row,) = store.episodes("r")
    log = EpisodeLog(store.events("r", row.episode_id))
    target = log.env_target
    assert isinstance(target.data, dict) and list(target.data) == ["Q1"]
    right = _score(numeric(answer="tool:answer.value"), log, target)
    assert right.success and right.answer == str(target.data["Q1"])
    off = Target.of(target.data["Q1"] + 0.4)
    assert not _score(numeric(answer="tool:answer.value"), log, off).success
    assert _score(numeric(answer="tool:answer.value", tolerance=0.5), log, off).success
    assert _score(numeric(answer="tool:answer.value", rel_tolerance=0.5), log, off).success
    store.close()


def test_answer_sources_fail_clearly() -> None:
    with pytest.raises(UserError, match="valid choices: final, replies, tool:NAME"):
        answer_extractor("last_message")
    with pytest.raises(ValueError, match="which"):
        numeric(which="middle")


def test_programmatic_accepts_bool_number_result_and_async(tooluse_logs) -> None:
    log = tooluse_logs[0]

    async def steps(log: EpisodeLog, target: Target) -> float:
        return len(log.actions()) / 10

    assert _score(programmatic(lambda lg, t: True), log, Target()).success
    half = _score(programmatic(steps, threshold=0.3), log, Target())
    assert half.value == len(log.actions()) / 10 and half.success == (half.value >= 0.3)
    given = ScoreResult(0.25, False, explanation="mine")
    assert _score(programmatic(lambda lg, t: given), log, Target()) is given
    with pytest.raises(TypeError, match="expected a ScoreResult"):
        _score(programmatic(lambda lg, t: "yes"), log, Target())


def test_scorer_args_and_spec_errors() -> None:
    assert parse_scorer_arg("includes").use == "includes"
    assert parse_scorer_arg("python:pkg.mod:fn").label == "fn"
    assert parse_scorer_arg("r.yaml").options.file == "r.yaml"  # type: ignore[attr-defined]
    spec = parse_scorer_arg("{use: numeric, tolerance: 0.5, name: n}")
    assert (spec.label, spec.options.tolerance) == ("n", 0.5)  # type: ignore[attr-defined]
    graded = parse_scorer_arg("{use: model_graded}", default_model="openai:x")
    assert graded.options.model == "openai:x"  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="expected one of exact, includes"):
        parse_scorer_arg("fuzzy")
    with pytest.raises(UserError, match="`tolerance` is not an option of scorer 'includes'"):
        parse_scorer_arg("{use: includes, tolerance: 1}")
    with pytest.raises(UserError, match="needs `model:`"):
        parse_scorer_arg("{use: model_graded}")
    # only what was written is stored, so a stored experiment validates again
    assert ScorerSpec(use="includes", all=True).model_dump() == {"use": "includes", "all": True}


def _scoring_module() -> str:
    module = types.ModuleType("palaestra_test_scoring")

    def replies_count(log: EpisodeLog, target: Target) -> float:
        return min(1.0, len(log.texts()) / 2)

    def broken(log: EpisodeLog, target: Target) -> float:
        raise RuntimeError("scorer bug")

    module.replies_count = replies_count  # type: ignore[attr-defined]
    module.broken = broken  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    return module.__name__


def test_scorers_in_an_experiment_record_events(tmp_path) -> None:
    mod = _scoring_module()
    experiment = {
        "scorers": [
            {"use": "includes", "answer": "replies", "all": True, "ignore_commas": True},
            {"python": f"{mod}:replies_count"},
        ],
        "jobs": [
            {
                "env": "tooluse.store",
                "params": {"num_tasks": 4},
                "tasks": 2,
                "scorers": [
                    {"python": f"{mod}:broken"},
                    {"use": "exact", "name": "includes", "target": "nope"},  # replaces
                ],
            }
        ],
    }
    store, result = _run(tmp_path, experiment)
    assert all(r.outcome == "success" for r in result.episodes), "a failing scorer is not fatal"
    for row in store.episodes("r"):
        events = store.events("r", row.episode_id)
        assert events[-1].kind == "episode_end"
        scores = [e.payload for e in events if isinstance(e.payload, ScoreEvent)]
        assert [s.scorer for s in scores] == ["", "replies_count", "broken", "includes"]
        assert events[-2].payload == scores[-1]
        broken = scores[2]
        assert broken.error == "RuntimeError: scorer bug" and broken.value == 0.0
        assert scores[3].target == "nope" and not scores[3].success
        assert row.hash == episode_hash(events)
    rows = {(r.scorer): r for r in scorer_rows(store, "r")}
    assert rows["broken"].errors == 2 and rows["broken"].n == 0
    assert rows["env"].n == 2 and rows["env"].success_rate == 1.0
    assert rows["includes"].mean == 0.0
    store.close()


def test_experiment_scorer_errors_name_the_field(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "jobs:\n  - env: tooluse.store\n    scorers:\n      - {use: model_graded, model: nope}\n"
    )
    from palaestra.runtime import Experiment

    with pytest.raises(ConfigError, match=r"jobs\.0\.scorers\.0\.model.*'nope'"):
        Experiment.from_yaml(path)
    path.write_text("scorers:\n  - {use: includes}\n  - {use: includes}\njobs:\n  - env: x\n")
    with pytest.raises(ConfigError, match="two scorers are named 'includes'"):
        Experiment.from_yaml(path)
