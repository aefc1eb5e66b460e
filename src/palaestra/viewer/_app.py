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

A bad parameter is a 400 (or FastAPI's 422 for a wrong type) whose `detail` names what
is wrong and the valid choices; an unknown run, episode or event is a 404. Everything is
read-only: the app never writes to the store. See docs/viewer.md.

(No `from __future__ import annotations` here: FastAPI reads the endpoints' parameter
annotations at runtime, and they name `Query` imported inside `create_app`.)
"""

from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from palaestra.core import UserError
from palaestra.viewer._queries import MAX_LIMIT, EpisodeFilter, NotFound, StoreReader

_STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}


def _static(name: str) -> str:
    return resources.files("palaestra.viewer").joinpath("static", name).read_text("utf-8")


def create_app(store: str | Path | StoreReader) -> Any:
    """The FastAPI app of the viewer over a store path (or an open `StoreReader`, which
    the caller closes)."""
    from fastapi import FastAPI, Query, Request
    from fastapi.responses import HTMLResponse, JSONResponse, Response

    reader = store if isinstance(store, StoreReader) else StoreReader(store)
    app = FastAPI(
        title="palaestra viewer",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.reader = reader
    if not isinstance(store, StoreReader):
        app.router.on_shutdown.append(reader.close)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(UserError)
    async def _bad_request(request: Request, exc: UserError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

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

    Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
    Offset = Annotated[int, Query(ge=0)]

    @app.get("/api/runs")
    def runs(limit: Limit = 50, offset: Offset = 0) -> dict[str, Any]:
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
        outcome: Annotated[list[str] | None, Query()] = None,
        env: str | None = None,
        job: str | None = None,
        agent: str | None = None,
        task: str | None = None,
        score_min: float | None = None,
        score_max: float | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> dict[str, Any]:
        """A page of a run's episodes, filtered; `total` counts all that match."""
        outcomes = tuple(
            part for value in outcome or () for part in value.split(",") if part.strip()
        )
        where = EpisodeFilter(
            outcome=tuple(o.strip() for o in outcomes),
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
        after_seq: Annotated[int, Query(ge=-1)] = -1,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 200,
        kind: Annotated[list[str] | None, Query()] = None,
        agent: str | None = None,
    ) -> dict[str, Any]:
        """A page of an episode's timeline: events with seq > after_seq, in order."""
        kinds = tuple(part for value in kind or () for part in value.split(",") if part)
        return reader.events(
            episode, after_seq=after_seq, limit=limit, kinds=kinds, agent=agent or None
        )

    @app.get("/api/event")
    def event(episode: int, seq: Annotated[int, Query(ge=0)]) -> dict[str, Any]:
        """One event exactly as stored (its JSON, parsed)."""
        return reader.event(episode, seq)

    return app
