"""The web viewer: a local web UI over the event store (`palaestra view`).

It lists runs, a run's episodes with filters (outcome, score range, env, job, agent,
task text) and pages, and one episode as a timeline with a column per agent, events
nested by `parent` and the JSON of any event. Every page is one bounded query on an
index through the store's reader API (`palaestra.store.ReadOnlyStore`, wrapped by
`StoreReader`), so it stays quick on a store of millions of events. The page
is static HTML/JS/CSS shipped in the package: no CDN, no build step. API and UI:
docs/viewer.md.

```python
from palaestra.viewer import ViewerServer

with ViewerServer("runs/palaestra.db") as server:
    print(server.url)
```
"""

from typing import TYPE_CHECKING

from palaestra._lazy import lazy_exports

if TYPE_CHECKING:
    from palaestra.viewer._app import create_app
    from palaestra.viewer._defaults import DEFAULT_HOST, DEFAULT_PORT, TOKEN_ENV, token_from_env
    from palaestra.viewer._queries import OUTCOMES, EpisodeFilter, NotFound, StoreReader
    from palaestra.viewer._serve import ViewerServer, serve
    from palaestra.viewer._summary import describe_event
else:
    __getattr__, __dir__ = lazy_exports(
        __name__,
        {
            "palaestra.viewer._app": ("create_app",),
            "palaestra.viewer._defaults": (
                "DEFAULT_HOST",
                "DEFAULT_PORT",
                "TOKEN_ENV",
                "token_from_env",
            ),
            "palaestra.viewer._queries": ("OUTCOMES", "EpisodeFilter", "NotFound", "StoreReader"),
            "palaestra.viewer._serve": ("ViewerServer", "serve"),
            "palaestra.viewer._summary": ("describe_event",),
        },
    )

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "OUTCOMES",
    "TOKEN_ENV",
    "EpisodeFilter",
    "NotFound",
    "StoreReader",
    "ViewerServer",
    "create_app",
    "describe_event",
    "serve",
    "token_from_env",
]
