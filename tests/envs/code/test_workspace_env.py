"""`code.workspace`: a coding task in a persistent workspace worked on with the workspace
tools, graded on the solution.py left there; played by its baseline (`check_env`), by
hand (hostile moves included) and by an LLM operator through the runtime."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from palaestra.core import Action, Message, ToolCall, UserError, WorkspaceManifest
from palaestra.envs import check_env, make
from palaestra.envs.code import AGENT, WorkspaceEnv, build_task
from palaestra.models import ModelRequest, ScriptedModel
from palaestra.runtime import Experiment, Job, LLMOperatorConfig, arun
from palaestra.sandbox import TOOL_NAMES
from palaestra.store import Store
from tests.envs.code.conftest import NO_BWRAP

pytestmark = pytest.mark.skipif(NO_BWRAP is not None, reason=f"no sandbox: {NO_BWRAP}")


def _env(**params: object) -> WorkspaceEnv:
    env = make("code.workspace", num_tasks=2, **params)
    assert isinstance(env, WorkspaceEnv)
    return env


def _call(name: str, call_id: str = "c", **arguments: object) -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)


def _manifest(env: WorkspaceEnv) -> WorkspaceManifest:
    """The one manifest the episode's end queued for the log."""
    (manifest,) = [e for e in env.drain_events() if isinstance(e, WorkspaceManifest)]
    return manifest


async def test_the_baseline_solves_tasks_with_the_tools() -> None:
    for task in ("prime_sum-000", "distinct_sorted-001"):
        report = await check_env("code.workspace", task=task, params={"num_tasks": 2})
        assert report.score.success and report.steps == 3, report
        assert report.score.metrics["tool_errors"] == 0.0
    few = {"num_tasks": 1, "tools": ["write_file"]}  # only write_file: it adapts
    report = await check_env("code.workspace", params=few)
    assert report.score.success and report.score.metrics["tool_calls"] == 3.0


async def test_an_episode_is_graded_on_the_file_left_in_the_workspace() -> None:
    env = _env()
    task = env.task("prime_sum-000")
    observations = await env.reset(0, task.id)
    first = observations[AGENT]
    assert [spec.name for spec in first.tools] == [*TOOL_NAMES, "submit"]
    assert first.data["files"] == ["TASK.md", "solution.py", "test_solution.py"]
    assert task.statement in first.text
    heredoc = f"cat > solution.py <<'EOF'\n{task.reference}EOF\ncat TASK.md | head -1"
    step = await env.step({AGENT: Action(tool_calls=[_call("shell", "s", command=heredoc)])})
    assert (
        step.observations[AGENT].messages[0].content == f"exit code: 0\nstdout:\n# Task {task.id}"
    )
    tested = await env.step({AGENT: Action(tool_calls=[_call("run_tests", "t")])})
    assert (
        tested.observations[AGENT]
        .messages[0]
        .content.startswith(
            "tests: 2 passed, 0 failed, 0 error, 0 skipped (2 in all); pytest exit code: 0"
        )
    )
    workspace = env.episode.workspace
    assert workspace is not None and workspace.started
    last = await env.step({AGENT: Action(tool_calls=[_call("submit", "x"), _call("list_files")])})
    assert last.terminated and env.score().success and env.score().value == 1.0
    assert last.observations[AGENT].data["tool_results"] == [
        {
            "id": "x",
            "name": "submit",
            "error": False,
            "content": "Submitted: 10/10 hidden tests passed.",
        }
    ]  # the call after submit did not run
    assert "workspace" not in last.info
    files = {f.path: f for f in _manifest(env).files}
    assert sorted(files) == ["TASK.md", "solution.py", "test_solution.py"]
    digest = hashlib.sha256(task.reference.encode()).hexdigest()
    assert files["solution.py"].sha256 == digest
    assert not workspace.started and env.episode.workspace is None
    await env.end_episode()  # the runtime's call after the last step: nothing more
    assert env.drain_events() == []
    await env.aclose()


async def test_hostile_moves_score_nothing_and_leak_nothing() -> None:
    env = _env()
    task = env.task("prime_sum-000")
    await env.reset(0, task.id)
    plant = "rm solution.py && ln -s /etc/shadow solution.py && ls -l solution.py | cut -c1"
    planted = await env.step({AGENT: Action(tool_calls=[_call("shell", command=plant)])})
    assert planted.observations[AGENT].messages[0].content == "exit code: 0\nstdout:\nl"
    read = await env.step({AGENT: Action(tool_calls=[_call("read_file", path="solution.py")])})
    assert "symbolic link" in read.observations[AGENT].messages[0].content
    last = await env.step({AGENT: Action(tool_calls=[_call("submit")])})
    text = last.observations[AGENT].text
    assert "solution.py could not be read: solution.py is a symbolic link" in text
    assert "root:" not in text and env.score().value == 0.0
    assert _manifest(env).files[1].kind == "symlink"

    # tests the agent rewrote to pass do not grade: the hidden tests do
    await env.reset(0, task.id)
    wrong = task.reference.replace("return", "return 1 + ", 1)
    rewrite = [
        _call("write_file", "w", path="solution.py", content=wrong),
        _call("write_file", "t", path="test_solution.py", content="def test_ok():\n    pass\n"),
        _call("run_tests", "r"),
        _call("submit", "s"),
    ]
    step = await env.step({AGENT: Action(tool_calls=rewrite)})
    results = step.observations[AGENT].data["tool_results"]
    assert results[2]["content"].startswith("tests: 1 passed")
    assert env.score().value < 1.0 and not env.score().success
    await env.aclose()


async def test_mistakes_are_answered_and_turns_run_out() -> None:
    env = _env(max_turns=2)
    await env.reset(0, None)
    idle = await env.step({AGENT: Action(text="I think it is done")})
    assert idle.observations[AGENT].text.startswith("Error: no tool was called")
    calls = [_call("rm_rf", "u"), _call("read_file", "m", path="../etc/passwd")]
    calls += [_call("list_files", f"l{i}") for i in range(20)]
    step = await env.step({AGENT: Action(tool_calls=calls)})
    results = step.observations[AGENT].data["tool_results"]
    assert (
        results[0]["error"]
        and "unknown tool 'rm_rf'; available tools: read_file" in (results[0]["content"])
    )
    assert results[1]["error"] and "'..' is not allowed" in results[1]["content"]
    assert [r["error"] for r in results[2:]] == [False] * 18 + [True] * 2
    assert "at most 20 tool calls" in results[-1]["content"]
    assert step.truncated and not step.terminated and env.score().value == 0.0
    assert _manifest(env).total_files == 3
    assert env.score().metrics["tool_errors"] == 5.0
    with pytest.raises(UserError, match="call reset"):
        await env.step({AGENT: Action(tool_calls=[_call("list_files")])})
    with pytest.raises(UserError, match="tools must be distinct names"):
        make("code.workspace", tools=["read_file", "sudo"])


async def test_an_llm_operator_works_in_the_workspace_through_the_runtime(tmp_path: Path) -> None:
    task = build_task(0, 0)
    seen: list[ModelRequest] = []
    script = [
        [_call("read_file", "r1", path="TASK.md")],
        [_call("write_file", "w1", path="solution.py", content=task.reference)],
        [_call("run_tests", "t1"), _call("submit", "s1")],
    ]

    def reply(request: ModelRequest) -> Message:
        seen.append(request)
        return Message(role="assistant", tool_calls=script[len(seen) - 1])

    job = Job(
        env="code.workspace",
        params={"num_tasks": 1},
        operator=LLMOperatorConfig(model="default"),
    )
    experiment = Experiment(name="workspace-llm", jobs=[job])
    store = tmp_path / "runs.db"
    result = await arun(experiment, store=store, models={"default": ScriptedModel(fn=reply)})
    assert result.errors == 0 and [e.outcome for e in result.episodes] == ["success"]
    assert [spec.name for spec in seen[0].tools] == [*TOOL_NAMES, "submit"]
    assert seen[1].messages[-1].content.startswith(f"     1\t# Task {task.id}")
    assert seen[2].messages[-1].content.startswith("Replaced solution.py")
    with Store(store) as opened:
        events = opened.events(result.run_id, result.episodes[0].episode_id)
    last_step = [e for e in events if e.kind == "env_step"][-1]
    (manifest,) = [e for e in events if e.kind == "workspace"]
    assert manifest.parent == last_step.seq == manifest.seq - 1 and manifest.agent == "env"
    paths = [f.path for f in manifest.payload.files]  # type: ignore[attr-defined]
    assert paths == ["TASK.md", "solution.py", "test_solution.py"]
    assert (last_step.payload.info["tool_calls"], last_step.payload.info["submitted"]) == (2, True)
    observations = [e for e in events if e.kind == "observation"]
    assert observations[-1].payload.observation.text.startswith("[write_file (w1)]\nReplaced")


async def test_the_example_runs_with_a_scripted_model_in_place_of_the_embedded_one(
    tmp_path: Path,
) -> None:
    example = Path(__file__).resolve().parents[3] / "examples" / "code_workspace.yaml"
    task = build_task(0, 0)

    def reply(request: ModelRequest) -> Message:
        turn = sum(1 for m in request.messages if m.role == "assistant")
        plan = [
            [_call("read_file", "r", path="TASK.md")],
            [_call("write_file", "w", path="solution.py", content=task.reference)],
            [_call("run_tests", "t")],
            [_call("submit", "s")],
        ]
        return Message(role="assistant", tool_calls=plan[min(turn, 3)])

    models = {"small": ScriptedModel(fn=reply)}
    result = await arun(example, store=tmp_path / "runs.db", models=models)
    assert result.errors == 0
    outcomes = sorted((row.episode_id.split("/")[0], row.outcome) for row in result.episodes)
    assert outcomes == [("workspace-baseline", "success")] * 4 + [("workspace-smollm2", "success")]
