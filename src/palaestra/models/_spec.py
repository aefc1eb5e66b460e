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
```
"""

from __future__ import annotations

import inspect
import os
from typing import Any

from palaestra.core import UserError
from palaestra.models._protocol import Model

SPEC_FORMS = (
    "local:smollm2-135m (or local)",
    "openai:NAME (with base_url= or OPENAI_BASE_URL for a compatible server)",
    "scripted (or scripted:TEXT)",
    "torch:smollm2-135m or torch:PATH (a PyTorch policy for training)",
    "NAME with base_url= given",
)
"""The valid spec forms, as listed in error messages."""

SCRIPTED_TEXT = "ok"
"""What `scripted` answers when no text is given."""


def _valid_forms() -> str:
    return "; ".join(SPEC_FORMS)


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
        raise UserError(f"empty model spec {spec!r}; valid forms: {_valid_forms()}")
    spec = spec.strip()
    prefix, sep, rest = spec.partition(":")

    if prefix == "local":
        from palaestra.models._embedded import MODEL_ID, LocalModel

        if sep and rest != MODEL_ID:
            raise UserError(f"unknown local model {rest!r} in {spec!r}; valid: local:{MODEL_ID}")
        if base_url is not None:
            raise UserError(f"model {spec!r} runs in-process and takes no base_url")
        model: Model = _build(LocalModel, spec, **options)
        return model

    if prefix == "openai":
        if not rest:
            raise UserError(f"model spec {spec!r} lacks a model name, e.g. openai:gpt-4o-mini")
        from palaestra.models._openai import OpenAIModel

        url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        model = _build(OpenAIModel, spec, rest, base_url=url, **options)
        return model

    if prefix == "scripted":
        from palaestra.models._scripted import ScriptedModel

        text = rest if sep else SCRIPTED_TEXT
        options.setdefault("name", spec)
        model = _build(ScriptedModel, spec, [text], cycle=True, **options)
        return model

    if prefix == "torch":
        if base_url is not None:
            raise UserError(f"model {spec!r} runs in-process and takes no base_url")
        from palaestra.models._torch import TorchPolicy
        from palaestra.models._torch_load import load_policy

        params = inspect.signature(TorchPolicy).parameters
        allowed = sorted(n for n, p in params.items() if p.kind is p.KEYWORD_ONLY) + ["dtype"]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise UserError(
                f"model {spec!r}: unknown option(s) {', '.join(unknown)}; "
                f"valid: {', '.join(allowed)}"
            )
        return load_policy(rest, **options)

    if not sep and base_url is not None:
        from palaestra.models._openai import OpenAIModel

        model = _build(OpenAIModel, spec, spec, base_url=base_url, **options)
        return model

    hint = ""
    if not sep:
        hint = f" (did you mean openai:{spec}, or forgot base_url?)"
    raise UserError(f"unknown model spec {spec!r}{hint}; valid forms: {_valid_forms()}")
