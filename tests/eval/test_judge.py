"""Model-graded scoring: grade parsing, majority vote, the prompt, judge failures, and
the judges' calls recorded as events of a real run with scripted judge models."""

from __future__ import annotations

import asyncio

import pytest

from palaestra.core import ModelError, ScoreEvent, UserError
from palaestra.eval import EpisodeLog, Target, as_judge, majority, model_graded
from palaestra.eval._judge import DEFAULT_TEMPLATE, parse_grade
from palaestra.models import ScriptedModel
from palaestra.runtime import model_judge, run
from palaestra.store import Store

GRADES = {"C": 1.0, "P": 0.5, "I": 0.0}
PATTERN = r"GRADE\s*:\s*([A-Za-z]+)"


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> EpisodeLog:
    store = Store(tmp_path_factory.mktemp("judge") / "j.db")
    run({"jobs": [{"env": "tooluse.store", "params": {"num_tasks": 4}}]}, store=store, run_id="j")
    (row,) = store.episodes("j")
    found = EpisodeLog(store.events("j", row.episode_id))
    store.close()
    return found


def test_parse_grade_takes_the_last_known_grade() -> None:
    assert parse_grade("GRADE: I ... on reflection GRADE: C", PATTERN, GRADES) == "C"
    assert parse_grade("grade : p", PATTERN, GRADES) == "P"
    assert parse_grade("GRADE: X", PATTERN, GRADES) is None
    assert parse_grade("no verdict", PATTERN, GRADES) is None
    assert parse_grade("VERDICT=pass", r"VERDICT=(\w+)", {"pass": 1, "fail": 0}) == "pass"


def test_majority_ties_go_to_the_lowest_value() -> None:
    assert majority(["C", "C", "I"], GRADES) == "C"
    assert majority(["C", "I"], GRADES) == "I"
    assert majority(["C", "P", None, None], GRADES) == "P"
    assert majority([None, None], GRADES) is None


CRITERION = Target.of("the order is cancelled")


def _ask(scorer, log, target=CRITERION):
    return asyncio.run(scorer(log, target))


def test_prompt_holds_task_answer_and_criterion(log) -> None:
    prompts: list[str] = []

    def judge(prompt: str) -> str:
        prompts.append(prompt)
        return "Fine. GRADE: C"

    result = _ask(model_graded(as_judge(judge)), log)
    assert result.value == 1.0 and result.success
    assert result.metadata == {"grade": "C", "grades": {"judge": "C"}}
    (prompt,) = prompts
    assert f"[Task]: {log.first_prompt()}" in prompt
    assert f"[Submission]: {log.texts()[-1]}" in prompt
    assert "[Criterion]: the order is cancelled" in prompt and "GRADE: $LETTER" in prompt
    custom = model_graded(as_judge(judge), template="{env}/{task}: {answer}", criterion="x")
    _ask(custom, log)
    assert prompts[-1] == f"tooluse.store/{log.start.task}: {log.texts()[-1]}"  # type: ignore[union-attr]
    with pytest.raises(UserError, match=r"unknown field \{score\}"):
        model_graded(as_judge(judge), template="{score}")


def test_three_judges_vote(log) -> None:
    judges = {
        "a": as_judge(lambda p: "GRADE: C", name="m-a"),
        "b": as_judge(lambda p: "GRADE: I", name="m-b"),
        "c": as_judge(lambda p: "I think GRADE: C", name="m-c"),
    }
    result = _ask(model_graded(judges), log)
    assert result.value == 1.0 and result.success
    assert result.metrics == {"judge/a": 1.0, "judge/b": 0.0, "judge/c": 1.0}
    assert [c.agent for c in result.judge_calls] == ["judge/a", "judge/b", "judge/c"]
    partial = _ask(model_graded([as_judge(lambda p: "GRADE: P")] * 2), log)
    assert partial.value == 0.5 and not partial.success
    assert _ask(model_graded([as_judge(lambda p: "GRADE: P")], success_at=0.5), log).success


def test_no_grade_counts_as_incorrect_and_failures_are_errors(log) -> None:
    silent = _ask(model_graded(as_judge(lambda p: "I cannot decide")), log)
    assert silent.value == 0.0 and not silent.success and silent.error is None
    assert "no grade" in silent.explanation

    def down(prompt: str) -> str:
        raise ModelError("503 service unavailable")

    failed = _ask(model_graded(as_judge(down)), log)
    assert failed.error is not None and "503" in failed.error
    (call,) = failed.judge_calls
    assert call.reply is None and call.error is not None
    # one judge of two failing: the other decides
    mixed = _ask(model_graded([as_judge(down), as_judge(lambda p: "GRADE: C")]), log)
    assert mixed.success and mixed.error is None


def test_a_model_as_judge(log) -> None:
    model = ScriptedModel(["GRADE: C"], name="scripted-judge")
    result = _ask(model_graded(model_judge(model)), log)
    (call,) = result.judge_calls
    assert result.success and call.model == "scripted-judge"
    assert call.params == {"temperature": 0.0} and call.usage.input_tokens > 0


def test_judge_calls_are_recorded_in_a_run(tmp_path) -> None:
    experiment = {
        "models": {
            "lenient": {"spec": "scripted", "replies": ["GRADE: C"]},
            "strict": {
                "spec": "scripted",
                "replies": [{"when": "Thank you", "text": "GRADE: P"}, "GRADE: I"],
            },
        },
        "scorers": [
            {"use": "model_graded", "name": "solo", "model": "lenient"},
            {"use": "model_graded", "name": "panel", "model": ["lenient", "strict", "strict"]},
        ],
        "jobs": [{"env": "tooluse.store", "params": {"num_tasks": 4}, "tasks": 2}],
    }
    with Store(tmp_path / "j.db") as store:
        run(experiment, store=store, run_id="j", model="openai:not-used-by-judges")
        for row in store.episodes("j"):
            events = store.events("j", row.episode_id)
            judged = [e for e in events if e.agent.startswith("judge")]
            assert [(e.agent, e.kind) for e in judged] == [
                ("judge", "model_request"),
                ("judge", "model_response"),
                ("judge/1", "model_request"),
                ("judge/1", "model_response"),
                ("judge/2", "model_request"),
                ("judge/2", "model_response"),
                ("judge/3", "model_request"),
                ("judge/3", "model_response"),
            ]
            for request, response in zip(judged[::2], judged[1::2], strict=True):
                assert response.parent == request.seq
                assert request.payload.model.startswith("scripted[")  # type: ignore[union-attr]
            scores = {
                e.payload.scorer: e.payload for e in events if isinstance(e.payload, ScoreEvent)
            }
            assert scores["solo"].success
            panel = scores["panel"]
            assert panel.metadata["grades"]["judge/1"] == "C"
            assert panel.value == 0.5 and not panel.success  # P, P beat C
            # judge tokens are not the agents': the episode used none
            assert row.input_tokens == 0
    assert "{criterion}" in DEFAULT_TEMPLATE
