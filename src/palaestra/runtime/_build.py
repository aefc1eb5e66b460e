"""From configuration to live objects: models and per-agent operator factories."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from palaestra.boundaries import LimitedModel, Limiter
from palaestra.core import (
    ConfigError,
    ModelError,
    Operator,
    SupportsAclose,
    UserError,
    forked,
    import_object,
)
from palaestra.envs import EnvSpec
from palaestra.models import Model
from palaestra.operators import (
    DEFAULT_SYSTEM_PROMPT,
    HumanOperator,
    LLMOperator,
    ScriptedOperator,
)
from palaestra.runtime._experiment import (
    BaselineOperatorConfig,
    Experiment,
    HumanOperatorConfig,
    Job,
    LLMOperatorConfig,
    ModelConfig,
    PythonOperatorConfig,
    ScriptedOperatorConfig,
)
from palaestra.runtime._faults import apply_faults, job_faults
from palaestra.runtime._governance import govern, govern_tools, job_governor
from palaestra.runtime._operator_kinds import OPERATORS, OperatorBuild, register_operator_kind
from palaestra.runtime._systems_build import build_system, is_system, resolve
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
    job: Job, env_spec: EnvSpec, params: Any, models: ModelPool
) -> Callable[[str], Operator]:
    """`agent -> fresh Operator` for one job (per-agent overrides first)."""

    # LLM operators are built once per agent (and system member) and forked per episode:
    # building one resolves its model and imports its tools, not per-episode work.
    prototypes: dict[tuple[str, str], LLMOperator] = {}
    systems = models.experiment.systems
    faults = job_faults(models.experiment, job)
    governor = job_governor(models.experiment, job)

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
                apply_faults(made, faults, model_key=key, replaying=models.fixed is not None)
                govern_tools(made, governor)
                prototype = prototypes[(agent, member)] = made
            return prototype.fork()
        return _build_operator(config, agent, env_spec, params, models)

    def build(agent: str) -> Operator:
        config = job.agents.get(agent, job.operator)
        if is_system(config):
            system = build_system(
                config, lambda sub, path, who: leaf(sub, agent, path, who), systems=systems
            )
            return govern(system, governor)
        return govern(leaf(config, agent), governor)

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
        config = resolve(stack.pop(), systems)
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


# -- the built-in operator kinds (registered like any other: see `_operator_kinds`) -----


@register_operator_kind("baseline", BaselineOperatorConfig)
def _baseline(config: BaselineOperatorConfig, build: OperatorBuild) -> Operator:
    if build.env_spec.baseline is None:
        raise ConfigError(f"environment {build.env_spec.id!r} has no baseline operator")
    return build.env_spec.baseline(build.params, build.agent)


@register_operator_kind("llm", LLMOperatorConfig)
def _llm(config: LLMOperatorConfig, build: OperatorBuild) -> Operator:
    models = build.models
    model, model_config = models.get(config.model, build.agent)
    temperature = config.temperature
    if temperature is None:
        temperature = model_config.temperature
    max_tokens = config.max_tokens if config.max_tokens is not None else model_config.max_tokens
    return LLMOperator(
        model,
        system_prompt=config.system_prompt or DEFAULT_SYSTEM_PROMPT,
        tools=[*(import_object(path) for path in config.tools), *models.mcp_tools(config.mcp)],
        max_tool_rounds=config.max_tool_rounds,
        temperature=temperature,
        top_p=model_config.top_p,
        max_tokens=max_tokens,
        keep_history=config.keep_history,
    )


@register_operator_kind("scripted", ScriptedOperatorConfig)
def _scripted(config: ScriptedOperatorConfig, build: OperatorBuild) -> Operator:
    return ScriptedOperator(config.actions)


@register_operator_kind("human", HumanOperatorConfig)
def _human(config: HumanOperatorConfig, build: OperatorBuild) -> Operator:
    return HumanOperator()


@register_operator_kind("python", PythonOperatorConfig)
def _python(config: PythonOperatorConfig, build: OperatorBuild) -> Operator:
    obj = import_object(config.factory)
    if isinstance(obj, Operator) and not isinstance(obj, type):
        return cast(Operator, forked(obj))
    if callable(obj):
        try:
            made = obj(agent=build.agent, **config.options)
        except TypeError:
            made = obj(**config.options)
        if not isinstance(made, Operator):
            raise UserError(
                f"operator factory {config.factory!r} returned {type(made).__name__}, "
                "which has no `async act(observation, ctx)` method"
            )
        return made
    raise UserError(f"{config.factory!r} is neither an operator nor a callable")
