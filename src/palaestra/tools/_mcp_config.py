"""`MCPServer`: where a Model Context Protocol server is and how its tools are offered.

A server is reached over one of the two transports of the official SDK:

```yaml
mcp:
  - name: calc                      # stdio: palaestra starts the command, talks over its pipes
    command: python                 # `python`/`python3` mean the interpreter palaestra runs in
    args: [-m, palaestra.testing.mcp_server]
    prefix: calc_                   # tools become calc_add, calc_multiply, ...
    deny: [note_write]
  - name: search                    # streamable HTTP: an endpoint that is already running
    url: http://127.0.0.1:8000/mcp
    headers: {Authorization: Bearer ...}
    timeout_s: 20
```

This module holds only the configuration (no `mcp` import, so reading an experiment
file stays cheap); `_mcp.py` connects.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_STDIO_ONLY = ("args", "env", "cwd", "stderr")


class MCPServer(BaseModel):
    """One MCP server whose tools an operator may call (stdio subprocess or HTTP endpoint).

    The transport follows from which of `command` (stdio) or `url` (streamable HTTP) is
    given; `transport` may say it explicitly. The session is opened once per run and
    shared by every episode and agent that uses the server, so a server that keeps state
    shares it between them.
    """

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Name of the server in errors and logs (letters, digits, `_.-`).",
    )
    transport: Literal["stdio", "http"] | None = Field(
        None,
        description="`stdio` (start `command`, talk over its stdin/stdout) or `http` "
        "(streamable HTTP at `url`); default: stdio with `command`, http with `url`.",
    )
    command: str | None = Field(
        None,
        description="Executable that starts a stdio server; `python` and `python3` mean "
        "the interpreter palaestra runs in, so servers of installed packages start.",
    )
    args: list[str] = Field(default_factory=list, description="Arguments of `command`.")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables of the server process, over the SDK's safe "
        "defaults (HOME, PATH, USER, ...); nothing else of this process is inherited.",
    )
    cwd: str | None = Field(None, description="Working directory of the server process.")
    stderr: str | None = Field(
        None,
        description="File the server's stderr is appended to; default: a temporary file "
        "whose last lines are shown when the server fails to start or stops.",
    )
    url: str | None = Field(
        None, description="Endpoint of a streamable-HTTP server, e.g. http://host:8000/mcp."
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers sent with every request (http only)."
    )
    prefix: str = Field(
        "",
        pattern=r"^[A-Za-z0-9_.-]*$",
        description="Prepended to every tool name the server offers, to avoid clashes "
        "with other tools (e.g. `calc_`).",
    )
    allow: list[str] | None = Field(
        None, description="Offer only these tools (server names, before `prefix`)."
    )
    deny: list[str] = Field(
        default_factory=list, description="Never offer these tools (server names)."
    )
    connect_timeout_s: float = Field(
        30.0, gt=0, description="Seconds to start, initialise and list the tools."
    )
    timeout_s: float = Field(
        60.0, gt=0, description="Seconds one tool call may take; then the model is told."
    )
    max_restarts: int = Field(
        3,
        ge=0,
        description="Times per run a server that stopped (or lost its connection) is "
        "restarted on the next call; after that its tools report it down.",
    )

    @model_validator(mode="after")
    def _check_transport(self) -> MCPServer:
        if self.command is not None and self.url is not None:
            raise ValueError(
                f"MCP server {self.name!r}: give either `command` (stdio) or `url` "
                "(streamable HTTP), not both"
            )
        transport = self.transport
        if transport is None:
            if self.command is None and self.url is None:
                raise ValueError(
                    f"MCP server {self.name!r} needs `command` (a stdio server to start) "
                    "or `url` (a streamable-HTTP endpoint)"
                )
            transport = "stdio" if self.command is not None else "http"
        if transport == "stdio":
            if self.command is None or not self.command.strip():
                hint = " (a `url` is for transport http)" if self.url else ""
                raise ValueError(f"MCP server {self.name!r}: transport stdio needs `command`{hint}")
            if self.headers:
                raise ValueError(f"MCP server {self.name!r}: `headers` apply to http servers only")
        else:
            if self.url is None:
                hint = " (a `command` is for transport stdio)" if self.command else ""
                raise ValueError(f"MCP server {self.name!r}: transport http needs `url`{hint}")
            if not self.url.startswith(("http://", "https://")):
                raise ValueError(
                    f"MCP server {self.name!r}: url must start with http:// or https://, "
                    f"got {self.url!r}"
                )
            given = [f for f in _STDIO_ONLY if f in self.model_fields_set]
            if given:
                raise ValueError(
                    f"MCP server {self.name!r}: {', '.join(given)} apply to stdio servers "
                    "only (this one has a url)"
                )
        self.transport = transport
        both = sorted(set(self.allow or ()) & set(self.deny))
        if both:
            raise ValueError(f"MCP server {self.name!r}: {', '.join(both)} both allowed and denied")
        return self

    @property
    def where(self) -> str:
        """The command line or URL, for messages."""
        if self.transport == "http":
            return f"url {self.url}"
        return "command " + " ".join([self.command or "", *self.args])

    def key(self) -> str:
        """Identity of the connection: equal configurations share one session."""
        return self.model_dump_json()
