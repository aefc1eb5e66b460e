"""From configuration to live objects: models and per-agent operator factories."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from palaestra.boundaries import LimitedModel, Limiter
from palaestra.config import (
    OPERATORS,
    BaselineOperatorConfig,
    Experiment,
    Job,
    LLMOperatorConfig,
    ModelConfig,
    OperatorBuild,
    build_system,
    is_system,
    resolve_system,
)
from palaestra.core import ConfigError, ModelError, Operator, SupportsAclose, import_object
from palaestra.envs import EnvSpec
from palaestra.models import Model
from palaestra.operators import LLMOperator
from palaestra.runtime._extensions import RunExtension, with_hook
from palaestra.tools import MCPServer, MCPToolset, Tool, as_tools

DEFAULT_MODEL_SPEC = "local:smollm2-135m"


class ModelPool:
    """Builds each configured model once per run, wrapped in its call limit.

    `override` (the CLI's `--model`) replaces the spec of every LLM operator's model;
    `base_url` (the CLI's `--base-url`) points `openai:` specs at a server; `fixed`
    answers for every model (replay): `fixed(agent, key, config)`.
    """

    def __init__(
        self,
        experiment: Experiment,
        *,
        override: str | None = None,
        base_url: str | None = None,
        models: dict[str, Model] | None = None,
        fixed: Callable[[str | None, str, ModelConfig], Model] | None = None,
    ):
        self.experiment = experiment
        self.fixed = fixed
        self.override = override
        self.base_url = base_url
        self._given = dict(models or {})
        self._built: dict[str, Model] = {}
        self._limiter = Limiter(experiment.concurrency.model_calls)
        self._mcp: MCPToolset | None = None

    def config_for(
        self, ref: str | ModelConfig, *, override: bool = True
    ) -> tuple[str, ModelConfig]:
        """The key and config of a model reference; `override=False` ignores `--model`
        (judges keep their own model: `--model` replaces the operators' models)."""
        if isinstance(ref, ModelConfig):
            config, key = ref, f"inline:{ref.spec}"
        elif ref in self.experiment.models:
            config, key = self.experiment.models[ref], ref
        elif ref in ("default", "local"):
            config, key = ModelConfig(spec=DEFAULT_MODEL_SPEC), "default"
        else:
            config, key = ModelConfig(spec=ref), ref
        if self.override and override:
            config = config.model_copy(update={"spec": self.override})
        if self.base_url:
            config = config.model_copy(update={"base_url": self.base_url})
        return key, config

    def get(
        self, ref: str | ModelConfig, agent: str | None = None, *, override: bool = True
    ) -> tuple[Model, ModelConfig]:
        key, config = self.config_for(ref, override=override)
        if self.fixed is not None:
            return self.fixed(agent, key, config), config
        own = bool(self.override) and not override
        cache = f"{key}[own]" if own else key  # not the overridden model under this key
        model = self._built.get(cache)
        if model is None and key in self._given:
            model = self._built[cache] = LimitedModel(self._given[key], self._limiter)
        if model is None and config.replies is not None and (own or not self.override):
            scripted = scripted_from_config(config, name=scripted_name(config, key))
            model = self._built[cache] = LimitedModel(scripted, self._limiter)
        if model is None:
            from palaestra.models import model_from_spec

            remote = config.spec.startswith("openai") or config.base_url is not None
            options = (
                {
                    "api_key_env": config.api_key_env,
                    "max_connections": config.max_connections,
                    "timeout_s": config.timeout_s,
                    "max_retries": config.max_retries,
                }
                if remote
                else {}
            )
            options.update(config.options)
            inner = model_from_spec(config.spec, base_url=config.base_url, **options)
            model = self._built[cache] = LimitedModel(inner, self._limiter)
        return model, config

    def mcp_tools(self, servers: Sequence[MCPServer]) -> list[Tool]:
        """The tools of these MCP servers, each connected once per run (on first use)
        and closed by `aclose`; `UserError` if one cannot be started or listed."""
        if not servers:
            return []
        if self._mcp is None:
            self._mcp = MCPToolset()
        return self._mcp.connect(list(servers))

    async def aclose(self) -> None:
        if self._mcp is not None:
            await self._mcp.aclose()
        for key, model in self._built.items():
            if key.removesuffix("[own]") in self._given:
                continue  # the caller's model: the caller closes it
            inner = getattr(model, "inner", model)
            if isinstance(inner, SupportsAclose):
                await inner.aclose()


def scripted_name(config: ModelConfig, key: str) -> str:
    """The name (in the log) of the scripted model built from `replies:` under `key`."""
    return f"{config.spec}[{key}]"


def scripted_from_config(config: ModelConfig, *, name: str | None = None) -> Model:
    """The `ScriptedModel` of a `spec: scripted` model with `replies:`: in order per
    agent, cycling; a reply with `when` answers every request whose last message
    contains its text (first such reply wins). With `options: {sample: true}` a reply
    without `when` is drawn at random instead, from the request's seed (derived from run
    seed, episode and agent): a stochastic model, e.g. for pass@k (repeat a reply to
    weigh it). `name` is what the log records (the runtime passes `scripted[NAME]`, NAME
    the key under `models:`)."""
    name = name or config.spec
    sample = bool(config.options.get("sample", False))
    from palaestra.core import Message, ToolCall
    from palaestra.models import ModelRequest, ScriptedModel

    ordered: list[str | Message] = []
    matched: list[tuple[str, Message]] = []
    for reply in config.replies or []:
        if isinstance(reply, str):
            ordered.append(reply)
            continue
        calls = [ToolCall(id="", name=c.name, arguments=c.arguments) for c in reply.calls]
        message = Message(role="assistant", content=reply.text, tool_calls=calls)
        if reply.when is None:
            ordered.append(message)
        else:
            matched.append((reply.when, message))
    if not matched and not sample:
        return ScriptedModel(ordered, name=name, cycle=True)
    cursors: dict[str, int] = {}

    def answer(request: ModelRequest) -> str | Message:
        last = (request.messages[-1].content or "") if request.messages else ""
        for text, message in matched:
            if text in last:
                return message
        if not ordered:
            shown = ", ".join(repr(text) for text, _ in matched)
            raise ModelError(
                f"scripted model {name!r}: no reply `when` ({shown}) matches the "
                f"request's last message {last[:200]!r}, and no reply without `when` is left"
            )
        if sample and request.seed is not None:
            return ordered[random.Random(request.seed).randrange(len(ordered))]
        position = cursors.get(request.agent, 0)
        cursors[request.agent] = position + 1
        return ordered[position % len(ordered)]

    return ScriptedModel(fn=answer, name=name)


def operator_factory(
    job: Job,
    env_spec: EnvSpec,
    params: Any,
    models: ModelPool,
    extensions: Sequence[RunExtension] = (),
) -> Callable[[str], Operator]:
    """`agent -> fresh Operator` for one job (per-agent overrides first), with the
    extensions' `wrap_model` and `wrap_tool` applied to each LLM operator's own model and
    tools (once per agent) and their `wrap_operator` to each agent's operator."""

    # LLM operators are built once per agent (and system member) and forked per episode:
    # building one resolves its model and imports its tools, not per-episode work.
    prototypes: dict[tuple[str, str], LLMOperator] = {}
    systems = models.experiment.systems
    wrap_models = with_hook(extensions, "wrap_model")
    wrap_tools = with_hook(extensions, "wrap_tool")
    wrap_operators = with_hook(extensions, "wrap_operator")

    def leaf(config: Any, agent: str, member: str = "", as_agent: str = "") -> Operator:
        if isinstance(config, LLMOperatorConfig):
            prototype = prototypes.get((agent, member))
            if prototype is None:
                # a member's model is asked for under the agent name it acts as (replay
                # names the model as recorded for that agent)
                name = f"{agent}/{as_agent}" if as_agent else agent
                made = _build_operator(config, name, env_spec, params, models)
                assert isinstance(made, LLMOperator)
                key = models.config_for(config.model)[0]
                for ext in wrap_models:
                    made.model = ext.wrap_model(made.model, agent=name, key=key)
                for ext in wrap_tools:
                    made.tools = {
                        tool_name: ext.wrap_tool(tool, agent=name)
                        for tool_name, tool in made.tools.items()
                    }
                prototype = prototypes[(agent, member)] = made
            return prototype.fork()
        return _build_operator(config, agent, env_spec, params, models)

    def build(agent: str) -> Operator:
        config = job.agents.get(agent, job.operator)
        if is_system(config):
            operator = build_system(
                config, lambda sub, path, who: leaf(sub, agent, path, who), systems=systems
            )
        else:
            operator = leaf(config, agent)
        for ext in wrap_operators:
            operator = ext.wrap_operator(operator, agent=agent)
        return operator

    # Fail early (before any episode) on configuration problems we can see now.
    roots = [job.operator, *job.agents.values()]
    for config in _leaves(roots, systems):
        if isinstance(config, BaselineOperatorConfig) and env_spec.baseline is None:
            raise ConfigError(
                f"job {job.label!r}: environment {env_spec.id!r} has no baseline operator; "
                "use `operator: {kind: llm, ...}` or another kind"
            )
        if isinstance(config, LLMOperatorConfig):
            models.get(config.model)
            tools = [import_object(path) for path in config.tools]
            try:  # connects the MCP servers now: a server that cannot start fails here
                as_tools([*tools, *models.mcp_tools(config.mcp)])
            except ValueError as exc:
                raise ConfigError(
                    f"job {job.label!r}: {exc} (an MCP server's `prefix` renames its tools)"
                ) from None
    return build


def _leaves(roots: list[Any], systems: Mapping[str, Any]) -> list[Any]:
    """Every non-system operator config in `roots`, members of systems included."""
    out: list[Any] = []
    stack = list(roots)
    while stack:
        config = resolve_system(stack.pop(), systems)
        if is_system(config):
            stack.extend(config.members.values())
        else:
            out.append(config)
    return out


def _build_operator(
    config: Any, agent: str, env_spec: EnvSpec, params: Any, models: ModelPool
) -> Operator:
    """The operator a (non-system) config describes, built by its registered kind."""
    build = OperatorBuild(agent=agent, env_spec=env_spec, params=params, models=models)
    return OPERATORS.get(config.kind).build(config, build)
