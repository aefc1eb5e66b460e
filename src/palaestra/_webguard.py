"""`WebGuard`: the ASGI middleware in front of palaestra's two HTTP servers (the viewer,
`palaestra view`, and the environment server, `palaestra serve-env`).

Both listen on 127.0.0.1 by default, which keeps other machines out but not web pages:
a page the user opens can make the browser send requests to 127.0.0.1 (cross-site
requests), or rebind its own domain to 127.0.0.1 and then read the answers as
same-origin (DNS rebinding). The guard refuses both, before the app sees the request:

1. **Host** (421 Misdirected Request): the ``Host`` header must name this server: an IP
   address (v4, or v6 in brackets), ``localhost`` or a ``*.localhost`` name, the name
   the server was bound to, or a name given with ``--allow-host`` (``.example.org``
   allows that domain and its subdomains; ``*`` turns the check off). A rebinding page
   always sends its own domain name; a request to an IP address can only reach this
   server when the address is this server's, so addresses need no list. The port is not
   compared: a request reaches this port whatever the header says, and a reverse proxy
   may forward its own.
2. **Origin** (403): a browser's cross-origin request carries ``Origin``; when present it
   must be this server's own origin (its host and port equal to the ``Host`` header's)
   or an origin whose host was given with ``--allow-host``. ``Origin: null`` is refused.
   A request without ``Origin`` but with ``Sec-Fetch-Site: cross-site`` (an image, a
   form, a script tag of another site) is refused too, except a top-level navigation (a
   link to the page, which loads the page and nothing else).
3. **Token** (401), when one is configured: ``Authorization: Bearer TOKEN``, or (where
   the app allows it: the viewer) a cookie that ``GET /?token=TOKEN`` sets, so a browser
   opened on the printed URL stays signed in. The cookie is ``HttpOnly`` and
   ``SameSite=Strict``, named per port, and the redirect that sets it drops the token
   from the address bar. Tokens are compared in constant time.

A body over ``max_body`` bytes is a 413 (by its Content-Length, or, for a chunked body,
once the guard has read that much of it). Every refusal is JSON ``{error_key: message}``
naming what was refused and how to allow it.

`GuardPolicy` holds the options (checked when it is built, so a bad ``--token`` or
``--allow-host`` is a `UserError` before any server starts) and decides; `WebGuard` is
the ASGI middleware that applies it: ``app.add_middleware(WebGuard, policy=policy)``.
This module imports only the standard library (and `palaestra.core`'s errors).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from palaestra.core import UserError

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOCAL_NAMES = ("localhost", "127.0.0.1", "::1")
"""Names every guard accepts (with any IP address and any ``*.localhost`` name)."""
_WILDCARD_BINDS = {"", "0.0.0.0", "::"}
_TOKEN = re.compile(r"[A-Za-z0-9._~-]{8,512}")
_MAX_HOST = 255
_BAD_HOST_CHARS = re.compile(r"[/\\@?#%\s]")


def split_host(value: str) -> tuple[str, int | None] | None:
    """(lower-case host without brackets or trailing dot, port or None) of a ``Host``
    header (``name``, ``name:port``, ``[v6]:port``); None when malformed."""
    value = value.strip()
    if not value or len(value) > _MAX_HOST + 7:
        return None
    port_text = ""
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        host, rest = value[1:end], value[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                return None
            port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep:
            host, port_text = value, ""
        if ":" in host or not host:
            return None
    if port_text or value.endswith(":"):
        if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
            return None
    host = host.lower().rstrip(".")
    if not host or not host.isascii() or _BAD_HOST_CHARS.search(host):
        return None
    return host, int(port_text) if port_text else None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _normalise_allowed(name: str) -> str:
    """An ``--allow-host`` value as compared: lower case, no brackets or port."""
    name = name.strip()
    if name in ("*", ""):
        return name
    leading = "." if name.startswith(".") else ""
    parsed = split_host(name[len(leading) :])
    if parsed is None:
        raise UserError(
            f"--allow-host: {name!r} is not a host name (give a name such as "
            f"viewer.example.org, a domain with a leading dot such as .example.org, or *)"
        )
    return leading + parsed[0]


class GuardPolicy:
    """What a `WebGuard` lets through (see the module docstring); built, and its options
    checked, before any server starts.

    `allow_hosts`: names allowed besides IP addresses, ``localhost`` and ``*.localhost``
    (``.domain`` allows a domain and its subdomains; ``*`` any host). `bound_host`: the
    address the server listens on (allowed too unless it is a wildcard such as 0.0.0.0).
    `token`: required on every request when set. `cookie`: accept the token as a cookie
    that ``GET /?token=`` sets (the viewer; browsers cannot send a header on a page
    load). `error_key`: the key of the message in error bodies (``detail`` for the
    viewer, ``error`` for the environment server, as their other errors). `max_body`:
    the largest request body in bytes (a larger one is a 413, before the app reads it).
    """

    def __init__(
        self,
        *,
        allow_hosts: Iterable[str] = (),
        bound_host: str | None = None,
        token: str | None = None,
        cookie: bool = False,
        error_key: str = "detail",
        max_body: int = 2**20,
    ) -> None:
        if token is not None and not _TOKEN.fullmatch(token):
            raise UserError(
                "--token: expected at least 8 characters among A-Z a-z 0-9 - . _ ~ (they "
                "travel in a header, a URL and a cookie unchanged), e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe())'`"
            )
        allowed = {_normalise_allowed(h) for h in allow_hosts}
        self.any_host = "*" in allowed
        allowed.discard("*")
        allowed.discard("")
        self.explicit = frozenset(allowed)
        names = set(allowed) | set(LOCAL_NAMES)
        if bound_host is not None and bound_host.strip("[]") not in _WILDCARD_BINDS:
            names.add(_normalise_allowed(bound_host.strip("[]")))
        self.names = frozenset(names)
        self.token = token.encode() if token is not None else None
        self.cookie = cookie
        self.error_key = error_key
        self.max_body = max_body

    # -- the checks ----------------------------------------------------------------------

    def _name_allowed(self, host: str, names: frozenset[str]) -> bool:
        if host in names:
            return True
        return any(n.startswith(".") and (host == n[1:] or host.endswith(n)) for n in names)

    def host_allowed(self, host: str) -> bool:
        """Whether a ``Host`` header's host (from `split_host`) names this server."""
        if self.any_host or host in self.names or host.endswith(".localhost"):
            return True
        return _is_ip(host) or self._name_allowed(host, self.names)

    def origin_allowed(self, origin: str, host_header: tuple[str, int | None]) -> bool:
        """Whether an ``Origin`` header is this server's own origin, or an allowed one."""
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme not in ("http", "https") or "/" in rest:
            return False
        parsed = split_host(rest)
        if parsed is None:
            return False
        default = 443 if scheme == "https" else 80
        own_host, own_port = host_header
        if parsed[0] == own_host and (parsed[1] or default) == (own_port or default):
            return True
        return self._name_allowed(parsed[0], self.explicit)

    def _token_ok(self, given: str | None) -> bool:
        assert self.token is not None
        return given is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self.token
        )

    def refusal(
        self, scope: Scope, headers: dict[str, str], repeated: set[str] | None = None
    ) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        """(status, message, extra headers) of the refusal of a request with `headers`
        (lower-case names; `repeated`: names that came more than once); None: let it in."""
        twice = sorted((repeated or set()) & {"host", "origin", "authorization"})
        if twice:
            return 400, f"the request has more than one {twice[0]} header", []
        raw_host = headers.get("host")
        if raw_host is None:
            return 400, "the request has no Host header", []
        host = split_host(raw_host)
        if host is None:
            return 400, f"malformed Host header {raw_host[:100]!r}", []
        if not self.host_allowed(host[0]):
            return (
                421,
                f"Host {raw_host[:100]!r} is not a name of this server (allowed: IP "
                f"addresses, localhost, {', '.join(sorted(self.names - {'localhost'}))}); "
                f"if you reach the server under this name, start it with --allow-host "
                f"{host[0]}",
                [],
            )
        length = headers.get("content-length")
        digits = length is not None and length.isascii() and length.strip().isdigit()
        if length is not None and (not digits or int(length) > self.max_body):
            return (
                413,
                f"request body over {self.max_body} bytes (Content-Length {length[:30]})",
                [],
            )
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin, host):
            return (
                403,
                f"cross-origin request from {origin[:100]!r} refused: this server answers "
                f"only its own pages (start it with --allow-host NAME to allow the origin "
                f"of host NAME)",
                [],
            )
        site = headers.get("sec-fetch-site")
        if origin is None and site == "cross-site":
            navigation = headers.get("sec-fetch-mode") == "navigate" and scope.get(
                "method", "GET"
            ) in ("GET", "HEAD")
            if not navigation:
                return 403, "cross-site request refused (Sec-Fetch-Site: cross-site)", []
        if self.token is None:
            return None
        auth = headers.get("authorization", "")
        scheme, _, credentials = auth.partition(" ")
        if scheme.lower() == "bearer" and self._token_ok(credentials.strip()):
            return None
        if self.cookie:
            if self._token_ok(_cookie(headers.get("cookie", ""), self._cookie_name(scope))):
                return None
            if scope.get("path") == "/" and self._token_ok(_query_token(scope)):
                return None  # the page load that signs the browser in (see _login)
        how = "Authorization: Bearer TOKEN"
        if self.cookie:
            how = f"open the URL the server printed (it ends in /?token=TOKEN) or send {how}"
        return (
            401,
            f"this server needs its token: {how}",
            [(b"www-authenticate", b'Bearer realm="palaestra"')],
        )

    def _cookie_name(self, scope: Scope) -> str:
        server = scope.get("server") or ("", 0)
        return f"palaestra_token_{server[1] if len(server) > 1 else 0}"

    def login(self, scope: Scope) -> list[tuple[bytes, bytes]] | None:
        """Headers of the redirect that turns ``GET /?token=T`` into a cookie; None for
        any other request."""
        if scope.get("path") != "/" or scope.get("method") not in ("GET", "HEAD"):
            return None
        if self.token is None or not self._token_ok(_query_token(scope)):
            return None
        pairs = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        rest = urlencode([(k, v) for k, v in pairs if k != "token"])
        cookie = (
            f"{self._cookie_name(scope)}={_query_token(scope)}; Path=/; HttpOnly; SameSite=Strict"
        )
        return [
            (b"location", ("/" + (f"?{rest}" if rest else "")).encode("latin-1")),
            (b"set-cookie", cookie.encode("latin-1")),
            (b"cache-control", b"no-store"),
        ]

    async def refuse(
        self,
        scope: Scope,
        send: Send,
        status: int,
        message: str,
        extra: list[tuple[bytes, bytes]],
    ) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        body = json.dumps({self.error_key: message}).encode()
        await _respond(send, status, body, [(b"content-type", b"application/json"), *extra])


class WebGuard:
    """The ASGI middleware that applies a `GuardPolicy` to every HTTP (and websocket)
    request before `app` sees it: ``app.add_middleware(WebGuard, policy=policy)``."""

    def __init__(self, app: ASGIApp, *, policy: GuardPolicy) -> None:
        self.app = app
        self.policy = policy

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        repeated: set[str] = set()
        for key, value in scope.get("headers") or ():
            name = key.decode("latin-1").lower()
            if name in headers:
                repeated.add(name)
            else:
                headers[name] = value.decode("latin-1")
        refusal = self.policy.refusal(scope, headers, repeated)
        if refusal is not None:
            status, message, extra = refusal
            await self.policy.refuse(scope, send, status, message, extra)
            return
        if self.policy.token is not None and self.policy.cookie and scope["type"] == "http":
            login = self.policy.login(scope)
            if login is not None:
                await _respond(send, 303, b"", [*login])
                return
        if (
            scope["type"] == "http"
            and "transfer-encoding" in headers
            and scope.get("method") not in ("GET", "HEAD", "OPTIONS")
        ):
            # no Content-Length to check up front: read the body here, within the limit
            # (not for methods whose routes never read one: waiting for a body a client
            # announced but does not send would hold an answer the app can give now)
            read = await _read_bounded(receive, self.policy.max_body)
            if read is None:
                message = f"request body over {self.policy.max_body} bytes"
                await self.policy.refuse(scope, send, 413, message, [])
                return
            receive = _replay(read[0], receive)
        await self.app(scope, receive, send)


async def _read_bounded(receive: Receive, limit: int) -> tuple[bytes, bool] | None:
    """The whole body of a request without a Content-Length (chunked), read up to
    `limit` bytes: (body, whether the client disconnected); None once it passes `limit`."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False


def _replay(body: bytes, receive: Receive) -> Receive:
    """`receive` that first gives `body` as one message, then defers to `receive`."""
    sent = False

    async def replay() -> MutableMapping[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _query_token(scope: Scope) -> str | None:
    query = scope.get("query_string", b"").decode("latin-1")
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "token":
            return value
    return None


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name:
            return value
    return None


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
