"""Tools from MCP servers: real server processes (tests/tools/mcp_server.py, written with
the SDK's server API) over stdio and streamable HTTP; listing with schemas, calls through
a full `palaestra.run` recorded as tool_call / tool_result, error results, a server that
crashes mid-call, a call that hangs, servers that cannot start, and config errors."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import palaestra
from palaestra.core import ConfigError, Message, ToolCall, UserError
from palaestra.models import ScriptedModel
from palaestra.runtime import Experiment, Job, LLMOperatorConfig
from palaestra.store import Store
from palaestra.tools import MCPServer, MCPTool, MCPToolset
from tests.runtime.toy_env import register_counter

SERVER = Path(__file__).with_name("mcp_server.py")


@pytest.fixture(autouse=True)
def _counter_env() -> None:
    register_counter()


@pytest.fixture(autouse=True)
def _no_session_left_open():
    yield
    # every toolset was closed: its loop thread is gone (and with it every session)
    assert not [t for t in threading.enumerate() if t.name == "palaestra-mcp"]


def _stdio(**options) -> MCPServer:
    options.setdefault("name", "t")
    return MCPServer(command="python", args=[str(SERVER)], **options)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def http_url():
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, str(SERVER), "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the HTTP MCP test server did not start") from None
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _call(name: str, **arguments) -> Message:
    return Message(role="assistant", tool_calls=[ToolCall(id="", name=name, arguments=arguments)])


def _run(tmp_path, servers: list[MCPServer], script: list, *, max_steps: int = 6):
    """A full run: one episode of test.counter (target 3), an LLM operator with the
    scripted replies and the servers' tools; returns (result, events)."""
    model = ScriptedModel(script)
    experiment = Experiment(
        name="mcp",
        jobs=[
            Job(
                env="test.counter",
                tasks=1,
                max_steps=max_steps,
                operator=LLMOperatorConfig(model="default", mcp=servers),
            )
        ],
    )
    result = palaestra.run(experiment, store=tmp_path / "runs.db", models={"default": model})
    [episode] = result.episodes
    with Store(result.store_path) as store:
        events = store.events(result.run_id, episode.episode_id)
    return result, events


def _tool_results(events) -> list[tuple[str, str, bool]]:
    return [
        (e.payload.name, e.payload.content, e.payload.is_error)
        for e in events
        if e.kind == "tool_result"
    ]


# -- listing -----------------------------------------------------------------------------


def test_stdio_server_lists_its_tools_with_schemas_and_filters():
    with MCPToolset([_stdio(prefix="t_", deny=["crash"])]) as mcp:
        tools = {t.name: t for t in mcp.tools}
        assert sorted(tools) == ["t_add", "t_fail", "t_pid", "t_sleep"]
        add = tools["t_add"]
        assert isinstance(add, MCPTool) and add.remote_name == "add" and add.server == "t"
        assert add.description == "Add two integers."
        assert add.parameters["required"] == ["a", "b"]
        assert {k: v["type"] for k, v in add.parameters["properties"].items()} == {
            "a": "integer",
            "b": "integer",
        }
        assert add.spec.parameters == add.parameters  # what the model is told
        # an equal configuration is the same session and the same tools
        assert mcp.connect(_stdio(prefix="t_", deny=["crash"])) == list(tools.values())


def test_allow_naming_a_tool_the_server_lacks_is_a_user_error():
    with pytest.raises(UserError) as info, MCPToolset([_stdio(allow=["add", "divide"])]):
        pass
    message = str(info.value)
    assert "'t'" in message and "divide" in message
    assert "it offers: add, fail, pid, crash, sleep" in message


async def test_http_server_lists_and_calls(http_url):
    server = MCPServer(name="remote", url=http_url, headers={"X-Test": "1"}, allow=["add"])
    async with MCPToolset([server]) as mcp:
        [add] = mcp.tools
        assert add.name == "add" and add.parameters["required"] == ["a", "b"]
        outcome = await add.call({"a": 20, "b": 22})
        assert (outcome.content, outcome.is_error) == ("42", False)
        bad = await add.call({"a": "x", "b": 1})
        assert bad.is_error and "add" in bad.content


# -- calls through a full run ------------------------------------------------------------


def test_run_records_calls_results_and_error_results(tmp_path):
    script = [
        _call("t_add", a=1, b=2),
        _call("t_fail", reason="nope"),
        _call("add", n=3),  # the environment's tool: ends the turn
        "DONE",
    ]
    result, events = _run(tmp_path, [_stdio(prefix="t_")], script)
    [episode] = result.episodes
    assert (episode.outcome, episode.reason) == ("success", "done")
    calls = [e for e in events if e.kind == "tool_call"]
    assert [(c.payload.call.name, c.payload.call.arguments) for c in calls] == [
        ("t_add", {"a": 1, "b": 2}),
        ("t_fail", {"reason": "nope"}),
    ]
    results = [e for e in events if e.kind == "tool_result"]
    assert [r.parent for r in results] == [c.seq for c in calls]
    assert _tool_results(events) == [
        ("t_add", "3", False),
        ("t_fail", "Error from tool 't_fail': Error executing tool fail: refused: nope", True),
    ]
    # the model saw the error result as a tool message in its next request
    requests = [e for e in events if e.kind == "model_request"]
    assert "refused: nope" in requests[2].payload.messages[-1].content
    # the tools were offered with the server's schemas
    offered = {t.name: t for t in requests[0].payload.tools}
    assert offered["t_add"].parameters["properties"]["a"]["type"] == "integer"


def test_server_crash_mid_call_is_an_error_and_the_next_call_restarts_it(tmp_path):
    script = [
        _call("t_pid"),
        _call("t_crash"),
        _call("t_pid"),
        _call("add", n=3),
        "DONE",
    ]
    result, events = _run(tmp_path, [_stdio(prefix="t_")], script)
    [episode] = result.episodes
    assert (episode.outcome, episode.reason) == ("success", "done")
    (_, pid_before, _), (name, crash, is_error), (_, pid_after, ok) = _tool_results(events)
    assert name == "t_crash" and is_error
    assert "MCP server 't' stopped during the call" in crash
    assert "restarted for the next call" in crash
    assert not ok and pid_after.isdigit() and pid_after != pid_before  # a new process


def test_without_restarts_later_calls_report_the_server_down(tmp_path):
    script = [_call("t_crash"), _call("t_add", a=1, b=2), _call("add", n=3), "DONE"]
    result, events = _run(tmp_path, [_stdio(prefix="t_", max_restarts=0)], script)
    assert result.episodes[0].outcome == "success"
    (_, crash, crash_error), (_, later, later_error) = _tool_results(events)
    assert crash_error and "will not be restarted (max_restarts=0)" in crash
    assert later_error
    assert later.startswith("Error: tool 't_add' is unavailable: MCP server 't' is down")


def test_a_call_that_hangs_times_out_and_the_session_goes_on(tmp_path):
    script = [
        _call("t_sleep", seconds=30),
        _call("t_add", a=2, b=2),
        _call("add", n=3),
        "DONE",
    ]
    started = time.perf_counter()
    result, events = _run(tmp_path, [_stdio(prefix="t_", timeout_s=0.5)], script)
    assert time.perf_counter() - started < 20
    assert result.episodes[0].outcome == "success"
    (_, slept, slept_error), (_, four, four_error) = _tool_results(events)
    assert slept_error and slept.startswith("Error: tool 't_sleep' timed out after 0.5 s")
    assert (four, four_error) == ("4", False)


async def test_calls_in_flight_when_the_server_crashes_fail_and_one_restart_serves_all():
    async with MCPToolset([_stdio()]) as mcp:
        tools = {t.name: t for t in mcp.tools}
        before = (await tools["pid"].call({})).content
        outcomes = await asyncio.gather(
            tools["sleep"].call({"seconds": 5}),
            tools["crash"].call({}),
            tools["sleep"].call({"seconds": 5}),
        )
        assert all(o.is_error and "stopped during the call" in o.content for o in outcomes)
        pids = await asyncio.gather(*(tools["pid"].call({}) for _ in range(8)))
        assert len({p.content for p in pids}) == 1 and pids[0].content != before


async def test_a_server_that_cannot_be_restarted_is_reported_down_on_every_call(tmp_path):
    marker = tmp_path / "crashed"
    server = _stdio(env={"MCP_TEST_ONCE": str(marker)}, max_restarts=1)
    async with MCPToolset([server]) as mcp:
        tools = {t.name: t for t in mcp.tools}
        crash = await tools["crash"].call({})
        assert crash.is_error and "restarted for the next call" in crash.content
        first = await tools["add"].call({"a": 1, "b": 1})
        assert first.is_error
        assert first.content.startswith(
            "Error: tool 'add' is unavailable: MCP server 't' is down (a restart failed: "
        )
        second = await tools["add"].call({"a": 1, "b": 1})
        assert second.is_error
        assert "not restarted again after 1 restart(s), max_restarts=1" in second.content


# -- servers that cannot be used: errors before any episode ------------------------------


def _experiment(servers: list[MCPServer]) -> Experiment:
    operator = LLMOperatorConfig(model="scripted", mcp=servers)
    return Experiment(jobs=[Job(env="test.counter", operator=operator)])


def test_a_command_that_does_not_exist_fails_the_run_before_any_episode(tmp_path):
    server = MCPServer(name="ghost", command="palaestra-no-such-mcp-server", args=["--x"])
    with pytest.raises(UserError) as info:
        palaestra.run(_experiment([server]), store=tmp_path / "runs.db")
    message = str(info.value)
    assert "MCP server 'ghost'" in message
    assert "command palaestra-no-such-mcp-server --x" in message
    assert "FileNotFoundError" in message
    with Store(tmp_path / "runs.db") as store:
        assert store.list_runs() == []  # nothing ran


def test_a_server_that_exits_at_start_shows_its_stderr(tmp_path):
    server = _stdio(name="quitter", env={"MCP_TEST_FAIL_START": "1"})
    with pytest.raises(UserError) as info:
        palaestra.run(_experiment([server]), store=tmp_path / "runs.db")
    message = str(info.value)
    assert "MCP server 'quitter'" in message and str(SERVER) in message
    assert "refusing to start (MCP_TEST_FAIL_START)" in message


def test_a_server_that_never_answers_times_out_at_start():
    server = MCPServer(
        name="mute",
        command="python",
        args=["-c", "import time; time.sleep(60)"],
        connect_timeout_s=0.5,
    )
    started = time.perf_counter()
    with (
        pytest.raises(UserError, match=r"'mute'.*no answer within connect_timeout_s=0.5 s"),
        MCPToolset([server]),
    ):
        pass
    assert time.perf_counter() - started < 10


def test_an_unreachable_url_is_a_user_error():
    server = MCPServer(name="far", url=f"http://127.0.0.1:{_free_port()}/mcp")
    with (
        pytest.raises(UserError, match=r"'far' \(url http://127\.0\.0\.1:\d+/mcp\): Connect"),
        MCPToolset([server]),
    ):
        pass


def test_two_servers_offering_the_same_tool_name_need_a_prefix(tmp_path):
    servers = [_stdio(name="one", allow=["add"]), _stdio(name="two", allow=["add"])]
    with pytest.raises(ConfigError, match=r"two tools are named 'add'.*`prefix`"):
        palaestra.run(_experiment(servers), store=tmp_path / "runs.db")


async def test_a_closed_toolset_reports_its_tools_unavailable():
    mcp = MCPToolset([_stdio(allow=["add"])])
    [add] = await mcp.aconnect()
    assert (await add.call({"a": 1, "b": 1})).content == "2"
    await mcp.aclose()
    outcome = await add.call({"a": 1, "b": 1})
    assert outcome.is_error and "closed" in outcome.content
    with pytest.raises(UserError, match="closed"):
        mcp.connect()


async def test_arguments_that_are_not_json_are_an_error_for_the_model():
    async with MCPToolset([_stdio(allow=["add"])]) as mcp:
        [add] = mcp.tools
        outcome = await add.call({"__raw__": "{a: 1"})
        assert outcome.is_error and "not valid JSON" in outcome.content


# -- configuration -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({}, "needs `command` (a stdio server to start) or `url`"),
        ({"command": "x", "url": "http://h/mcp"}, "either `command` (stdio) or `url`"),
        ({"transport": "ws", "command": "x"}, "'stdio' or 'http'"),
        ({"transport": "http", "command": "x"}, "http needs `url` (a `command` is for"),
        ({"transport": "stdio", "url": "http://h/mcp"}, "stdio needs `command` (a `url` is"),
        ({"url": "ftp://h"}, "must start with http:// or https://"),
        ({"command": "x", "headers": {"a": "b"}}, "`headers` apply to http servers only"),
        ({"url": "http://h/mcp", "args": ["-v"]}, "args apply to stdio servers only"),
        ({"command": "x", "allow": ["a"], "deny": ["a"]}, "a both allowed and denied"),
        ({"command": "x", "timeout_s": 0}, "greater than 0"),
    ],
)
def test_bad_server_configs_say_what_is_wrong(fields, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        MCPServer(name="s", **fields)


def test_an_mcp_block_in_a_yaml_file_is_validated_with_its_line(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        "jobs:\n"
        "  - env: test.counter\n"
        "    operator:\n"
        "      kind: llm\n"
        "      model: scripted\n"
        "      mcp:\n"
        "        - name: calc\n"
        "          command: python\n"
        "          url: http://127.0.0.1:1/mcp\n"
        "        - name: other\n"
        "          transport: ws\n"
        "          command: python\n"
    )
    with pytest.raises(ConfigError) as info:
        Experiment.from_yaml(path)
    message = str(info.value)
    assert (
        f"{path}:7: jobs.0.operator.mcp.0: MCP server 'calc': give either `command` (stdio) "
        "or `url` (streamable HTTP), not both"
    ) in message
    assert f"{path}:11: jobs.0.operator.mcp.1.transport: Input should be 'stdio' or 'http'" in (
        message
    )
    good = path.with_name("good.yaml")
    good.write_text(
        "jobs:\n"
        "  - env: test.counter\n"
        "    operator: {kind: llm, model: scripted, mcp: [{name: calc, command: python,"
        " args: [-m, palaestra.testing.mcp_server], prefix: calc_}]}\n"
    )
    [server] = Experiment.from_yaml(good).jobs[0].operator.mcp
    assert (server.transport, server.prefix, server.args[-1]) == (
        "stdio",
        "calc_",
        "palaestra.testing.mcp_server",
    )


def test_two_servers_with_one_name_are_rejected():
    with pytest.raises(ValueError, match="two MCP servers are named 'a'"):
        LLMOperatorConfig(mcp=[{"name": "a", "command": "x"}, {"name": "a", "command": "y"}])


async def test_the_shipped_server_runs_as_a_module():
    server = MCPServer(name="calc", command="python", args=["-m", "palaestra.testing.mcp_server"])
    async with MCPToolset([server]) as mcp:
        tools = {t.name: t for t in mcp.tools}
        assert sorted(tools) == [
            "add",
            "divide",
            "multiply",
            "note_read",
            "note_write",
            "remainder",
            "subtract",
        ]
        assert (await tools["multiply"].call({"a": 6, "b": 7})).content == "42"
        assert (await tools["divide"].call({"a": 1, "b": 4})).content == "0.25"
        zero = await tools["divide"].call({"a": 1, "b": 0})
        assert zero.is_error and "division by zero" in zero.content
        await tools["note_write"].call({"key": "k", "text": "kept"})
        assert (await tools["note_read"].call({"key": "k"})).content == "kept"


def test_the_example_computes_with_the_servers_tools(tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "mcp.yaml"
    result = palaestra.run(example, store=tmp_path / "runs.db")
    [episode] = result.episodes
    assert (episode.outcome, episode.score) == ("success", 1.0)
    with Store(result.store_path) as store:
        events = store.events(result.run_id, episode.episode_id)
    assert _tool_results(events) == [("calc_multiply", "352", False), ("calc_add", "370", False)]
    offered = {t.name for t in next(e for e in events if e.kind == "model_request").payload.tools}
    assert {"calc_add", "calc_multiply", "lookup", "answer"} <= offered
    assert not {"calc_note_read", "calc_note_write"} & offered  # denied
