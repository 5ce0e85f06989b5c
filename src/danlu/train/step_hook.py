"""Who hears of a training loop's steps besides its tracker: the Prefect flow sets a hook (a
progress artifact); under the CLI and DVC none is set. A context variable, so that a hook set in
one flow run's thread hears that run's loop only."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

StepHook = Callable[[str, int, int], None]  # (the loop's prefix, steps done, steps in all)

_hook: ContextVar[StepHook | None] = ContextVar("danlu_step_hook", default=None)


@contextmanager
def step_hook(hook: StepHook | None) -> Iterator[None]:
    token = _hook.set(hook)
    try:
        yield
    finally:
        _hook.reset(token)


def steps_done(prefix: str, done: int, total: int) -> None:
    if (hook := _hook.get()) is not None:
        hook(prefix, done, total)
