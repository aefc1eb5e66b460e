"""Model specs: the one-string names of models used in configs and on the command line.

```
local:smollm2-135m   the embedded SmolLM2-135M-Instruct (also `local`)
openai:NAME          model NAME on an OpenAI-compatible server (base_url argument or
                     OPENAI_BASE_URL; OpenAI itself when neither is set)
scripted             a scripted model that always answers a fixed text
                     (`scripted:TEXT` picks the text)
torch:smollm2-135m   SmolLM2-135M-Instruct as a PyTorch policy (token ids + logprobs,
                     for training; needs the `train` extra)
torch:PATH           a saved torch policy or training checkpoint
NAME                 with base_url given: same as openai:NAME
PREFIX:NAME          a provider another package registered (`register_provider`, or an
                     entry point in group `palaestra.models`)
package.module:Name  a provider by reference (a `ModelProvider` or its build function),
                     imported when first used; `package.module:Name:MODEL` gives it a
                     model name
```
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from palaestra.core import Registry, UserError, is_reference, qualified_name
from palaestra.models._protocol import Model

SCRIPTED_TEXT = "ok"
"""What `scripted` answers when no text is given."""


@dataclass(frozen=True)
class ModelProvider:
    """A family of models named ``PREFIX:NAME`` (``openai:gpt-4o-mini``).

    A package adds one with `register_provider` (or an entry point in group
    ``palaestra.models`` named for the prefix, pointing at a `ModelProvider` or at the
    `build` function itself); every model spec in configs and on the command line can
    then name it (docs/extending.md)."""

    prefix: str
    build: Callable[..., Model]
    """``build(name, *, spec, base_url, **options) -> Model``: `name` is the text after
    the colon (None when the spec is the bare prefix), `options` the model's options
    (an unknown one is a `UserError` listing the valid ones: see `build_checked`)."""
    form: str = ""
    """How its specs are written, for messages (default ``PREFIX:NAME``)."""
    needs_name: bool = False
    """Whether ``PREFIX:`` must be followed by a name (``openai:`` alone is an error)."""

    @property
    def shown(self) -> str:
        return self.form or f"{self.prefix}:NAME"


def _as_provider(prefix: str, obj: Any) -> ModelProvider:
    if isinstance(obj, ModelProvider):
        return obj if obj.prefix == prefix else replace(obj, prefix=prefix)
    if not callable(obj):
        raise UserError(
            f"model provider {prefix!r}: {qualified_name(obj)} is not a ModelProvider or a "
            f"build function"
        )
    return ModelProvider(prefix, obj)


def _same_provider(old: ModelProvider, new: ModelProvider) -> bool:
    return old == new or (
        qualified_name(old.build) == qualified_name(new.build) and old.form == new.form
    )


PROVIDERS: Registry[ModelProvider] = Registry(
    "model provider", "palaestra.models", adapt=_as_provider, same=_same_provider
)
"""Model providers by prefix: the built-ins below, registered ones, entry points, and
``package.module:Name`` references (a spec ``package.module:Name[:MODEL]``)."""


def _provider_of(spec: str) -> tuple[ModelProvider | None, str | None]:
    """The provider a spec names and the model name after it (None when none is given):
    ``PREFIX[:NAME]`` for a registered prefix, else ``package.module:Name[:NAME]`` for
    a provider by reference whose top-level module is importable (so that a typo of a
    prefix stays an unknown spec, not a missing module)."""
    prefix, sep, rest = spec.partition(":")
    provider = PROVIDERS.find(prefix) if prefix else None
    if provider is not None:
        return provider, (rest if sep else None)
    attr, sep2, name = rest.partition(":")
    reference = f"{prefix}:{attr}"
    if not (sep and is_reference(reference)):
        return None, None
    from importlib.util import find_spec

    top = prefix.split(".")[0]
    try:  # a script beside the experiment is imported from the working directory too
        importable = find_spec(top) is not None or os.path.exists(f"{top}.py")
    except (ImportError, ValueError):
        importable = False
    if not importable:
        return None, None
    return PROVIDERS.get(reference), (name if sep2 else None)


def register_provider(provider: ModelProvider, *, replace: bool = False) -> None:
    """Add a model provider (the same one again is accepted; another one claiming its
    prefix is a `UserError` unless `replace`)."""
    PROVIDERS.register(provider.prefix, provider, replace=replace)


def spec_forms() -> str:
    """The valid spec forms, as error messages list them."""
    forms = [PROVIDERS.entries[p].shown for p in sorted(PROVIDERS.entries)]
    return "; ".join([*forms, "NAME with base_url= given"])


def spec_problem(spec: str) -> str | None:
    """What is wrong with a model spec, found without building it (None when nothing
    is; a bare NAME needs a base_url that the command line may give, checked when
    built)."""
    spec = spec.strip()
    if not spec:
        return "give a model spec, e.g. openai:gpt-4o-mini"
    sep = ":" in spec
    try:
        provider, rest = _provider_of(spec)
    except UserError as exc:  # a reference that does not load, a plugin that fails
        return str(exc)
    if provider is None:
        if not sep:
            return None
        return (
            f"unknown model spec {spec!r}; valid forms: {spec_forms()}; a model provider "
            f"from another package is named package.module:Name[:MODEL], or registered "
            f"with palaestra.models.register_provider (by a module given with --import) or "
            f"by an entry point in group 'palaestra.models'"
        )
    if provider.needs_name and sep and not (rest or "").strip():
        return f"model spec {spec!r} lacks a model name, e.g. {provider.shown}"
    return None


def _build(cls: type, spec: str, *args: Any, **options: Any) -> Any:
    """`cls(*args, **options)`, with unknown options reported as a `UserError`."""
    params = inspect.signature(cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        allowed = [
            name
            for name, p in params.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
            or (p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and name not in ("self",))
        ][len(args) :]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise UserError(
                f"model {spec!r}: unknown option(s) {', '.join(unknown)}; "
                f"valid: {', '.join(allowed) or 'none'}"
            )
    return cls(*args, **options)


def model_from_spec(spec: str, *, base_url: str | None = None, **options: Any) -> Model:
    """The model a spec names (see the module docstring for the forms).

    `options` go to the model's constructor (e.g. `n_ctx` for the local model,
    `api_key` or `max_connections` for an OpenAI-compatible one); an option the model
    does not take raises `UserError` listing the ones it does.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise UserError(f"empty model spec {spec!r}; valid forms: {spec_forms()}")
    spec = spec.strip()
    problem = spec_problem(spec)
    if problem is not None:
        raise UserError(problem)
    provider, name = _provider_of(spec)
    if provider is not None:
        return provider.build(name, spec=spec, base_url=base_url, **options)
    if base_url is not None:
        return _openai(spec, spec=spec, base_url=base_url, **options)
    raise UserError(
        f"unknown model spec {spec!r} (did you mean openai:{spec}, or forgot base_url?); "
        f"valid forms: {spec_forms()}"
    )


def _local(name: str | None, *, spec: str, base_url: str | None, **options: Any) -> Model:
    from palaestra.models._embedded import MODEL_ID, LocalModel

    if name is not None and name != MODEL_ID:
        raise UserError(f"unknown local model {name!r} in {spec!r}; valid: local:{MODEL_ID}")
    if base_url is not None:
        raise UserError(f"model {spec!r} runs in-process and takes no base_url")
    model: Model = _build(LocalModel, spec, **options)
    return model


def _openai(name: str | None, *, spec: str, base_url: str | None, **options: Any) -> Model:
    if not name:
        raise UserError(f"model spec {spec!r} lacks a model name, e.g. openai:gpt-4o-mini")
    from palaestra.models._openai import OpenAIModel

    url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    model: Model = _build(OpenAIModel, spec, name, base_url=url, **options)
    return model


def _scripted(name: str | None, *, spec: str, base_url: str | None, **options: Any) -> Model:
    from palaestra.models._scripted import ScriptedModel

    text = name if name is not None else SCRIPTED_TEXT
    options.setdefault("name", spec)
    model: Model = _build(ScriptedModel, spec, [text], cycle=True, **options)
    return model


def _torch(name: str | None, *, spec: str, base_url: str | None, **options: Any) -> Model:
    if base_url is not None:
        raise UserError(f"model {spec!r} runs in-process and takes no base_url")
    from palaestra.models._torch import TorchPolicy
    from palaestra.models._torch_load import load_policy

    params = inspect.signature(TorchPolicy).parameters
    allowed = sorted(n for n, p in params.items() if p.kind is p.KEYWORD_ONLY) + ["dtype"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UserError(
            f"model {spec!r}: unknown option(s) {', '.join(unknown)}; valid: {', '.join(allowed)}"
        )
    return load_policy(name or "", **options)


for _provider in (
    ModelProvider("local", _local, "local:smollm2-135m (or local)"),
    ModelProvider(
        "openai",
        _openai,
        "openai:NAME (with base_url= or OPENAI_BASE_URL for a compatible server)",
        needs_name=True,
    ),
    ModelProvider("scripted", _scripted, "scripted (or scripted:TEXT)"),
    ModelProvider("torch", _torch, "torch:smollm2-135m or torch:PATH (a PyTorch policy)"),
):
    register_provider(_provider)
