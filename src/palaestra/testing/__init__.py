"""Test doubles shipped with palaestra, for its own tests and for users' tests and
benchmarks: `ChatServer`, a real, scriptable OpenAI-compatible chat-completions server,
and `LlamaServer`, llama-cpp-python's own server running the embedded model."""

from typing import TYPE_CHECKING

from palaestra._lazy import lazy_exports

if TYPE_CHECKING:
    from palaestra.testing._chat_server import ChatServer, RecordedRequest
    from palaestra.testing._llama_server import LlamaServer
    from palaestra.testing._replies import Reply, ServerFault, tool_call
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "palaestra.testing._chat_server": ("ChatServer", "RecordedRequest"),
            "palaestra.testing._llama_server": ("LlamaServer",),
            "palaestra.testing._replies": ("Reply", "ServerFault", "tool_call"),
        },
    )

__all__ = ["ChatServer", "LlamaServer", "RecordedRequest", "Reply", "ServerFault", "tool_call"]
