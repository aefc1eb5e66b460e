"""Fuzzing the viewer's HTTP API on a real server (uvicorn on 127.0.0.1, the real store
of tests/viewer/conftest.py): random paths, parameters, methods, headers and bodies,
sent as raw bytes. No request may get a 5xx, hang, or log a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palaestra.viewer import ViewerServer
from tests._raw_http import ErrorLog, address, raw_request
from tests.viewer.conftest import ViewerRuns

PATHS = [
    "/", "/api/runs", "/api/run", "/api/facets", "/api/episodes", "/api/episode",
    "/api/events", "/api/event", "/static/app.js", "/static/style.css", "/static/../_app.py",
    "/api/docs", "/api/openapi.json", "/api", "/api/", "/nope", "//api/runs", "/api/runs/",
]  # fmt: skip
PARAMS = [
    "run", "limit", "offset", "outcome", "env", "job", "agent", "task", "score_min",
    "score_max", "id", "episode_id", "episode", "after_seq", "kind", "seq", "token", "x",
]  # fmt: skip
SPECIAL = [
    "last", "tooluse", "tooluse-run", "errors-run", "system", "success,error", "running",
    "tool_call,score", "episode_end", "agent", "env", "shop", "", " ", "nan", "-nan", "inf",
    "-0", "1e309", "0x10", "１２", "٣", "9" * 40, "-" + "9" * 40, "%", "_", "\\", "'", '"',
    "\x00", "\ud800", "a" * 2000, "%" * 1500, ",".join(["success"] * 300), "1.5", "true",
]  # fmt: skip

values = st.one_of(
    st.sampled_from(SPECIAL),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.integers(min_value=-2, max_value=40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=40),
)
params = st.lists(st.tuples(st.sampled_from(PARAMS), values), max_size=6)
header_names = st.sampled_from(
    [
        b"Accept",
        b"Cookie",
        b"Authorization",
        b"Origin",
        b"Sec-Fetch-Site",
        b"Sec-Fetch-Mode",
        b"Content-Type",
        b"X-Forwarded-Host",
        b"Range",
        b"If-None-Match",
        b"Accept-Encoding",
        b"Transfer-Encoding",
        b"Expect",
        b"Connection",
    ]  # fmt: skip
)
header_values = st.one_of(
    st.sampled_from(
        [
            b"null",
            b"http://evil.example",
            b"cross-site",
            b"navigate",
            b"chunked",
            b"100-continue",
            b"gzip",
            b"bytes=0-",
            b"Bearer x",
            b"keep-alive",
        ]  # fmt: skip
    ),
    st.binary(max_size=60).map(lambda b: bytes(c for c in b if c not in b"\r\n")),
)


@pytest.fixture(scope="module")
def server(viewer_runs: ViewerRuns) -> Iterator[ViewerServer]:
    with ViewerServer(viewer_runs.store) as opened:
        yield opened


def _target(path: str, pairs: list[tuple[str, str]], raw_suffix: bytes) -> bytes:
    query = urlencode([(k, v.encode("utf-8", "surrogatepass")) for k, v in pairs])
    return quote(path, safe="/%").encode() + (b"?" + query.encode() if query else b"") + raw_suffix


@settings(
    max_examples=300,
    derandomize=True,  # the same examples on every run: a failure reproduces, CI never flakes
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    method=st.sampled_from([b"GET"] * 6 + [b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS"]),
    path=st.one_of(st.sampled_from(PATHS), st.text(max_size=30).map(lambda t: "/" + t)),
    pairs=params,
    raw_suffix=st.one_of(st.just(b""), st.binary(max_size=20)),
    headers=st.lists(st.tuples(header_names, header_values), max_size=4),
    body=st.one_of(st.just(b""), st.binary(max_size=200)),
    host=st.one_of(st.none(), st.sampled_from([b"localhost", b"evil.example", b"[::1]", b""])),
)
def test_random_requests_get_no_5xx(server, method, path, pairs, raw_suffix, headers, body, host):
    # no CR or LF in the request line (that would be a second request, not a path)
    target = bytes(c for c in _target(path, pairs, raw_suffix) if c not in b"\r\n \t")
    chunked = any(name == b"Transfer-Encoding" for name, _ in headers)
    if chunked:  # a complete request: the body in chunks (an incomplete one waits, rightly)
        body = (b"%X\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
    with ErrorLog() as log:
        answer = raw_request(
            server.url,
            method,
            target or b"/",
            headers,
            body,
            host=host,
            content_length=not chunked,
            timeout_s=15,
        )
    assert answer.status != 0, (method, target, headers)
    assert answer.status < 500, (method, target, headers, answer)
    assert b"Traceback" not in answer.body
    assert not log.records, log.text()


def test_the_server_still_answers_after_the_fuzzing(server):
    port = address(server.url)[1]
    answer = raw_request(server.url, target=b"/api/runs", host=f"localhost:{port}".encode())
    assert answer.status == 200 and answer.json()["total"] == 3
