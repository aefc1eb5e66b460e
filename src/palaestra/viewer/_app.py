"""The viewer's web app: a JSON API over `StoreReader` and the static page that uses it.

```
GET /                      the single-page UI (static/index.html, app.js, style.css)
GET /api/runs              ?limit&offset                      runs, newest first
GET /api/run               ?run                               one run + summary
GET /api/facets            ?run                               filter choices, with counts
GET /api/episodes          ?run&outcome&env&job&agent&task&score_min&score_max&limit&offset
GET /api/episode           ?id | ?run&episode_id              one episode row
GET /api/events            ?episode&after_seq&limit&kind&agent  a page of the timeline
GET /api/event             ?episode&seq                       one event's JSON
```

A bad parameter is a 400 (or a 422 for a value of the wrong type or out of its bounds)
whose `detail` is one line naming what is wrong and the valid choices; an unknown run,
episode or event is a 404. Every parameter is bounded (integers to what SQLite holds,
texts to `MAX_TEXT` characters, lists to `MAX_VALUES` values), so no request reaches the
store with a value it cannot take. Everything is read-only: the app never writes to the
store. Requests pass `palaestra._webguard.WebGuard` first (Host, Origin, optional token).
See docs/viewer.md.

(No `from __future__ import annotations` here: FastAPI reads the endpoints' parameter
annotations at runtime, and they name `Query` imported inside `create_app`.)
"""

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from palaestra._webguard import GuardPolicy, WebGuard
from palaestra.core import UserError
from palaestra.viewer._queries import (
    MAX_LIMIT,
    MAX_TEXT,
    MAX_VALUES,
    EpisodeFilter,
    NotFound,
    StoreReader,
)

_STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def _values(name: str, given: list[str] | None) -> tuple[str, ...]:
    """A repeatable, comma-separated parameter as distinct stripped values; a
    `UserError` beyond `MAX_VALUES` of them."""
    values: dict[str, None] = {}
    for value in given or ():
        if len(value) > MAX_TEXT:
            raise UserError(f"{name}: at most {MAX_TEXT} characters, got {len(value)}")
        for part in value.split(","):
            if part.strip():
                values[part.strip()] = None
        if len(values) > MAX_VALUES:
            raise UserError(f"{name}: at most {MAX_VALUES} distinct values")
    return tuple(values)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _static(name: str) -> str:
    return resources.files("palaestra.viewer").joinpath("static", name).read_text("utf-8")


def create_app(
    store: str | Path | StoreReader,
    *,
    allow_hosts: Iterable[str] = (),
    bound_host: str | None = None,
    token: str | None = None,
) -> Any:
    """The FastAPI app of the viewer over a store path (or an open `StoreReader`, which
    the caller closes).

    `allow_hosts`, `bound_host` and `token` configure its `WebGuard`: the ``Host`` names
    it answers besides IP addresses and localhost, the address it is bound to, and the
    token every request must carry (a bearer header, or the cookie that opening
    ``/?token=TOKEN`` sets)."""
    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    policy = GuardPolicy(
        allow_hosts=allow_hosts, bound_host=bound_host, token=token, cookie=True
    )  # checks the options before the store is opened
    reader = store if isinstance(store, StoreReader) else StoreReader(store)
    app = FastAPI(
        title="palaestra viewer",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.reader = reader
    app.add_middleware(WebGuard, policy=policy)
    if not isinstance(store, StoreReader):
        app.router.on_shutdown.append(reader.close)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UserError)
    async def _bad_request(request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "body")]
            got = err.get("input")
            shown = f" (got {_shown(got)})" if isinstance(got, str | int | float) else ""
            problems.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}{shown}")
        return JSONResponse({"detail": "; ".join(problems)}, status_code=422)

    no_cache = {"Cache-Control": "no-cache"}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(_static("index.html"), headers=no_cache)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        media = _STATIC.get(name)
        if media is None:
            return JSONResponse({"detail": f"no static file {name!r}"}, status_code=404)
        return Response(_static(name), media_type=media, headers=no_cache)

    # Integer ids, offsets and seqs, texts and lists are bounded by the reader (a 400
    # naming the parameter); a page size out of 1..MAX_LIMIT or a value of the wrong
    # type is FastAPI's 422.
    Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
    Many = Annotated[list[str] | None, Query()]
    Score = Annotated[float | None, Query(allow_inf_nan=False)]

    @app.get("/api/runs")
    def runs(limit: Limit = 50, offset: int = 0) -> dict[str, Any]:
        """Runs, newest first, with episode counts per outcome."""
        return reader.runs(limit=limit, offset=offset)

    @app.get("/api/run")
    def run(run: str) -> dict[str, Any]:
        """One run (an id, a unique prefix, or `last`): its row and summary."""
        return reader.run(run)

    @app.get("/api/facets")
    def facets(run: str) -> dict[str, Any]:
        """The values the episode filters can take in a run, with counts."""
        return reader.facets(run)

    @app.get("/api/episodes")
    def episodes(
        run: str,
        outcome: Many = None,
        env: str | None = None,
        job: str | None = None,
        agent: str | None = None,
        task: str | None = None,
        score_min: Score = None,
        score_max: Score = None,
        limit: Limit = 50,
        offset: int = 0,
    ) -> dict[str, Any]:
        """A page of a run's episodes, filtered; `total` counts all that match."""
        where = EpisodeFilter(
            outcome=_values("outcome", outcome),
            env=env or None,
            job=job or None,
            agent=agent or None,
            task=task or None,
            score_min=score_min,
            score_max=score_max,
        )
        return reader.episodes(run, where, limit=limit, offset=offset)

    @app.get("/api/episode")
    def episode(
        id: int | None = None, run: str | None = None, episode_id: str | None = None
    ) -> dict[str, Any]:
        """One episode by its store `id`, or by `run` and `episode_id`."""
        if id is not None:
            return reader.episode(id)
        if run and episode_id:
            return reader.episode(run=run, episode_id=episode_id)
        raise UserError("give the episode's `id`, or both `run` and `episode_id`")

    @app.get("/api/events")
    def events(
        episode: int,
        after_seq: int = -1,
        limit: Limit = 200,
        kind: Many = None,
        agent: str | None = None,
    ) -> dict[str, Any]:
        """A page of an episode's timeline: events with seq > after_seq, in order."""
        return reader.events(
            episode,
            after_seq=after_seq,
            limit=limit,
            kinds=_values("kind", kind),
            agent=agent or None,
        )

    @app.get("/api/event")
    def event(episode: int, seq: int) -> dict[str, Any]:
        """One event exactly as stored (its JSON, parsed)."""
        return reader.event(episode, seq)

    return app
