"""The evaluate stage: held-out loss, perplexity and bits per byte of both models against a
unigram baseline (lm.py), chat replies scored against references (samples.py, similarity.py),
and the report card (report.py).

stage.py is the entry; run.py the work; inputs.py reads the held-out sets."""
