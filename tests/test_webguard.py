"""`palaestra._webguard`: parsing Host and Origin headers, the policy's decisions, and
its body limit on a real server (a chunked body has no Content-Length to check)."""

from __future__ import annotations

import json

import pytest

from palaestra._webguard import GuardPolicy, split_host
from palaestra.core import UserError
from palaestra.envs.remote import EnvServer
from tests._raw_http import raw_request


@pytest.mark.parametrize(
    ("header", "parsed"),
    [
        ("localhost", ("localhost", None)),
        ("LocalHost.:8765", ("localhost", 8765)),
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:8000", ("::1", 8000)),
        ("[::1]", ("::1", None)),
        ("a.b-c.example", ("a.b-c.example", None)),
        ("", None),
        ("h:", None),
        ("h:99999", None),
        ("h:８０", None),  # fullwidth digits
        ("h:²", None),
        ("::1", None),
        ("[::1", None),
        ("[nothex]:1", None),
        ("[::1]x", None),
        ("a b", None),
        ("user@host", None),
        ("host/path", None),
        ("exаmple.com", None),  # a Cyrillic а: not a name a browser sends raw
        ("x" * 300, None),
    ],
)
def test_split_host(header, parsed):
    assert split_host(header) == parsed


def test_which_hosts_and_origins_a_policy_allows():
    policy = GuardPolicy(allow_hosts=["lab-box", ".corp.example"], bound_host="0.0.0.0")
    for host in ("localhost", "a.localhost", "127.0.0.1", "10.0.0.7", "::1", "lab-box",
                 "corp.example", "x.corp.example"):  # fmt: skip
        assert policy.host_allowed(host), host
    for host in ("0.0.0.0.evil", "lab-box.evil", "xcorp.example", "evil", "localhost.evil"):
        assert not policy.host_allowed(host), host
    own = ("127.0.0.1", 8765)
    assert policy.origin_allowed("http://127.0.0.1:8765", own)
    assert policy.origin_allowed("http://lab-box:3000", own)  # allowed by name
    assert not policy.origin_allowed("http://10.0.0.7:8765", own)  # an address, not ours
    assert not policy.origin_allowed("http://127.0.0.1:8766", own)
    assert not policy.origin_allowed("null", own)
    assert not policy.origin_allowed("http://127.0.0.1:8765/path", own)
    assert GuardPolicy(bound_host="viewer.lan").host_allowed("viewer.lan")
    assert GuardPolicy(allow_hosts=["*"]).host_allowed("anything.example")


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"token": "short"}, "--token: expected at least 8 characters"),
        ({"token": "has space in it"}, "--token"),
        ({"token": "semi;colon=x;"}, "--token"),
        ({"token": "ünïcode-token"}, "--token"),
        ({"allow_hosts": ["a/b"]}, "--allow-host: 'a/b' is not a host name"),
        ({"allow_hosts": ["a b"]}, "--allow-host"),
    ],
)
def test_bad_options_are_user_errors(options, problem):
    with pytest.raises(UserError, match=problem):
        GuardPolicy(**options)


def _chunked(data: bytes, size: int = 65536) -> bytes:
    parts = [b"%X\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
             for i in range(0, len(data), size)]  # fmt: skip
    return b"".join(parts) + b"0\r\n\r\n"


def test_a_chunked_body_is_read_within_the_limit():
    headers = [(b"Content-Type", b"application/json"), (b"Transfer-Encoding", b"chunked")]
    with EnvServer("graph.coloring", {"n": 6}) as server:
        small = _chunked(json.dumps({"params": {"n": 6}}).encode(), size=5)
        created = raw_request(server.url, b"POST", b"/create", headers, small, content_length=False)
        assert created.status == 200, created
        big = _chunked(b'{"params": {"pad": "' + b"x" * (17 * 2**20) + b'"}}')
        refused = raw_request(server.url, b"POST", b"/create", headers, big, content_length=False)
        assert refused.status == 413 and "over 16777216 bytes" in refused.json()["error"]
