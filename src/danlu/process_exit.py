"""Ending a command's process without the interpreter's teardown (danlu.cli.entry).

Freeing every module and object of a process that imported Great Expectations, pandas and
pyarrow takes most of a second (0.8 s of `danlu curate`'s 6 on the benchmark), and nothing in
it is needed once the command's files are written and closed. What an exit must still do is
done first: non-daemon threads joined, atexit handlers run (MLflow's, multiprocessing's),
logging and the standard streams flushed.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading


def exit_now(code: int) -> None:
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say
            pass
    os._exit(code)
