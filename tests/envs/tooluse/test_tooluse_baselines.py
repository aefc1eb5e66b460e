"""The ground-truth operator scores 1 everywhere; one wrong argument or one missing output
scores 0; it reads nothing but its observations."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import palaestra.envs.tooluse as tooluse
from palaestra.core import Observation, Operator, UserError
from palaestra.envs import get_spec
from palaestra.envs.tooluse import ExpectedCall, GroundTruthOperator, Task
from palaestra.envs.tooluse.store import generate_database


@pytest.mark.parametrize("db_seed", [0, 3])
async def test_baseline_scores_one_on_every_task(run_episode, db_seed: int) -> None:
    spec = get_spec("tooluse.store")
    params = spec.validate({"db_seed": db_seed})
    operator = spec.baseline(params, "agent")
    assert isinstance(operator, Operator)
    env = spec.make(db_seed=db_seed)
    for task_id in env.tasks():
        transcript = await run_episode(env, operator, task_id, episode_id=task_id)
        assert transcript.terminated and not transcript.truncated
        assert transcript.score.value == 1.0, (task_id, transcript.score.explanation)
        assert transcript.rewards[-1] == 1.0
        assert len(transcript.actions) == len(env.task(task_id).actions) + 1


async def test_one_operator_serves_interleaved_episodes(run_episode) -> None:
    spec = get_spec("tooluse.store")
    operator = spec.baseline(spec.validate({}), "agent")
    envs = [spec.make(), spec.make()]
    transcripts = await asyncio.gather(
        run_episode(envs[0], operator, "cancel-000", episode_id="a"),
        run_episode(envs[1], operator, "return-002", episode_id="b"),
    )
    assert [t.score.value for t in transcripts] == [1.0, 1.0]


def _tampered(task: Task, **changes: object) -> Task:
    """`task` with some arguments of its last (consequential) call changed."""
    last = task.actions[-1]
    wrong = ExpectedCall(name=last.name, arguments={**last.arguments, **changes})
    return task.model_copy(update={"actions": [*task.actions[:-1], wrong]})


def _one_wrong_argument(task: Task, db_seed: int) -> Task | None:
    db = generate_database(db_seed)
    args = task.actions[-1].arguments
    if task.intent == "cancel":
        other = {"no longer needed": "ordered by mistake", "ordered by mistake": "no longer needed"}
        return _tampered(task, reason=other[args["reason"]])
    if task.intent == "modify_address":
        return _tampered(task, zip=f"{(int(args['zip']) + 1) % 100000:05d}")
    if task.intent == "return":
        order = db.orders[args["order_id"]]
        if len(order.items) > len(args["item_ids"]):
            return _tampered(task, item_ids=[item.item_id for item in order.items])
        if len(args["item_ids"]) > 1:
            return _tampered(task, item_ids=args["item_ids"][:-1])
        methods = db.users[order.user_id].payment_methods.values()
        allowed = [
            m.id
            for m in methods
            if m.id != args["payment_method_id"]
            and (m.source == "gift_card" or m.id == order.payment_method_id)
        ]
        return _tampered(task, payment_method_id=allowed[0]) if allowed else None
    raise AssertionError(task.intent)


@pytest.mark.parametrize("intent", ["cancel", "modify_address", "return"])
async def test_one_wrong_argument_scores_zero(run_episode, intent: str) -> None:
    spec = get_spec("tooluse.store")
    env = spec.make()
    tasks = [env.task(t) for t in env.tasks()]
    tried = 0
    for task in [t for t in tasks if t.intent == intent]:
        wrong = _one_wrong_argument(task, db_seed=0)
        if wrong is None:
            continue
        tried += 1
        operator = GroundTruthOperator([*[t for t in tasks if t.id != task.id], wrong])
        transcript = await run_episode(env, operator, task.id)
        results = [m.content for o in transcript.observations for m in o.messages]
        assert not any(r.startswith("Error") for r in results if r), "the wrong call must run"
        assert transcript.terminated
        assert transcript.score.value == 0.0
        assert transcript.score.metrics["db_match"] == 0.0
    assert tried >= 1


async def test_a_different_order_id_scores_zero(run_episode) -> None:
    env = get_spec("tooluse.store").make()
    first, second = [env.task(t) for t in env.tasks() if t.startswith("cancel")][:2]
    wrong = _tampered(first, order_id=second.actions[-1].arguments["order_id"])
    transcript = await run_episode(env, GroundTruthOperator([wrong]), first.id)
    assert transcript.score.metrics == {
        "db_match": 0.0,
        "outputs_found": 1.0,
        "transfer_match": 1.0,
    }


async def test_omitting_a_required_output_scores_zero(run_episode) -> None:
    env = get_spec("tooluse.store").make()
    for task in [env.task(t) for t in env.tasks() if t.startswith("lookup")]:
        partial = task.model_copy(update={"outputs": task.outputs[:1]})
        transcript = await run_episode(env, GroundTruthOperator([partial]), task.id)
        assert transcript.score.value == 0.0
        assert transcript.score.metrics == {
            "db_match": 1.0,
            "outputs_found": 0.5,
            "transfer_match": 1.0,
        }
        assert task.outputs[1] in transcript.score.explanation


async def test_baseline_needs_a_task_id() -> None:
    operator = GroundTruthOperator([])
    with pytest.raises(UserError, match="data\\['task_id'\\]"):
        await operator.act(Observation(text="hi"), ctx=None)  # type: ignore[arg-type]


def test_tooluse_never_imports_runtime_or_operators() -> None:
    root = Path(tooluse.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                assert not name.startswith(("palaestra.runtime", "palaestra.operators")), path
