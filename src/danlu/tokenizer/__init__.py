"""The tokenizer stage: a byte-level BPE trained on the curated documents (train.py), the corpus
encoded (encode.py, mixture.py) into token shards, and a report on the vocabulary (report.py).

stage.py is the entry; build.py the work. The formats other stages read (special tokens and
the chat template, the shards and their loader) are danlu.tokens, not this package."""
