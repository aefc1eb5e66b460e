"""A raw HTTP/1.1 client for tests of palaestra's servers: it sends exactly the bytes it
is given (any Host, any header, any path, a body with or without Content-Length), which
httpx and http.client would refuse or correct, and reads the whole answer."""

from __future__ import annotations

import json
import logging
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class RawResponse:
    status: int
    """0 when the server closed the connection without answering."""
    headers: dict[str, str]
    """Lower-case names; the last of repeated headers."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def address(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def raw_request(
    url: str,
    method: bytes = b"GET",
    target: bytes = b"/",
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    *,
    host: bytes | None = None,
    content_length: bool = True,
    timeout_s: float = 10.0,
) -> RawResponse:
    """Send one request to the server at `url` and read its answer until the server
    closes the connection (``Connection: close``). `host`: the Host header (default the
    server's address; ``b""`` sends none). A server that does not answer within
    `timeout_s` fails the test (socket.timeout)."""
    hostname, port = address(url)
    if host is None:
        host = f"{hostname}:{port}".encode()
    lines = [method + b" " + target + b" HTTP/1.1"]
    if host:
        lines.append(b"Host: " + host)
    lines += [name + b": " + value for name, value in headers or []]
    if body and content_length:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    lines.append(b"Connection: close")
    data = b"\r\n".join(lines) + b"\r\n\r\n" + body
    with socket.create_connection((hostname, port), timeout=timeout_s) as sock:
        try:
            sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered (and closed) before reading everything
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        return RawResponse(0, {}, b"")
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    status = int(status_line.split()[1])
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(b":")
        parsed[name.decode("latin-1").strip().lower()] = value.decode("latin-1").strip()
    if parsed.get("transfer-encoding") == "chunked":
        rest = _dechunk(rest)
    return RawResponse(status, parsed, rest)


def _dechunk(data: bytes) -> bytes:
    out = []
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out.append(data[:size])
        data = data[size + 2 :]
    return b"".join(out)


class ErrorLog(logging.Handler):
    """Collects ERROR records of the uvicorn loggers (an exception in an app is logged
    there with its traceback, whatever status the client saw)."""

    NAMES = ("uvicorn.error", "uvicorn.asgi", "uvicorn")

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> ErrorLog:
        for name in self.NAMES:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.NAMES:
            logging.getLogger(name).removeHandler(self)

    def text(self) -> str:
        return "\n".join(self.format(r) for r in self.records)
