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
```

The Python API builds the same objects (`Experiment(jobs=[Job(env=...)])`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from palaestra.core import ConfigError


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelConfig(_Config):
    """A model, by spec, with its default sampling parameters."""

    spec: str = "local:smollm2-135m"
    """`local:smollm2-135m`, `openai:NAME` (any OpenAI-compatible server), or `scripted`."""
    base_url: str | None = None
    """Server URL for `openai:` specs (default: OPENAI_BASE_URL, then OpenAI)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Environment variable holding the API key."""
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    max_connections: int = 64
    """Per-provider HTTP connection limit."""
    timeout_s: float = 60.0
    max_retries: int = 4
    options: dict[str, Any] = Field(default_factory=dict)
    """Further constructor options of the model (e.g. `n_ctx` for the local model)."""


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
    temperature: float | None = None
    max_tokens: int | None = None
    keep_history: bool = True


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


OperatorConfig = Annotated[
    BaselineOperatorConfig
    | LLMOperatorConfig
    | ScriptedOperatorConfig
    | HumanOperatorConfig
    | PythonOperatorConfig,
    Field(discriminator="kind"),
]

OPERATOR_KINDS = ("baseline", "llm", "scripted", "human", "python")


def _operator_shorthand(value: Any) -> Any:
    if isinstance(value, str):
        if value not in OPERATOR_KINDS:
            raise ValueError(
                f"unknown operator {value!r}; valid kinds: {', '.join(OPERATOR_KINDS)}"
            )
        return {"kind": value}
    if isinstance(value, dict) and "kind" not in value:
        raise ValueError(f"an operator needs a `kind`; valid kinds: {', '.join(OPERATOR_KINDS)}")
    return value


class Job(_Config):
    """One environment with its parameters, the episodes to run, and who plays."""

    env: str
    """Registered environment id (see `palaestra envs`)."""
    label: str | None = None
    """Name shown in summaries and used in episode ids (default: the env id)."""
    params: dict[str, Any] = Field(default_factory=dict)
    tasks: int | list[str] | Literal["all"] = 1
    seeds: int | list[int] = 1
    epochs: int = Field(1, ge=1)
    operator: OperatorConfig = Field(default_factory=BaselineOperatorConfig)
    agents: dict[str, OperatorConfig] = Field(default_factory=dict)
    """Per-agent overrides of `operator`."""
    max_steps: int | None = Field(None, ge=1)
    """Overrides `limits.max_steps` for this job."""

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
        return value

    @field_validator("seeds")
    @classmethod
    def _seed_list(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError("seeds must be >= 1 or a list of seeds")
        return value

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
    seed: int = 0
    models: dict[str, ModelConfig] = Field(default_factory=dict)
    jobs: list[Job] = Field(min_length=1)
    concurrency: Concurrency = Field(default_factory=Concurrency)
    limits: Limits = Field(default_factory=Limits)

    @model_validator(mode="after")
    def _check_references(self) -> Experiment:
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
            where = [("operator", job.operator)]
            where += [(f"agents.{name}", op) for name, op in job.agents.items()]
            for path, op in where:
                if isinstance(op, LLMOperatorConfig) and isinstance(op.model, str):
                    named = op.model in self.models or ":" in op.model
                    if not named and op.model not in ("default", "local", "scripted"):
                        valid = ", ".join(sorted(self.models)) or "(none defined)"
                        # the path prefix lets the file loader point at the line
                        raise ValueError(
                            f"jobs.{index}.{path}.model: {op.model!r} is neither a name "
                            f"under `models:` ({valid}) nor a spec like "
                            f"'local:smollm2-135m' or 'openai:gpt-4o-mini'"
                        )
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> Experiment:
        """Load and validate an experiment file (errors name file, line and field)."""
        from palaestra.runtime._yaml import validate_file

        result = validate_file(cls, path)
        assert isinstance(result, Experiment)
        return result


def load_experiment(source: Experiment | str | Path | dict[str, Any]) -> Experiment:
    """An `Experiment` from an object, a dict, or a YAML path."""
    if isinstance(source, Experiment):
        return source
    if isinstance(source, dict):
        from pydantic import ValidationError

        from palaestra.runtime._yaml import format_validation_error

        try:
            return Experiment.model_validate(source)
        except ValidationError as exc:
            raise ConfigError(
                "invalid experiment:\n" + format_validation_error(exc, source="<dict>")
            ) from None
    return Experiment.from_yaml(source)
