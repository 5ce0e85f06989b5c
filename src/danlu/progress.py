"""Progress of long work: a rich bar on an interactive terminal, periodic log lines elsewhere
(DVC, Prefect, CI), so stage code reports progress the same way under every entry point."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger("danlu.progress")


@contextmanager
def progress_bar(total: int, description: str, *, log_every_s: float = 10.0
                 ) -> Iterator[Callable[..., None]]:
    """Yield `advance(n=1, **fields)`; fields (e.g. loss=2.1) are shown beside the bar."""
    # rich allows one live display at a time: work on other threads (variants of an ablation
    # run at once) logs lines instead
    if sys.stderr.isatty() and threading.current_thread() is threading.main_thread():
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        columns = (TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(),
                   TextColumn("{task.fields[info]}"))
        with Progress(*columns, transient=False) as bar:
            task = bar.add_task(description, total=total, info="")

            def advance(n: int = 1, **fields: float) -> None:
                info = " ".join(f"{k}={v:.4g}" for k, v in fields.items())
                bar.update(task, advance=n, info=info)

            yield advance
        return

    done, last = 0, time.monotonic()

    def advance(n: int = 1, **fields: float) -> None:
        nonlocal done, last
        done += n
        now = time.monotonic()
        if now - last >= log_every_s or done >= total:
            last = now
            info = " ".join(f"{k}={v:.4g}" for k, v in fields.items())
            log.info("%s %d/%d %s", description, done, total, info)

    yield advance
