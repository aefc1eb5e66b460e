"""The `shapley:` block of an experiment: modules with a default and a test variant.

```yaml
shapley:
  value: success            # v(S): success rate, or `score` (mean verified score)
  samples: null             # null: exact over all 2^n coalitions; N: N random permutations
  banzhaf: false            # also report the Banzhaf index
  modules:
    a:                      # module name (letters, digits, _ and -)
      default: {jobs.0.operator.members.a.model: wrong}   # dotted path -> value
      test:    {jobs.0.operator.members.a.model: right}
```

A patch maps a dotted path into the experiment (keys of mappings, indices of lists:
`jobs.0.operator.members.a.model`) to the value it takes: a scalar or a whole config
(`{kind: llm, model: right, system_prompt: ...}`). The path's parent must exist; its
last key may be new. `palaestra shapley` runs one job per coalition (`J@S=a+b`);
`palaestra run` on the same file runs the experiment as written.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_EXACT_MODULES = 10
"""Above this many modules exact attribution (2^n configurations) needs `samples`."""

_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


class ShapleyModule(BaseModel):
    """One module: the patch of its default variant and of its test variant."""

    model_config = ConfigDict(extra="forbid")

    default: dict[str, Any] = Field(default_factory=dict)
    """Dotted path -> value for the default variant ({}: the experiment as written)."""
    test: dict[str, Any] = Field(min_length=1)
    """Dotted path -> value for the test variant."""


class ShapleyConfig(BaseModel):
    """Shapley attribution over modules (docs/metrics.md, "Shapley attribution")."""

    model_config = ConfigDict(extra="forbid")

    modules: dict[str, ShapleyModule] = Field(min_length=1)
    value: Literal["success", "score"] = "success"
    """v(S): the success rate of coalition S's episodes, or their mean score."""
    samples: int | None = Field(None, ge=1)
    """Random permutations to estimate from (seeded by the run seed); None: exact."""
    banzhaf: bool = False
    """Also report the Banzhaf index (labelled as such)."""

    @field_validator("modules")
    @classmethod
    def _names(cls, value: dict[str, ShapleyModule]) -> dict[str, ShapleyModule]:
        for name in value:
            if not _NAME.match(name) or name == "none":
                raise ValueError(
                    f"module name {name!r}: use letters, digits, '_' and '-' (not 'none')"
                )
        return value

    @model_validator(mode="after")
    def _checks(self) -> ShapleyConfig:
        owner: dict[str, str] = {}
        for name, module in self.modules.items():
            for path in {*module.default, *module.test}:
                if not path or any(not part for part in path.split(".")):
                    raise ValueError(f"modules.{name}: {path!r} is not a dotted path")
                if path in owner and owner[path] != name:
                    raise ValueError(
                        f"modules.{name}: path {path!r} is also patched by module "
                        f"{owner[path]!r}; each path belongs to one module"
                    )
                owner[path] = name
        if self.samples is None and len(self.modules) > MAX_EXACT_MODULES:
            raise ValueError(
                f"{len(self.modules)} modules need 2^{len(self.modules)} configurations; "
                f"set `samples:` (random permutations) above {MAX_EXACT_MODULES} modules"
            )
        return self


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set `value` at dotted `path` in JSON-like `data` (in place). Raises `KeyError`
    with a message naming the missing part and what is there."""
    parts = path.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[:depth]) or "the experiment"
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise KeyError(f"{path}: {where} is a list of {len(node)}; {part!r} is no index")
            if last:
                node[int(part)] = value
                return
            node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
                return
            if part not in node or node[part] is None:
                keys = ", ".join(sorted(k for k, v in node.items() if v is not None))
                raise KeyError(f"{path}: {where} has no {part!r}; it has: {keys}")
            node = node[part]
        else:
            raise KeyError(f"{path}: {where} is a {type(node).__name__}, not a mapping or list")
