"""The viewer on a real server refuses what a web page could make a browser send it:
a rebinding page's Host, another site's Origin, requests without the token; and it
answers parameters out of range with a 400, never a 500."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from palaestra.cli import main
from palaestra.viewer import EpisodeFilter, StoreReader, ViewerServer, create_app
from tests._raw_http import ErrorLog, address, raw_request
from tests.viewer.conftest import ViewerRuns

TOKEN = "s3cret-token_for.tests~1"


@pytest.fixture(scope="module")
def server(viewer_runs: ViewerRuns) -> Iterator[ViewerServer]:
    with ViewerServer(viewer_runs.store, allow_hosts=["viewer.lab.example"]) as opened:
        yield opened


@pytest.fixture(scope="module")
def locked(viewer_runs: ViewerRuns) -> Iterator[ViewerServer]:
    with ViewerServer(viewer_runs.store, token=TOKEN) as opened:
        yield opened


def _port(server: ViewerServer) -> int:
    return address(server.url)[1]


def test_a_rebinding_host_is_refused(server):
    port = _port(server)
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}"):
        refused = raw_request(server.url, target=b"/api/runs", host=host.encode())
        assert refused.status == 421, (host, refused)
        detail = refused.json()["detail"]
        assert "is not a name of this server" in detail and "--allow-host" in detail
    page = raw_request(server.url, target=b"/", host=f"evil.example:{port}".encode())
    assert page.status == 421 and b"<html" not in page.body


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "LOCALHOST.", "app.localhost", "[::1]", "10.1.2.3",
     "viewer.lab.example", "Viewer.Lab.Example."],
)  # fmt: skip
def test_own_and_allowed_names_are_answered(server, host):
    answered = raw_request(server.url, target=b"/api/runs", host=f"{host}:{_port(server)}".encode())
    assert answered.status == 200, answered
    assert answered.json()["total"] == 3


def test_a_subdomain_needs_a_leading_dot(viewer_runs):
    with ViewerServer(viewer_runs.store, allow_hosts=[".lab.example"]) as wide:
        for host in (b"lab.example", b"a.b.lab.example"):
            assert raw_request(wide.url, target=b"/api/runs", host=host).status == 200
        assert raw_request(wide.url, target=b"/api/runs", host=b"lab.example.evil").status == 421
    with ViewerServer(viewer_runs.store, allow_hosts=["lab.example"]) as exact:
        assert raw_request(exact.url, target=b"/api/runs", host=b"a.lab.example").status == 421


def test_malformed_or_missing_hosts_are_bad_requests(server):
    for host in (b"", b"a b", b"x:y", b"[::1", b"h:99999", b"@evil", b"a/b"):
        assert raw_request(server.url, target=b"/api/runs", host=host).status == 400, host
    twice = raw_request(server.url, target=b"/api/runs", headers=[(b"Host", b"localhost")])
    assert twice.status == 400


def test_other_sites_pages_are_refused(server):
    own = f"http://127.0.0.1:{_port(server)}".encode()
    for origin in (b"http://evil.example", b"null", own + b"0", b"http://127.0.0.1:1",
                   b"file://", b"http://localhost:" + str(_port(server)).encode()):  # fmt: skip
        refused = raw_request(server.url, target=b"/api/runs", headers=[(b"Origin", origin)])
        assert refused.status == 403, origin
        assert "cross-origin request" in refused.json()["detail"]
    same = raw_request(server.url, target=b"/api/runs", headers=[(b"Origin", own)])
    assert same.status == 200
    allowed = [(b"Origin", b"https://viewer.lab.example")]
    assert raw_request(server.url, target=b"/api/runs", headers=allowed).status == 200
    # a script or image tag of another site (no Origin) is refused; a link to the page is not
    cross = [(b"Sec-Fetch-Site", b"cross-site"), (b"Sec-Fetch-Mode", b"no-cors")]
    assert raw_request(server.url, target=b"/api/runs", headers=cross).status == 403
    link = [(b"Sec-Fetch-Site", b"cross-site"), (b"Sec-Fetch-Mode", b"navigate")]
    assert raw_request(server.url, target=b"/", headers=link).status == 200


def test_the_token_is_required_when_set(locked):
    bare = raw_request(locked.url, target=b"/api/runs")
    assert bare.status == 401 and bare.headers["www-authenticate"].startswith("Bearer")
    assert "?token=" in bare.json()["detail"]
    assert raw_request(locked.url, target=b"/").status == 401
    wrong = [(b"Authorization", b"Bearer " + TOKEN.encode() + b"x")]
    assert raw_request(locked.url, target=b"/api/runs", headers=wrong).status == 401
    bearer = [(b"Authorization", b"Bearer " + TOKEN.encode())]
    assert raw_request(locked.url, target=b"/api/runs", headers=bearer).status == 200
    # the token on an API URL is not accepted (it would end up in logs and history)
    url = b"/api/runs?token=" + TOKEN.encode()
    assert raw_request(locked.url, target=url).status == 401


def test_opening_the_printed_url_signs_the_browser_in(locked):
    with httpx.Client(base_url=locked.url, timeout=10) as browser:
        login = browser.get("/", params={"token": TOKEN})
        assert login.status_code == 303 and login.headers["location"] == "/"
        cookie = login.headers["set-cookie"]
        assert f"palaestra_token_{_port(locked)}={TOKEN}" in cookie
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert browser.get("/").status_code == 200  # the cookie, kept by the client
        assert browser.get("/api/runs").json()["total"] == 3
    with httpx.Client(base_url=locked.url, timeout=10) as other:
        assert other.get("/", params={"token": "not-the-token"}).status_code == 401
        assert "set-cookie" not in other.get("/", params={"token": "x"}).headers


def test_bad_options_are_user_errors(viewer_runs, capsys):
    store = str(viewer_runs.store)
    assert main(["view", "--store", store, "--no-open", "--token", "short"]) == 2
    assert "--token: expected at least 8 characters" in capsys.readouterr().err
    assert main(["view", "--store", store, "--no-open", "--allow-host", "a/b"]) == 2
    assert "--allow-host: 'a/b' is not a host name" in capsys.readouterr().err


def test_view_prints_a_url_with_the_token(viewer_runs):
    process = subprocess.Popen(
        [sys.executable, "-m", "palaestra", "view", "--store", str(viewer_runs.store),
         "--port", "0", "--no-open"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PALAESTRA_VIEW_TOKEN": TOKEN},
    )  # fmt: skip
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split(" at ")[1].split()[0]
        assert url.endswith(f"/?token={TOKEN}")
        base = url.split("?")[0]
        assert httpx.get(base + "api/runs", timeout=10).status_code == 401
        with httpx.Client(timeout=10, follow_redirects=True) as browser:
            assert "<title>palaestra viewer</title>" in browser.get(url).text
            assert browser.get(base + "api/runs").status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err


BIG = 2**63
BAD_PARAMS = [
    ("/api/runs", {"offset": BIG}, "offset"),
    ("/api/runs", {"offset": 10**40}, "offset"),
    ("/api/episodes", {"run": "tooluse", "offset": BIG}, "offset"),
    ("/api/episode", {"id": BIG}, "id"),
    ("/api/episode", {"id": -1}, "id"),
    ("/api/events", {"episode": BIG}, "episode"),
    ("/api/events", {"episode": 1, "after_seq": BIG}, "after_seq"),
    ("/api/events", {"episode": 1, "after_seq": -2}, "after_seq"),
    ("/api/event", {"episode": BIG, "seq": 0}, "episode"),
    ("/api/event", {"episode": 1, "seq": BIG}, "seq"),
    ("/api/episodes", {"run": "tooluse", "task": "x" * 60_000}, "task"),
    ("/api/episodes", {"run": "tooluse", "job": "%" * 2000}, "job"),
    ("/api/run", {"run": "r" * 5000}, "run"),
    ("/api/facets", {"run": "_%" * 8_000}, "run"),
    ("/api/episodes", {"run": "tooluse", "outcome": [f"o{i}" for i in range(100)]}, "outcome"),
    ("/api/events", {"episode": 1, "kind": [f"k{i}" for i in range(100)]}, "kind"),
    ("/api/events", {"episode": 1, "agent": "a" * 2000}, "agent"),
    ("/api/episode", {"run": "tooluse", "episode_id": "e" * 2000}, "episode_id"),
]


@pytest.mark.parametrize(("path", "params", "name"), BAD_PARAMS)
def test_parameters_out_of_range_are_400s(viewer_runs, path, params, name):
    with TestClient(create_app(viewer_runs.store), base_url="http://127.0.0.1") as client:
        response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith(name), response.json()


@pytest.mark.parametrize(
    ("path", "params"),
    [("/api/episodes", {"run": "tooluse", "score_min": "nan"}),
     ("/api/episodes", {"run": "tooluse", "score_max": "inf"}),
     ("/api/episode", {"id": "1.5"}),
     ("/api/events", {"episode": "ten"})],
)  # fmt: skip
def test_values_of_the_wrong_type_are_422s_with_one_line(viewer_runs, path, params):
    with TestClient(create_app(viewer_runs.store), base_url="http://127.0.0.1") as client:
        response = client.get(path, params=params)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str) and next(iter(params.keys() - {"run"})) in detail


def test_repeated_values_cost_one_sql_parameter_each(viewer_runs):
    """SQLite takes at most 32,766 parameters in a statement: repeated filter values are
    sent once (the API also refuses more than MAX_VALUES distinct ones)."""
    with StoreReader(viewer_runs.store) as reader:
        where = EpisodeFilter(outcome=("success",) * 40_000)
        assert reader.episodes("tooluse", where)["total"] == 6
        (episode,) = reader.episodes("system")["items"]
        page = reader.events(episode["id"], kinds=("tool_call",) * 40_000)
        assert {e["kind"] for e in page["items"]} == {"tool_call"}
    with TestClient(create_app(viewer_runs.store), base_url="http://127.0.0.1") as client:
        repeated = client.get(
            "/api/episodes", params={"run": "tooluse", "outcome": ["success"] * 3000}
        )
        assert repeated.status_code == 200 and repeated.json()["total"] == 6


def test_huge_integers_on_the_real_server_are_400s(server):
    with ErrorLog() as log:
        for target in (f"/api/episode?id={BIG}", f"/api/events?episode=1&after_seq={BIG * 10}",
                       f"/api/event?episode={BIG}&seq=0", f"/api/runs?offset={BIG}"):  # fmt: skip
            assert raw_request(server.url, target=target.encode()).status == 400, target
    assert not log.records, log.text()
