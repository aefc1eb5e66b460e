"""The built-in operator kinds (`baseline`, `llm`, `scripted`, `human`, `python`),
registered like any other (see `_operator_kinds`); `OPERATORS` imports this module the
first time a kind is looked up."""

from __future__ import annotations

from typing import cast

from palaestra.config._experiment import (
    BaselineOperatorConfig,
    HumanOperatorConfig,
    LLMOperatorConfig,
    PythonOperatorConfig,
    ScriptedOperatorConfig,
)
from palaestra.config._operator_kinds import OperatorBuild, register_operator_kind
from palaestra.core import ConfigError, Operator, UserError, forked, import_object
from palaestra.operators import DEFAULT_SYSTEM_PROMPT, HumanOperator, LLMOperator, ScriptedOperator


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
