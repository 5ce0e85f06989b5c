"""Crash handling: `kill -9` of a process encoding a list of texts takes its forked encoding
workers with it at once, whether the encoding runs on the main thread or on another one.

(An idle forked worker exits by itself on EOF of its task pipe; one busy with a long range used
to finish it first, and only then die of the broken result pipe: here a range takes a minute.)"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from process_tree import descendants, seconds_until_gone, wait_for

from danlu.tokenizer import encode as encode_module


SCRIPT = """
import random, sys, threading, time
from danlu.tokenizer import encode
from danlu.tokenizer.encode import encode_texts

def long_range(bounds):  # a range as big as a minute of encoding
    if bounds[0] > 0:
        time.sleep(60)
    return real_range(bounds)

real_range, encode._encode_range = encode._encode_range, long_range

folder, in_thread = sys.argv[1], sys.argv[2] == "1"
rng = random.Random(0)
words = "the of and to in is was for on that with city music naïve café 日本語 1234".split()
texts = [" ".join(rng.choice(words) for _ in range(200)) for _ in range(5_000)]

def consume():
    for i, _ in enumerate(encode_texts(folder, texts, 2, engine="tiktoken")):
        if i == 0:
            print("encoding", flush=True)

if in_thread:
    t = threading.Thread(target=consume)
    t.start()
    t.join()
else:
    consume()
"""


@pytest.mark.skipif(encode_module._FORK is None, reason="forked workers are Linux-only")
@pytest.mark.parametrize("where", ["main thread", "other thread"])
def test_kill_9_while_encoding_leaves_no_worker_behind(tokenizer_dir: Path, where: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tokenizer_dir),
                             "1" if where == "other thread" else "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "encoding"
        wait_for(lambda: len(descendants(proc.pid)) == 2, 30, "two encoding workers")
        family = descendants(proc.pid)
        assert proc.poll() is None
    except BaseException:
        proc.kill()
        raise
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seconds = seconds_until_gone(family, 10)
    print(f"{where}: {len(family)} encoding workers gone {seconds:.2f} s after the parent's SIGKILL")
