"""The error tree, classified by who must act.

```
PalaestraError            base of everything palaestra raises on purpose
├── UserError             the user must fix something: a config field, an env id, a path
│   └── ConfigError       an experiment file is invalid (names file, line, field, choices)
├── ModelError            a model provider failed after its retries (network, HTTP status)
│   └── ModelReplyError   a model reply could not be parsed into a response
├── ReplayDivergence      a replayed run asked for something the recording never saw
└── StoreError            the event store is unusable (schema version, corruption)
```

Errors the *model* made (unknown tool, bad tool arguments, a tool that raised) are not
exceptions at all: they become observations the model can recover from (see
`palaestra.tools`). Anything else that escapes is a framework bug and is left to raise.
"""

from __future__ import annotations


class PalaestraError(Exception):
    """Base class of every error palaestra raises on purpose."""


class UserError(PalaestraError):
    """Something the user must fix: the message says what, where, and the valid choices."""


class ConfigError(UserError):
    """An experiment file or object is invalid.

    The message names the file and line (when the config came from a file), the dotted
    field path, what was wrong and, where there is a closed set, the valid choices.
    """


class ModelError(PalaestraError):
    """A model call failed for good (after retries): network, timeout or HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        attempts: int = 1,
        failed_attempts: list[object] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.attempts = attempts
        self.failed_attempts: list[object] = list(failed_attempts or [])
        """Every failed attempt (`palaestra.models.Attempt`), so callers can record them."""


class ModelReplyError(ModelError):
    """A model replied with something that cannot be turned into a response."""


class ReplayDivergence(PalaestraError):
    """A replayed episode made a request the recording does not contain.

    `expected` and `got` hold the first differing request (or event) on each side.
    """

    def __init__(self, message: str, *, expected: object = None, got: object = None):
        super().__init__(message)
        self.expected = expected
        self.got = got


class StoreError(PalaestraError):
    """The event store cannot be used as asked (wrong schema version, missing run...)."""
