"""`code.python`: registration, the episode protocol, model mistakes as observations,
the score, and the oracle baseline."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from palaestra.core import Action, Message, Observation, Operator, ToolCall, UserError
from palaestra.envs import Environment, Step, check_env, get_spec, make
from palaestra.envs.code import (
    AGENT,
    FAMILIES,
    TOOLS,
    CodeBaseline,
    CodeEnv,
    CodeParams,
    build_task,
)
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.runtime import (
    AgentContext,
    EpisodeRecorder,
    Experiment,
    Job,
    LLMOperatorConfig,
    arun,
)


def _env(**params: object) -> CodeEnv:
    env = make("code.python", **params)
    assert isinstance(env, CodeEnv) and isinstance(env, Environment)
    return env


def _call(name: str, call_id: str = "c1", **arguments: object) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)


async def _step(env: CodeEnv, *calls: ToolCall, text: str | None = None) -> Step:
    return await env.step({AGENT: Action(text=text, tool_calls=list(calls))})


def test_registered_with_params_and_baseline() -> None:
    spec = get_spec("code.python")
    assert spec.params is CodeParams and spec.baseline is not None
    defaults = {p["name"]: p["default"] for p in spec.describe_params()}
    assert defaults["num_tasks"] == 100 and defaults["max_turns"] == 10
    assert defaults["cpu_seconds"] == 2 and defaults["isolation"] == "bwrap"
    env = _env(num_tasks=30)
    assert len(env.tasks()) == 30 and env.agents == [AGENT]
    assert env.tasks()[:2] == ["prime_sum-000", "distinct_sorted-001"]
    with pytest.raises(UserError, match="num_tasks"):
        make("code.python", num_tasks=0)
    with pytest.raises(UserError, match="Valid parameters: num_tasks, task_seed"):
        make("code.python", timeout=3)
    with pytest.raises(UserError, match="isolation"):
        make("code.python", isolation="docker")


async def test_first_observation_states_the_task_and_the_tools() -> None:
    env = _env(num_tasks=5, max_turns=4, cpu_seconds=3)
    task = env.task("prime_sum-000")
    observation = (await env.reset(0, task.id))[AGENT]
    assert (
        [t.name for t in observation.tools] == ["run_python", "submit"] == [t.name for t in TOOLS]
    )
    system, user = observation.messages
    assert system.role == "system" and "3 s CPU" in (system.content or "")
    assert "You have 4 turns." in (system.content or "")
    assert user.role == "user" and user.content == task.prompt()
    assert observation.text == f"{system.content}\n\n{user.content}"
    assert "solve(10) == 5" in observation.text and task.reference not in observation.text
    assert observation.data == {
        "task_id": "prime_sum-000",
        "turn": 0,
        "source": "task",
        "family": "prime_sum",
        "signature": "def solve(n: int) -> int:",
        "examples": [{"args": [10], "expected": 5}, {"args": [30], "expected": 64}],
    }


async def test_run_python_answers_with_the_output_and_limits() -> None:
    env = _env(num_tasks=3, cpu_seconds=1)
    await env.reset(0, "prime_sum-000")
    step = await _step(
        env,
        _call("run_python", "a", code="print(sum(range(10)))"),
        _call("run_python", "b", code="while True:\n    pass"),
    )
    assert not (step.terminated or step.truncated) and step.rewards == {AGENT: 0.0}
    observation = step.observations[AGENT]
    assert observation.text.startswith("[run_python (a)]\nexit code: 0\nstdout:\n45\n\n")
    assert "[run_python (b)]\nexit code: none (killed by SIGXCPU)\nkilled: CPU time limit" in (
        observation.text
    )
    first, second = observation.data["tool_results"]
    assert (first["exit_code"], first["killed_by"], first["error"]) == (0, None, False)
    assert (second["exit_code"], second["killed_by"]) == (None, "cpu")
    assert [(m.role, m.tool_call_id) for m in observation.messages] == [
        ("tool", "a"),
        ("tool", "b"),
    ]
    assert step.info == {
        "source": "tool",
        "tool_calls": 2,
        "tool_errors": 0,
        "killed_by": ["cpu"],
        "submitted": False,
    }
    assert env.score().metrics == {
        "tests_passed": 0.0,
        "submitted": 0.0,
        "runs": 2.0,
        "failed_runs": 1.0,
    }


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            _call("run_bash", code="ls"),
            "unknown tool 'run_bash'; available tools: run_python, submit",
        ),
        (_call("run_python"), "run_python needs the argument 'code'"),
        (_call("submit", code=42), "submit: 'code' must be a string of Python source, got int"),
        (
            _call("run_python", code="1", timeout=3),
            "run_python takes only 'code'; unexpected: timeout",
        ),
        (
            ToolCall(id="c1", name="submit", arguments={"__raw__": "{code: x"}),
            "the arguments of submit were not valid JSON ('{code: x')",
        ),
    ],
    ids=["unknown-tool", "missing-code", "code-not-str", "extra-argument", "raw-json"],
)
async def test_malformed_calls_become_error_observations(call: ToolCall, message: str) -> None:
    env = _env(num_tasks=2)
    await env.reset(0, "prime_sum-000")
    step = await _step(env, call)
    assert not step.terminated and step.info["tool_errors"] == 1
    assert step.observations[AGENT].text.startswith(f"[{call.name} (c1)]\nError: {message}")
    assert step.observations[AGENT].data["tool_results"][0]["error"] is True
    assert env.score().metrics["runs"] == 0.0


async def test_text_only_action_is_an_error_and_turns_run_out() -> None:
    env = _env(num_tasks=2, max_turns=2)
    await env.reset(0, "prime_sum-000")
    first = await _step(env, text="def solve(n): ...")
    assert "Error: no tool was called" in first.observations[AGENT].text
    assert not first.truncated and first.info["tool_errors"] == 1
    second = await _step(env, _call("run_python", code="print(1)"))
    assert second.truncated and not second.terminated and second.rewards == {AGENT: 0.0}
    score = env.score()
    assert (score.value, score.success, score.explanation) == (
        0.0,
        False,
        "no submission: 0 hidden tests passed",
    )
    with pytest.raises(UserError, match="call reset"):
        await _step(env, _call("run_python", code="print(1)"))


async def test_submit_scores_the_fraction_of_hidden_tests_and_ends_the_episode() -> None:
    env = _env(num_tasks=2)
    task = env.task("prime_sum-000")
    await env.reset(0, task.id)
    partial = "def solve(n):\n    return sum(p for p in (5, 13, 17, 29) if p < n)\n"
    step = await _step(
        env, _call("submit", "s", code=partial), _call("run_python", "after", code="print(1)")
    )
    assert step.terminated and not step.truncated
    text = step.observations[AGENT].text
    assert text.startswith(
        "[submit (s)]\nSubmitted: 3/10 hidden tests passed.\nFirst failure: solve("
    )
    assert step.info["tool_calls"] == 1  # the call after submit did not run
    score = env.score()
    assert score.value == pytest.approx(0.3) and not score.success
    assert step.rewards == {AGENT: pytest.approx(0.3)}
    assert score.metrics["tests_passed"] == pytest.approx(0.3) and score.metrics["submitted"] == 1.0
    assert score.explanation.startswith("3/10 hidden tests passed; first failure: solve(")
    await env.reset(0, task.id)
    done = await _step(env, _call("submit", code=task.reference))
    assert done.rewards == {AGENT: 1.0} and env.score().success


async def test_unknown_task_and_misuse_are_user_errors() -> None:
    env = _env(num_tasks=3)
    with pytest.raises(UserError, match="valid tasks: prime_sum-000, distinct_sorted-001"):
        await env.reset(0, "prime_sum-999")
    with pytest.raises(UserError, match="call reset"):
        await _step(env, _call("run_python", code="1"))
    await env.reset(0)
    with pytest.raises(UserError, match="for 'agent'"):
        await env.step({"bob": Action()})


async def test_seed_picks_the_task_when_none_is_given() -> None:
    env = _env(num_tasks=4)
    for seed in range(6):
        observation = (await env.reset(seed))[AGENT]
        assert observation.data["task_id"] == env.tasks()[seed % 4]


async def test_check_env_passes_with_the_baseline() -> None:
    report = await check_env("code.python", params={"num_tasks": 3}, seed=1)
    assert report.task == "prime_sum-000" and report.steps == 2 and report.score.success


async def test_baseline_scores_one_on_a_task_of_every_family() -> None:
    spec = get_spec("code.python")
    params = spec.validate({"num_tasks": len(FAMILIES), "task_seed": 7})
    operator = spec.baseline(params, AGENT)
    assert isinstance(operator, CodeBaseline) and isinstance(operator, Operator)

    async def play(task_id: str) -> tuple[str, float, int]:
        env = spec.make(num_tasks=len(FAMILIES), task_seed=7)
        observation: Observation = (await env.reset(0, task_id))[AGENT]
        recorder = EpisodeRecorder(task_id, run_seed=0)
        for turn in range(10):
            ctx = AgentContext(recorder, AGENT, turn, 0)
            step = await env.step({AGENT: await operator.act(observation, ctx)})
            observation = step.observations[AGENT]
            if turn == 0:  # the example run printed the example's expected answer
                example = env.task(task_id).examples[0]  # type: ignore[attr-defined]
                assert f"stdout:\n{example.expected!r}" in observation.text
            if step.terminated or step.truncated:
                return task_id, env.score().value, turn + 1
        raise AssertionError("the baseline did not submit")

    env = spec.make(num_tasks=len(FAMILIES), task_seed=7)
    results = await asyncio.gather(*(play(t) for t in env.tasks()))
    assert [(t, v, n) for t, v, n in results if (v, n) != (1.0, 2)] == []


async def test_baseline_rejects_foreign_observations() -> None:
    spec = get_spec("code.python")
    operator = spec.baseline(spec.validate({"num_tasks": 2}), AGENT)
    with pytest.raises(UserError, match="needs observation.data\\['task_id'\\]"):
        ctx = AgentContext(EpisodeRecorder("e", run_seed=0), AGENT, 0, 0)
        await operator.act(Observation(data={"task_id": "nope-000"}), ctx)


async def test_an_llm_operator_drives_the_tools_through_the_runtime(tmp_path: Path) -> None:
    task = build_task(0, 0)
    seen: list[str] = []

    def reply(request: ModelRequest) -> Message:
        seen.append(request.messages[-1].content or "")
        if len(seen) == 1:
            call = ToolCall(id="r1", name="run_python", arguments={"code": "print(2 + 3)"})
        else:
            call = ToolCall(id="s1", name="submit", arguments={"code": task.reference})
        return Message(role="assistant", tool_calls=[call])

    experiment = Experiment(
        name="code-llm",
        jobs=[
            Job(
                env="code.python",
                params={"num_tasks": 1},
                operator=LLMOperatorConfig(model="default"),
            )
        ],
    )
    result = await arun(
        experiment, store=tmp_path / "runs.db", models={"default": ScriptedModel(fn=reply)}
    )
    assert result.errors == 0 and [e.outcome for e in result.episodes] == ["success"]
    assert seen[0] == task.prompt()  # the model read the task, then the tool's answer
    assert seen[1] == "exit code: 0\nstdout:\n5"
