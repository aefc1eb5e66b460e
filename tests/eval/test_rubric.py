"""Hierarchical rubrics: weighted roll-up and gates checked by hand, leaf graders on real
tool-use logs, the YAML form and its errors, and examples/eval/rubric.yaml run for real."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from palaestra.core import ConfigError, ScoreEvent, UserError
from palaestra.eval import EpisodeLog, Rubric, RubricItem, Target, as_judge, rubric, scorer_rows
from palaestra.runtime import Experiment, run
from palaestra.store import Store

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "eval" / "rubric.yaml"


@pytest.fixture(scope="module")
def log(tmp_path_factory) -> EpisodeLog:
    """A real episode: the store domain's ground truth on a task with required outputs."""
    store = Store(tmp_path_factory.mktemp("rubric") / "r.db")
    run(
        {"jobs": [{"env": "tooluse.store", "params": {"num_tasks": 8}, "tasks": 8}]},
        store=store,
        run_id="r",
    )
    for row in store.episodes("r"):
        found = EpisodeLog(store.events("r", row.episode_id))
        if found.env_target.values and found.tool_calls():
            store.close()
            return found
    raise AssertionError("no store task with outputs and tool calls")


def _grade(spec: Rubric, log: EpisodeLog, target: Target | None = None, **kw):
    return asyncio.run(rubric(spec, **kw)(log, target if target is not None else log.env_target))


def _fixed(value: float):
    return lambda log, target: value


def test_weighted_mean_rolls_up_by_hand(log) -> None:
    spec = Rubric(
        items=[
            RubricItem(
                id="a",
                weight=3,
                items=[RubricItem(id="x", fn=_fixed(1.0)), RubricItem(id="y", fn=_fixed(0.5))],
            ),
            RubricItem(id="b", weight=1, fn=_fixed(0.0)),
        ],
        threshold=0.5,
    )
    result = _grade(spec, log)
    # a = (1 + 0.5) / 2 = 0.75; root = (3 * 0.75 + 1 * 0) / 4 = 0.5625
    assert result.metrics == {"a.x": 1.0, "a.y": 0.5, "a": 0.75, "b": 0.0}
    assert result.value == pytest.approx(0.5625) and result.success
    tree = result.metadata["tree"]
    assert [i["id"] for i in tree["items"]] == ["a", "b"]
    assert tree["items"][0]["items"][1]["value"] == 0.5


def test_gate_zeroes_the_parent(log) -> None:
    items = [
        RubricItem(id="must", gate=True, fn=_fixed(0.5)),
        RubricItem(id="nice", weight=9, fn=_fixed(1.0)),
    ]
    result = _grade(Rubric(items=items), log)
    assert result.value == 0.0 and "required item(s) not met: must" in result.explanation
    items[0] = RubricItem(id="must", gate=True, fn=_fixed(1.0))
    assert _grade(Rubric(items=items), log).value == 1.0


def test_leaf_graders_on_a_real_log(log) -> None:
    called = log.tool_calls()[0]
    wanted = log.env_target.values[0]
    spec = Rubric(
        answer="replies",
        items=[
            RubricItem(id="db", metric="db_match"),
            RubricItem(id="env", metric="success"),
            RubricItem(id="outputs", target="includes"),
            RubricItem(id="said", includes=[wanted, "zebra"]),
            RubricItem(id="pattern", regex=r"(?i)zebra"),
            RubricItem(id="tool", tool_called=called.name, arguments=called.arguments),
            RubricItem(id="other-args", tool_called=called.name, arguments={"x": "never"}),
        ],
    )
    result = _grade(spec, log)
    assert result.metrics == {
        "db": 1.0,
        "env": 1.0,
        "outputs": 1.0,
        "said": 0.5,
        "pattern": 0.0,
        "tool": 1.0,
        "other-args": 0.0,
    }
    assert result.value == pytest.approx(4.5 / 7) and not result.success
    with pytest.raises(UserError, match="no metric 'speed'; valid: value, success, db_match"):
        _grade(Rubric(items=[RubricItem(id="s", metric="speed")]), log)


def test_judge_leaves_need_a_judge_and_record_calls(log) -> None:
    spec = Rubric(items=[RubricItem(id="tone", judge="The agent is polite.")])
    with pytest.raises(UserError, match="has `judge` items"):
        rubric(spec)
    judge = as_judge(lambda prompt: "Polite enough. GRADE: P", name="fake")
    result = _grade(spec, log, judges=judge)
    assert result.value == 0.5 and result.metrics == {"tone": 0.5}
    (call,) = result.judge_calls
    assert call.agent == "judge" and call.model == "fake"
    assert "[Criterion]: The agent is polite." in (call.messages[0].content or "")


def test_item_validation() -> None:
    with pytest.raises(ValueError, match="exactly one grader"):
        RubricItem(id="leaf")
    with pytest.raises(ValueError, match="exactly one grader"):
        RubricItem(id="leaf", includes="a", regex="b")
    with pytest.raises(ValueError, match="`items` and a grader"):
        RubricItem(id="n", includes="a", items=[RubricItem(id="x", includes="b")])
    with pytest.raises(ValueError, match="two children are named 'x'"):
        RubricItem(id="n", items=[RubricItem(id="x", includes="a")] * 2)
    with pytest.raises(ValueError, match="bad regex"):
        RubricItem(id="r", regex="(")


def test_yaml_file_and_its_errors(tmp_path, log) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\nthreshold: 0.5\nitems:\n  - {id: db, metric: db_match, weight: 2}\n"
        "  - id: words\n    items:\n      - {id: zebra, includes: zebra}\n"
    )
    result = _grade(Rubric.from_yaml(path), log)
    assert result.value == pytest.approx(2 / 3) and result.success
    path.write_text("items:\n  - {id: db, metric: db_match, wieght: 2}\n")
    with pytest.raises(ConfigError, match=r"r\.yaml:2: items\.0\.wieght: Extra inputs"):
        Rubric.from_yaml(path)
    from palaestra.config import load_rubric_file

    with pytest.raises(ConfigError, match=r"r\.yaml:2: items\.0\.wieght: unknown field"):
        load_rubric_file(path)


def test_the_example_runs_and_separates_the_agents(tmp_path) -> None:
    experiment = Experiment.from_yaml(EXAMPLE)
    with Store(tmp_path / "ex.db") as store:
        run(experiment, store=store, run_id="ex")
        rows = {(r.job, r.scorer): r for r in scorer_rows(store, "ex")}
        good, curt = rows[("ground-truth", "rubric")], rows[("curt-clerk", "rubric")]
        assert good.n == curt.n == 4 and good.errors == curt.errors == 0
        assert good.mean > 0.8 and curt.mean < 0.3
        episode = store.episodes("ex")[0].episode_id
        events = store.events("ex", episode)
        judged = [e for e in events if e.agent == "judge"]
        assert [e.kind for e in judged] == ["model_request", "model_response"]
        assert judged[1].parent == judged[0].seq
        rubric_score = next(
            e.payload
            for e in events
            if isinstance(e.payload, ScoreEvent) and e.payload.scorer == "rubric"
        )
        assert set(rubric_score.metrics) == {
            "outcome",
            "outcome.database",
            "outcome.outputs",
            "reply",
            "reply.tone",
        }
