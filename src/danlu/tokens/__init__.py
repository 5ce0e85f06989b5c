"""The token formats the stages hand each other: the special tokens, the chat template and the
assistant-only labels (chat.py), the binary token shards (shards.py) and the batches read
from them (loader.py). Written by the tokenizer stage, read by every later one."""
