"""Experiments as data: the pydantic models an experiment YAML file is validated into.

```yaml
name: demo
seed: 0                       # run seed: operators' randomness derives from it
concurrency: {episodes: 32, model_calls: 8}
limits: {max_steps: 50, max_tokens: null, max_wall_s: null}   # per episode
models:
  small: {spec: "local:smollm2-135m", temperature: 0.7, max_tokens: 128}
jobs:
  - env: graph.coloring
    params: {family: ws, n: 8}
    tasks: 3                  # the first N task ids, a list of ids, or "all"
    seeds: 2                  # episode seeds 0..N-1, or an explicit list
    epochs: 1
    operator: baseline        # or {kind: llm, model: small, system_prompt: ...}
    agents: {}                # per-agent operator overrides, by agent name
systems: {}                   # named multi-agent systems (`operator: NAME`), see
                              # _systems_config: {topology: independent, members: ...}
```

The Python API builds the same objects (`Experiment(jobs=[Job(env=...)])`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from palaestra.assurance import ContractSpec
from palaestra.boundaries import FaultPlan, Policy
from palaestra.config._operator_kinds import OPERATORS, operator_kinds
from palaestra.config._shapley_config import ShapleyConfig
from palaestra.config._systems_build import check_system_refs, iter_configs
from palaestra.config._systems_config import SystemConfig, rebuild, validate_system
from palaestra.config._topologies import operator_shorthand, prefix_path
from palaestra.config._yaml import format_validation_error, validate_file
from palaestra.core import ConfigError, UserError, import_object, unknown_name
from palaestra.eval import ScorerSpec, check_unique_names
from palaestra.tools import MCPServer

MAX_SEED = 2**63 - 1
"""Seeds are stored as SQLite integers (signed 64 bits) and must be >= 0."""
MAX_EPISODES_PER_JOB = 1_000_000
"""tasks x seeds x epochs of one job, at most: the plan of a run is held in memory."""


class _Origin:
    """Where an experiment was loaded from: the file and the line of each field. Equal
    to any other origin, so that an experiment from a file equals the same experiment
    built in Python."""

    def __init__(self, source: str | None = None, lines: dict[Any, int] | None = None):
        self.source = source
        self.lines: dict[Any, int] = lines or {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Origin)

    def __hash__(self) -> int:
        return 0


class _Config(BaseModel):
    # unknown fields are typos; NaN and infinity are no config values (JSON has neither)
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _spec_problem(spec: str) -> str | None:
    """What is wrong with a `prefix:...` model spec (bare names are checked when built:
    they need a base_url that the command line may give); the providers' registry
    decides, so a plugin's prefix is known too."""
    from palaestra.models import spec_problem

    return spec_problem(spec)


def _repeated(values: list[Any]) -> Any:
    """The first value that occurs a second time, or None."""
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)
    return None


def _check_import(path: str, info: ValidationInfo) -> str:
    """Import `package.module:attr` now when loading a file (`check_imports` in the
    validation context), so that a typo is an error naming its line, not a failure of
    every episode later."""
    if (info.context or {}).get("check_imports"):
        try:
            import_object(path)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
    return path


class ScriptedToolCall(_Config):
    """A tool call in a scripted reply."""

    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ScriptedReply(_Config):
    """A scripted model reply: text and/or tool calls, optionally only `when` the
    request's last message contains a given text."""

    text: str | None = None
    calls: list[ScriptedToolCall] = Field(default_factory=list)
    when: str | None = None
    """Serve this reply (every time) when the last message of the request contains this
    text; replies without `when` are served in order when none matches."""

    @model_validator(mode="after")
    def _not_empty(self) -> ScriptedReply:
        if self.text is None and not self.calls:
            raise ValueError("a scripted reply needs `text`, `calls`, or both")
        return self


class ModelConfig(_Config):
    """A model, by spec, with its default sampling parameters."""

    spec: str = "local:smollm2-135m"
    """`local:smollm2-135m`, `openai:NAME` (any OpenAI-compatible server), or `scripted`."""
    base_url: str | None = None
    """Server URL for `openai:` specs (default: OPENAI_BASE_URL, then OpenAI)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key."""
    temperature: float | None = Field(None, ge=0)
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_connections: int = Field(64, ge=1)
    """Per-provider HTTP connection limit."""
    timeout_s: float = Field(60.0, gt=0)
    """Seconds one request may take."""
    max_retries: int = Field(4, ge=0)
    """Retries of a failed request (0: one attempt)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Further constructor options of the model (e.g. `n_ctx` for the local model)."""
    replies: list[str | ScriptedReply] | None = None
    """For `spec: scripted` only: the replies (texts, or text and tool calls). Each agent
    reads them in order with its own cursor, from the start again when they run out;
    replies with `when` are served instead whenever their text occurs in the request's
    last message."""

    @field_validator("spec")
    @classmethod
    def _known_spec(cls, value: str) -> str:
        problem = _spec_problem(value) if ":" in value else None
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _replies_need_scripted(self) -> ModelConfig:
        if self.replies is not None and self.spec.partition(":")[0] != "scripted":
            raise ValueError(f"replies: only a `scripted` model takes replies, not {self.spec!r}")
        if self.replies == []:
            raise ValueError("replies: give at least one reply")
        return self


class BaselineOperatorConfig(_Config):
    """The environment's own non-LLM baseline operator."""

    kind: Literal["baseline"] = "baseline"


class LLMOperatorConfig(_Config):
    """An LLM operator: a model (a name under `models:` or a spec), a prompt, tools."""

    kind: Literal["llm"] = "llm"
    model: str | ModelConfig = "default"
    """Name of an entry of `models:`, or a model spec string, or an inline model."""
    system_prompt: str | None = None
    tools: list[str] = Field(default_factory=list)
    """Import paths `package.module:function` of Python functions to offer as tools."""
    max_tool_rounds: int = Field(8, ge=1)
    temperature: float | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1)
    keep_history: bool = True
    mcp: list[MCPServer] = Field(default_factory=list)
    """Model Context Protocol servers whose tools the operator may also call (each
    connected once per run; see `palaestra.tools.MCPServer`)."""

    @field_validator("tools")
    @classmethod
    def _tools_import(cls, value: list[str], info: ValidationInfo) -> list[str]:
        for index, path in enumerate(value):
            try:
                _check_import(path, info)
            except ValueError as exc:
                raise ValueError(f"{index}: {exc}") from None
        return value

    @field_validator("mcp")
    @classmethod
    def _unique_servers(cls, value: list[MCPServer]) -> list[MCPServer]:
        names = [server.name for server in value]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"two MCP servers are named {twice[0]!r}; give each its own name")
        return value


class ScriptedOperatorConfig(_Config):
    """Plays fixed actions (texts or Action-shaped mappings), one per step."""

    kind: Literal["scripted"] = "scripted"
    actions: list[str | dict[str, Any]] = Field(min_length=1)


class HumanOperatorConfig(_Config):
    """A person types each action at the terminal."""

    kind: Literal["human"] = "human"


class PythonOperatorConfig(_Config):
    """Any operator from Python: `factory` is `package.module:attr`, a class or function
    called with keyword `agent` (and `options`), or an operator instance."""

    kind: Literal["python"] = "python"
    factory: str
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("factory")
    @classmethod
    def _factory_imports(cls, value: str, info: ValidationInfo) -> str:
        return _check_import(value, info)


def _validate_operator(
    value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> Any:
    """An operator config, validated by the config model of the kind its `kind:` names
    (looked up in `OPERATORS`, so a plugin's kind is validated by its own model and
    pydantic keeps its errors' field locations); `system` by its topology's."""
    if isinstance(value, BaseModel):
        kind = getattr(value, "kind", None)
        if kind == "system":
            return validate_system(value, handler, info)
        found = OPERATORS.find(kind) if isinstance(kind, str) else None
        if found is None or not isinstance(value, found.config):
            raise ValueError(f"{type(value).__name__} is not the config of an operator kind")
        return value
    if isinstance(value, dict) and "kind" not in value:
        value = operator_shorthand(value)  # a system without `kind`, or the error
    if not isinstance(value, dict):
        raise ValueError(
            f"expected an operator: a kind ({', '.join(operator_kinds())}), a system "
            f"name, or a mapping with `kind:`; got {value!r}"
        )
    kind = value["kind"]
    if kind == "system":
        return validate_system(value, handler, info)
    if not isinstance(kind, str):
        raise ValueError(f"kind: expected an operator kind, got {kind!r}")
    try:
        found = OPERATORS.find(kind)
    except UserError as exc:  # a plugin that fails to import
        raise ValueError(f"kind: {exc}") from None
    if found is None:  # close matches, `system` among the kinds, how to add one
        group = OPERATORS.plugins.group
        raise ValueError(
            f"kind: {unknown_name('operator kind', kind, operator_kinds(), group=group)}"
        )
    return found.config.model_validate(value, context=info.context)


OperatorConfig = Annotated[Any, WrapValidator(_validate_operator)]
"""Any operator config: the config model of a registered operator kind (`OPERATORS`:
`BaselineOperatorConfig`, `LLMOperatorConfig`, ... or a plugin's), or a `system` (a
multi-agent topology, see `_systems_config`) holding further operator configs as its
members."""

rebuild(OperatorConfig)


def _operator_shorthand(value: Any) -> Any:
    # A string names a kind or a system under `systems:` (checked by Experiment).
    return operator_shorthand(value)


class ExtensionSpec(_Config):
    """An entry of `extensions:`: a registered `RunExtension` kind (by name, or
    ``package.module:Name``) and its options (see docs/extending.md)."""

    use: str = Field(min_length=1)
    """The extension kind: a registered name, or ``package.module:Name``."""
    name: str | None = None
    """What a job entry replacing this one names (default: `use`)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Passed to the kind's build (a `RunExtension` class: as keyword arguments)."""

    @property
    def label(self) -> str:
        return self.name or self.use


class Job(_Config):
    """One environment with its parameters, the episodes to run, and who plays."""

    env: str
    """Registered environment id (see `palaestra envs`)."""
    label: str | None = None
    """Name shown in summaries and used in episode ids (default: the env id)."""
    params: dict[str, Any] = Field(default_factory=dict)
    tasks: int | list[str] | Literal["all"] = 1
    seeds: int | list[int] = 1
    epochs: int = Field(1, ge=1, le=MAX_EPISODES_PER_JOB)
    operator: OperatorConfig = Field(default_factory=BaselineOperatorConfig)
    agents: dict[str, OperatorConfig] = Field(default_factory=dict)
    """Per-agent overrides of `operator`."""
    max_steps: int | None = Field(None, ge=1)
    """Overrides `limits.max_steps` for this job."""
    faults: FaultPlan | None = None
    """A fault plan for this job's episodes, replacing the experiment's `faults:`
    (`faults: []` runs the job without faults); see docs/faults.md."""
    governance: Policy | None = None
    """A governance policy for this job's agents, replacing the experiment's
    `governance:` (`governance: {enabled: false}` runs the job ungoverned); see
    docs/governance.md."""
    contracts: list[ContractSpec] | None = None
    """Contracts checked on this job's episodes besides the experiment's (an entry with
    the name of one of those replaces it); see docs/contracts.md."""
    scorers: list[ScorerSpec] = Field(default_factory=list)
    """Scorers run at the end of this job's episodes besides the experiment's (an entry
    with the name of one of those replaces it); see docs/scorers.md."""
    extensions: list[ExtensionSpec] = Field(default_factory=list)
    """Run extensions for this job's episodes besides the experiment's (an entry with
    the name of one of those replaces it); see docs/extending.md."""

    @field_validator("operator", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return _operator_shorthand(value)

    @field_validator("agents", mode="before")
    @classmethod
    def _agents_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _operator_shorthand(v) for k, v in value.items()}
        return value

    @field_validator("tasks")
    @classmethod
    def _positive_tasks(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError("tasks must be >= 1, a list of task ids, or 'all'")
        if isinstance(value, list):
            if not value:
                raise ValueError("an empty list runs nothing; give task ids, a count, or 'all'")
            twice = _repeated(value)
            if twice is not None:
                raise ValueError(f"task {twice!r} is listed twice; list each task once")
        return value

    @field_validator("seeds")
    @classmethod
    def _seed_list(cls, value: Any) -> Any:
        if isinstance(value, int) and not 1 <= value <= MAX_EPISODES_PER_JOB:
            raise ValueError(
                f"seeds must be a count from 1 to {MAX_EPISODES_PER_JOB:,} or a list of seeds"
            )
        if isinstance(value, list):
            if not value:
                raise ValueError("an empty list runs nothing; give seeds or a count")
            for index, seed in enumerate(value):
                if not 0 <= seed <= MAX_SEED:
                    raise ValueError(f"{index}: a seed must be from 0 to 2**63-1, got {seed}")
            twice = _repeated(value)
            if twice is not None:
                raise ValueError(f"seed {twice} is listed twice; list each seed once")
        return value

    @model_validator(mode="after")
    def _episode_count(self) -> Job:
        # a count of tasks is "the first N" (at most what the environment has): the
        # runner checks the total once it knows the tasks
        tasks = len(self.tasks) if isinstance(self.tasks, list) else 1
        seeds = len(self.seeds) if isinstance(self.seeds, list) else self.seeds
        if tasks * seeds * self.epochs > MAX_EPISODES_PER_JOB:
            raise ValueError(
                f"epochs: {tasks:,} tasks x {seeds:,} seeds x {self.epochs:,} epochs is more "
                f"than {MAX_EPISODES_PER_JOB:,} episodes; split the job over several runs"
            )
        return self

    def seed_list(self) -> list[int]:
        """The episode seeds: 0..N-1 for a count, else the list."""
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


class Concurrency(_Config):
    episodes: int = Field(32, ge=1)
    """Episodes in flight at once."""
    model_calls: int = Field(64, ge=1)
    """Model calls in flight at once, across all episodes (per model)."""


class Limits(_Config):
    """Per-episode budgets; reaching one ends the episode with that reason."""

    max_steps: int = Field(100, ge=1)
    max_tokens: int | None = Field(None, ge=1)
    max_wall_s: float | None = Field(None, gt=0)


class Experiment(_Config):
    """A whole experiment: jobs × tasks × seeds × epochs, models, limits."""

    name: str = "experiment"
    seed: int = Field(0, ge=0, le=MAX_SEED)
    """Run seed, from 0 to 2**63-1."""
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    jobs: list[Job] = Field(min_length=1)
    concurrency: Concurrency = Field(default_factory=Concurrency)
    limits: Limits = Field(default_factory=Limits)
    systems: dict[str, SystemConfig] = Field(default_factory=dict)
    """Named multi-agent systems: used by name as an operator (`operator: NAME`), as a
    member of another system, or compared by `palaestra compare --systems`."""
    faults: FaultPlan | None = None
    """Faults injected at model, tool, memory and environment boundaries, seeded and
    recorded as `fault` events (docs/faults.md); a job's own `faults:` replaces it."""
    shapley: ShapleyConfig | None = None
    """Modules with a default and a test variant for `palaestra shapley` (Shapley
    attribution, one job per coalition); `palaestra run` ignores it."""
    train: dict[str, Any] | None = None
    """The `palaestra train` settings (policy, estimator, group size, steps, ...),
    validated by `palaestra.train.TrainConfig`; `palaestra run` ignores it."""
    governance: Policy | None = None
    """A policy deciding every tool call (and reply) of the agents before it executes,
    recorded as `governance` events (docs/governance.md); a job's own replaces it."""
    contracts: list[ContractSpec] = Field(default_factory=list)
    """Contracts checked online on every episode (`contract_verdict` events), and by
    `palaestra check` offline: built-ins (`use: NAME`) or user functions
    (`python: module:function`); see docs/contracts.md."""
    scorers: list[ScorerSpec] = Field(default_factory=list)
    """Scorers run at the end of every episode after the environment's score, each
    recorded as a `score` event named after it (`{use: includes}`, `{use: rubric, file:
    ...}`, `{use: model_graded, model: judge}`, `{python: module:function}`); see
    docs/scorers.md and `palaestra score` to rescore a stored run."""
    extensions: list[ExtensionSpec] = Field(default_factory=list)
    """Run extensions (`RunExtension` kinds: `{use: NAME, options: {...}}`) applied to
    every episode and its replay; see docs/extending.md."""

    _origin: _Origin = PrivateAttr(default_factory=lambda: _Origin())
    """The file this experiment was loaded from and the line of each field."""

    def set_origin(self, source: str, lines: dict[Any, int]) -> None:
        """Remember the file and lines (`validate_file` calls it) for errors found after
        loading: an unknown environment, bad environment parameters, agent names."""
        self._origin = _Origin(source, lines)

    def where(self, *loc: str | int) -> str:
        """`file:line: field.path: ` of a field of an experiment loaded from a file (the
        line of the longest part of `loc` the file has), or `field.path: `."""
        field = ".".join(str(part) for part in loc)
        source, lines = self._origin.source, self._origin.lines
        if source is None:
            return f"{field}: " if field else ""
        for end in range(len(loc), -1, -1):
            line = lines.get(tuple(loc[:end]))
            if line is not None:
                return f"{source}:{line}: {field}: " if field else f"{source}:{line}: "
        return f"{source}: {field}: " if field else f"{source}: "

    def located(self, exc: UserError, *loc: str | int) -> UserError:
        """`exc` with the file, line and field of `loc` in front (as a `ConfigError`),
        or `exc` itself when it names a file already."""
        prefix = self.where(*loc)
        source = self._origin.source
        if not prefix or (source is not None and str(exc).startswith(source)):
            return exc
        return ConfigError(prefix + str(exc))

    @field_validator("systems", mode="before")
    @classmethod
    def _systems_shorthand(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out = {}
        for name, config in value.items():
            if isinstance(config, dict) and "kind" not in config:
                config = {"kind": "system", **config}
            try:
                out[name] = operator_shorthand(config)
            except ValueError as exc:
                raise ValueError(prefix_path(name, str(exc))) from None
        return out

    @model_validator(mode="after")
    def _check_references(self, info: ValidationInfo) -> Experiment:
        roots: list[tuple[str, Any]] = []
        labels: set[str] = set()
        for index, job in enumerate(self.jobs):
            if job.label is None:
                label, n = job.env, 2
                while label in labels:
                    label, n = f"{job.env}#{n}", n + 1
                job.label = label
            if job.label in labels:
                raise ValueError(f"jobs.{index}.label: {job.label!r} is used by two jobs")
            if "/" in job.label:
                raise ValueError(f"jobs.{index}.label: must not contain '/'")
            labels.add(job.label)
            roots.append((f"jobs.{index}.operator", job.operator))
            roots += [(f"jobs.{index}.agents.{name}", op) for name, op in job.agents.items()]
        named = [(f"systems.{name}", config) for name, config in self.systems.items()]
        given = set((info.context or {}).get("given_models", ()))
        """Names of the ready models the caller passes (`palaestra.run(models=...)`)."""
        for root, config in roots + named:
            for path, op in iter_configs(config, root):
                if isinstance(op, LLMOperatorConfig) and isinstance(op.model, str):
                    if op.model not in self.models and ":" in op.model:
                        problem = _spec_problem(op.model)
                        if problem:
                            raise ValueError(f"{path}.model: {problem}")
                    known = op.model in self.models or op.model in given or ":" in op.model
                    if not known and op.model not in ("default", "local", "scripted"):
                        valid = ", ".join(sorted(self.models)) or "(none defined)"
                        # the path prefix lets the file loader point at the line
                        raise ValueError(
                            f"{path}.model: {op.model!r} is neither a name "
                            f"under `models:` ({valid}) nor a spec like "
                            f"'local:smollm2-135m' or 'openai:gpt-4o-mini'"
                        )
        check_system_refs(self.systems, roots, tuple(operator_kinds()))
        self._check_scorers(given)
        if (info.context or {}).get("check_imports"):
            self._check_hooks(info)
        return self

    def _check_hooks(self, info: ValidationInfo) -> None:
        """Scorers' and governance hooks' import paths (operators' and contracts' are
        checked where they are validated)."""
        paths: list[tuple[str, str]] = []
        blocks = [("", self.scorers, self.governance)]
        blocks += [(f"jobs.{i}.", j.scorers, j.governance) for i, j in enumerate(self.jobs)]
        for where, scorers, governance in blocks:
            paths += [
                (f"{where}scorers.{i}.python", spec.python)
                for i, spec in enumerate(scorers)
                if spec.python is not None
            ]
            if governance is not None:
                paths += [
                    (f"{where}governance.python.{i}", hook)
                    for i, hook in enumerate(governance.python)
                ]
        for field, path in paths:
            try:
                _check_import(path, info)
            except ValueError as exc:
                raise ValueError(f"{field}: {exc}") from None

    def _check_scorers(self, given: set[str]) -> None:
        blocks = [("scorers", self.scorers)]
        blocks += [(f"jobs.{i}.scorers", job.scorers) for i, job in enumerate(self.jobs)]
        for where, specs in blocks:
            check_unique_names(specs, where)
            for index, spec in enumerate(specs):
                for ref in spec.judge_refs().values():
                    known = ref in self.models or ref in given or ":" in ref
                    if not known and ref != "scripted":
                        valid = ", ".join(sorted(self.models)) or "(none defined)"
                        raise ValueError(
                            f"{where}.{index}.model: {ref!r} is neither a name under "
                            f"`models:` ({valid}) nor a spec like 'openai:gpt-4o-mini'"
                        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> Experiment:
        """Load and validate an experiment file (errors name file, line and field)."""

        result = validate_file(cls, path)
        assert isinstance(result, Experiment)
        return result


def check_agent_names(experiment: Experiment, index: int, agents: list[str]) -> None:
    """Every name under a job's `agents:` must be an agent of its environment (`agents`,
    the environment's names before reset; not checked when it has none then). An
    override for a name the environment does not have would silently never act."""
    job = experiment.jobs[index]
    if not agents:
        return
    for name in job.agents:
        if name not in agents:
            shown = ", ".join(agents[:12]) + (" ..." if len(agents) > 12 else "")
            raise ConfigError(
                experiment.where("jobs", index, "agents", name)
                + f"environment {job.env!r} has no agent {name!r}; its agents: {shown}"
            )


def check_episode_count(experiment: Experiment, index: int, tasks: int) -> None:
    """A job plans at most `MAX_EPISODES_PER_JOB` episodes, checked once its tasks are
    known (`tasks: all` or a count)."""
    job = experiment.jobs[index]
    seeds = len(job.seed_list()) if isinstance(job.seeds, list) else job.seeds
    if tasks * seeds * job.epochs > MAX_EPISODES_PER_JOB:
        raise ConfigError(
            experiment.where("jobs", index, "tasks")
            + f"{tasks:,} tasks x {seeds:,} seeds x {job.epochs:,} epochs is more than "
            f"{MAX_EPISODES_PER_JOB:,} episodes; give fewer tasks or split the job over runs"
        )


def load_experiment(
    source: Experiment | str | Path | dict[str, Any], *, given_models: Iterable[str] = ()
) -> Experiment:
    """An `Experiment` from an object, a dict, or a YAML path. `given_models`: names of
    the ready models the caller supplies (`palaestra.run(models=...)`): an operator or
    judge may name one without a `models:` entry for it."""
    if isinstance(source, Experiment):
        return source
    context = {"given_models": sorted(given_models)}
    if isinstance(source, dict):
        from pydantic import ValidationError

        try:
            return Experiment.model_validate(source, context=context)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, source="<dict>")) from None
    result = validate_file(Experiment, source, context=context)
    assert isinstance(result, Experiment)
    return result
