"""The tokenizer stage and the token-shard format the pretrain stage reads.

train.py (BPE training, the Hugging Face folder), shards.py (binary shard format),
loader.py (TokenLoader batches), stage.py (build_tokenizer), chat.py (special tokens, chat format).
"""
