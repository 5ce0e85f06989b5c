"""Great Expectations gates on stage outputs: the suites (suites.py), the frames they read
(frames.py), the runner and its Data Docs (runner.py), and the curate gate (curate_outputs.py)."""
