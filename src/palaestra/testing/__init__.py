"""Test doubles shipped with palaestra, for its own tests and for users' tests and
benchmarks: `ChatServer`, a real, scriptable OpenAI-compatible chat-completions server,
and `LlamaServer`, llama-cpp-python's own server running the embedded model; and the
checks of an environment: `check_env` (the contract) and `check_reuse` (no state
leaking between episodes on a reused instance)."""

from typing import TYPE_CHECKING

from palaestra._lazy import lazy_exports

if TYPE_CHECKING:
    from palaestra.envs import (
        EnvCheckError,
        EnvCheckReport,
        ReuseCheckReport,
        check_env,
        check_env_sync,
        check_reuse,
        check_reuse_sync,
    )
    from palaestra.testing._chat_server import ChatServer, RecordedRequest
    from palaestra.testing._llama_server import LlamaServer
    from palaestra.testing._replies import Reply, ServerFault, tool_call
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "palaestra.envs": (
                "EnvCheckError",
                "EnvCheckReport",
                "ReuseCheckReport",
                "check_env",
                "check_env_sync",
                "check_reuse",
                "check_reuse_sync",
            ),
            "palaestra.testing._chat_server": ("ChatServer", "RecordedRequest"),
            "palaestra.testing._llama_server": ("LlamaServer",),
            "palaestra.testing._replies": ("Reply", "ServerFault", "tool_call"),
        },
    )

__all__ = [
    "ChatServer",
    "EnvCheckError",
    "EnvCheckReport",
    "LlamaServer",
    "RecordedRequest",
    "Reply",
    "ReuseCheckReport",
    "ServerFault",
    "check_env",
    "check_env_sync",
    "check_reuse",
    "check_reuse_sync",
    "tool_call",
]
