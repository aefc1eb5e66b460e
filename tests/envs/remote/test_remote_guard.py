"""The environment server refuses what a web page could make a browser send it (a
rebinding page's Host, another site's Origin), requires its token when it has one, and
its client sends the token and the Host it connects to."""

from __future__ import annotations

import asyncio
import json

import pytest

from palaestra.core import Action, UserError
from palaestra.envs import make
from palaestra.envs.remote import EnvServer, HttpEnvironment
from tests._raw_http import ErrorLog, address, raw_request

TOKEN = "env-server-token-0123"
JSON = [(b"Content-Type", b"application/json")]


def _instances(server: EnvServer) -> int:
    health = raw_request(server.url, target=b"/")
    assert health.status == 200, health
    return int(health.json()["instances"])


def test_a_rebinding_page_cannot_create_or_step(toy_server):
    port = address(toy_server.url)[1]
    for host in (f"attacker.example:{port}".encode(), b"attacker.example"):
        refused = raw_request(toy_server.url, b"POST", b"/create", JSON, b"{}", host=host)
        assert refused.status == 421
        assert "--allow-host attacker.example" in refused.json()["error"]
    assert _instances(toy_server) == 0


def test_another_sites_page_cannot_post(toy_server):
    # a form or fetch from another site: the Host is right, the Origin is not
    for origin in (b"http://attacker.example", b"null"):
        headers = [*JSON, (b"Origin", origin)]
        refused = raw_request(toy_server.url, b"POST", b"/create", headers, b"{}")
        assert refused.status == 403 and "cross-origin" in refused.json()["error"]
    cross = [(b"Content-Type", b"text/plain"), (b"Sec-Fetch-Site", b"cross-site")]
    assert raw_request(toy_server.url, b"POST", b"/create", cross, b"{}").status == 403
    assert _instances(toy_server) == 0


def test_allowed_names_are_answered(toy_id):
    with EnvServer(toy_id, allow_hosts=["envs.lab.example"]) as server:
        port = address(server.url)[1]
        for host in (b"envs.lab.example", f"ENVS.lab.example.:{port}".encode(), b"localhost"):
            created = raw_request(server.url, b"POST", b"/create", JSON, b"{}", host=host)
            assert created.status == 200, (host, created)
        assert raw_request(server.url, host=b"other.lab.example").status == 421


def test_the_token_is_required_and_the_client_sends_it(toy_id, monkeypatch):
    monkeypatch.delenv("PALAESTRA_ENV_TOKEN", raising=False)
    with EnvServer(toy_id, token=TOKEN) as server:
        bare = raw_request(server.url, b"POST", b"/create", JSON, b"{}")
        assert bare.status == 401 and bare.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer TOKEN" in bare.json()["error"]
        wrong = [*JSON, (b"Authorization", b"Bearer nope-nope-nope")]
        assert raw_request(server.url, b"POST", b"/create", wrong, b"{}").status == 401
        # the environment server takes no token in a URL or a cookie
        cookie = [(b"Cookie", f"palaestra_token_{address(server.url)[1]}={TOKEN}".encode())]
        assert raw_request(server.url, target=f"/?token={TOKEN}".encode()).status == 401
        assert raw_request(server.url, headers=cookie).status == 401

        async def play(client: HttpEnvironment) -> float:
            await client.reset(seed=1)
            for _ in range(3):
                step = await client.step({"a": Action(text="1")})
            assert step.terminated
            return client.score().value

        assert asyncio.run(play(HttpEnvironment(server.url, token=TOKEN))) == 1.0
        with pytest.raises(UserError, match="HTTP 401.*PALAESTRA_ENV_TOKEN"):
            asyncio.run(play(HttpEnvironment(server.url, retries=0)))
        monkeypatch.setenv("PALAESTRA_ENV_TOKEN", TOKEN)
        assert asyncio.run(play(HttpEnvironment(server.url))) == 1.0
        # remote.http reads the variable its config names; the config holds no token
        monkeypatch.delenv("PALAESTRA_ENV_TOKEN")
        monkeypatch.setenv("MY_ENV_TOKEN", TOKEN)
        env = make("remote.http", url=server.url, env=toy_id, token_env="MY_ENV_TOKEN")
        assert asyncio.run(play(env)) == 1.0  # type: ignore[arg-type]


def test_the_client_sends_the_host_it_connects_to(toy_id, monkeypatch):
    monkeypatch.setenv("PALAESTRA_ENV_TOKEN", TOKEN)
    seen: list[dict[str, str]] = []
    server = EnvServer(toy_id, token=TOKEN)
    app = server.app

    async def recording(scope, receive, send):  # what reached the server, before the guard
        if scope["type"] == "http":
            seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await app(scope, receive, send)

    server.app = recording
    with server:
        port = address(server.url)[1]
        client = HttpEnvironment(f"http://localhost:{port}", retries=0)
        observations = asyncio.run(client.reset(seed=0))
        assert "count 0" in observations["a"].text
        asyncio.run(client.aclose())
    assert seen and all(h["host"] == f"localhost:{port}" for h in seen)
    assert all(h["authorization"] == f"Bearer {TOKEN}" for h in seen)


def test_bodies_and_integers_are_bounded(toy_server):
    with ErrorLog() as log:
        huge = b'{"params": {"goal": 1}, "pad": "' + b"x" * (17 * 2**20) + b'"}'
        assert raw_request(toy_server.url, b"POST", b"/create", JSON, huge).status == 413
        created = raw_request(toy_server.url, b"POST", b"/create", JSON, b"{}").json()
        idx = created["env_idx"]
        for body in (
            {"env_idx": idx, "seed": 2**63},
            {"env_idx": idx, "seed": -(2**63) - 1},
            {"env_idx": 2**63, "seed": 0},
            {"env_idx": idx, "data_idx": 2**64},
        ):
            reset = raw_request(toy_server.url, b"POST", b"/reset", JSON, json.dumps(body).encode())
            assert reset.status == 422, (body, reset)
        deep = b"[" * 100_000 + b"]" * 100_000
        assert raw_request(toy_server.url, b"POST", b"/step", JSON, deep).status in (400, 422)
        nested = "%5B" * 20_000
        tasks = raw_request(toy_server.url, target=f"/tasks?params={nested}".encode())
        assert tasks.status == 422, tasks
    assert not log.records, log.text()


def test_bad_guard_options_are_user_errors(toy_id, capsys):
    from palaestra.cli import main

    assert main(["serve-env", toy_id, "--port", "0", "--token", "a b c d e f g h"]) == 2
    assert "--token: expected at least 8 characters" in capsys.readouterr().err
    assert main(["serve-env", toy_id, "--port", "0", "--allow-host", "x/y"]) == 2
    assert "--allow-host" in capsys.readouterr().err
