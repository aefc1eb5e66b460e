"""Fuzzing the environment server's AgentGym verbs on a real server (uvicorn on
127.0.0.1 serving graph.coloring): random sequences of create / reset / step /
observation / score / tasks / agents / close with random JSON, broken bodies, odd
headers and hosts, sent as raw bytes. No request may get a 5xx other than a full
server's 503, hang, or log a traceback; the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from palaestra.envs.remote import EnvServer
from tests._raw_http import ErrorLog, raw_request

VERBS = [
    (b"GET", "/"), (b"POST", "/create"), (b"POST", "/reset"), (b"POST", "/step"),
    (b"GET", "/observation"), (b"GET", "/score"), (b"GET", "/tasks"), (b"GET", "/agents"),
    (b"POST", "/close"), (b"GET", "/docs"), (b"GET", "/openapi.json"), (b"DELETE", "/step"),
    (b"GET", "/create"), (b"POST", "/nope"),
]  # fmt: skip
JSON = [(b"Content-Type", b"application/json")]
AGENTS = ["Michael", "Jennifer", "David", "Jessica", "James", "Lisa", "nobody", ""]
"""The agents of graph.coloring's 6-node task, and two it does not have."""

json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.integers(min_value=-1, max_value=12),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=30),
        st.sampled_from(["ws-6-0", "ba-6-1", "delaunay-6-2", "ws-9999-0", "1", "boom"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
LIVE = -12345
"""Stands for the id of the instance each example creates first (replaced in the bytes)."""
env_idx = st.one_of(
    st.just(LIVE), st.just(LIVE), st.integers(min_value=0, max_value=6), json_values
)
action = st.fixed_dictionaries(
    {},
    optional={
        "text": st.one_of(st.text(max_size=60), json_values),
        "tool_calls": st.one_of(
            st.just([]),
            st.lists(
                st.fixed_dictionaries(
                    {"id": st.text(max_size=5), "name": st.text(max_size=10)},
                    optional={"arguments": json_values},
                ),
                max_size=2,
            ),
            json_values,
        ),
        "data": json_values,
    },
)
body_fields = {
    "/create": st.fixed_dictionaries(
        {}, optional={"params": st.one_of(json_values, st.just({"n": 6}), st.just({"n": 10**9}))}
    ),
    "/reset": st.fixed_dictionaries(
        {"env_idx": env_idx},
        optional={"seed": json_values, "task": json_values, "data_idx": json_values},
    ),
    "/step": st.fixed_dictionaries(
        {"env_idx": env_idx},
        optional={
            "actions": st.one_of(st.dictionaries(st.sampled_from(AGENTS), action), json_values),
            "action": json_values,
        },
    ),
    "/close": st.fixed_dictionaries({"env_idx": env_idx}),
}
query_fields = st.lists(
    st.tuples(
        st.sampled_from(["env_idx", "params", "x"]),
        st.one_of(env_idx.map(json.dumps), st.text(max_size=20), st.just('{"n": 6}')),
    ),
    max_size=3,
)
raw_bodies = st.one_of(
    st.binary(max_size=100),
    st.sampled_from(
        [
            b"{",
            b"[" * 5000,
            b'{"env_idx": 0' + b"}" * 3,
            b"null",
            b"1e999",
            b'{"env_idx": 1e400}',
            b'{"env_idx": "0"}',
            b"\xff\xfe",
        ]
    ),  # fmt: skip
)


@st.composite
def requests(draw: Any) -> tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]:
    method, path = draw(st.sampled_from(VERBS))
    headers = [(b"Content-Type", draw(st.sampled_from([b"application/json", b"text/plain"])))]
    if draw(st.booleans()) and path in body_fields:
        body = json.dumps(draw(body_fields[path])).encode()
    elif draw(st.booleans()):
        body = draw(raw_bodies)
    else:
        body = b""
    query = "&".join(f"{k}={v}" for k, v in draw(query_fields))
    target = (path + ("?" + query if query else "")).encode("utf-8", "surrogatepass")
    target = bytes(c for c in target if c not in b"\r\n \t")
    extra = draw(
        st.lists(
            st.tuples(
                st.sampled_from([b"Origin", b"Authorization", b"X-Env", b"Sec-Fetch-Site"]),
                st.sampled_from([b"null", b"http://evil.example", b"Bearer x", b"same-origin"]),
            ),
            max_size=2,
        )
    )
    return method, target, headers + extra, body


STATUSES: list[int] = []


@pytest.fixture(scope="module")
def server() -> Iterator[EnvServer]:
    with EnvServer("graph.coloring", {"n": 6}, max_instances=12, idle_timeout_s=1) as opened:
        yield opened


@settings(
    max_examples=150,
    derandomize=True,  # the same examples on every run: a failure reproduces, CI never flakes
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(sequence=st.lists(requests(), min_size=1, max_size=6))
def test_random_verb_sequences_get_no_5xx(server, sequence):
    created = raw_request(server.url, b"POST", b"/create", [], b"")
    live = str(created.json()["env_idx"]).encode() if created.status == 200 else b"0"
    with ErrorLog() as log:
        for method, target, headers, body in sequence:
            target, body = (
                target.replace(str(LIVE).encode(), live),
                body.replace(str(LIVE).encode(), live),
            )
            answer = raw_request(server.url, method, target, headers, body, timeout_s=15)
            assert answer.status != 0, (method, target, body[:200])
            if answer.status == 503:
                assert answer.headers.get("retry-after") == "1"  # full: a documented answer
            else:
                assert answer.status < 500, (method, target, body[:200], answer)
            assert b"Traceback" not in answer.body
            STATUSES.append(answer.status)
    assert not log.records, log.text()
    closed = raw_request(server.url, b"POST", b"/close", JSON, b'{"env_idx": ' + live + b"}")
    assert closed.status in (200, 404)  # 404: a close in the sequence came first


def test_the_server_still_plays_after_the_fuzzing(server):
    # the fuzzing reached the verbs themselves (not only their validation) ...
    assert {200, 404, 409, 422} <= set(STATUSES), sorted(set(STATUSES))
    # ... and the server still plays an episode
    for idx in list(server.app.state.pool.instances):
        raw_request(server.url, b"POST", b"/close", JSON, json.dumps({"env_idx": idx}).encode())
    created = raw_request(server.url, b"POST", b"/create", [], b"")
    assert created.status == 200, created
    idx = created.json()["env_idx"]
    reset = raw_request(
        server.url, b"POST", b"/reset", JSON, json.dumps({"env_idx": idx, "seed": 0}).encode()
    )
    assert reset.status == 200 and set(reset.json()["observations"]) == set(AGENTS[:6])
