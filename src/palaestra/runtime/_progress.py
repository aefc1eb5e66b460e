"""The live progress line of a run: episodes done / failed / running, events/s, tokens."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any


class Progress:
    """Counters the runner updates, rendered by rich as a live bar when enabled."""

    def __init__(self, *, total: int, already: int = 0, enabled: bool = True):
        self.total = total
        self.already = already
        self.enabled = enabled
        self.done = 0
        self.failed = 0
        self.running = 0
        self.events = 0
        self.tokens = 0
        self._start = time.perf_counter()
        self._live: Any = None

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        finished = self.already + self.done + self.failed
        return (
            f"episodes {finished}/{self.total}  done {self.done}  failed {self.failed}  "
            f"running {self.running}  |  {self.events / elapsed:,.0f} events/s  "
            f"{self.tokens:,} tokens  {elapsed:,.1f}s"
        )

    def _renderable(self) -> Any:
        from rich.progress_bar import ProgressBar
        from rich.table import Table

        grid = Table.grid(padding=(0, 1))
        finished = self.already + self.done + self.failed
        grid.add_row(
            ProgressBar(total=max(self.total, 1), completed=finished, width=30), self.line()
        )
        return grid

    def __enter__(self) -> Progress:
        if self.enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.live import Live

            self._live = Live(
                get_renderable=self._renderable,
                console=Console(stderr=True),
                refresh_per_second=4,
                transient=False,
            )
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.__exit__(exc_type, exc, tb)
            self._live = None
        elif self.enabled:
            print(self.line(), file=sys.stderr)
