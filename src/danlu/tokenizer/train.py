"""Train a byte-level BPE tokenizer (GPT-4 split pattern) and save it as a Hugging Face folder.

The saved folder loads offline with `transformers.AutoTokenizer.from_pretrained(dir)` (a
`TokenizersBackend` in transformers 5) and carries the special tokens and CHAT_TEMPLATE of
`danlu.tokens.chat`. Encoding with `add_special_tokens=True` (the transformers default)
prepends <|bos|>, as every document in the token shards starts with it; the chat template
writes its own <|bos|> and `apply_chat_template` encodes without special tokens, so it is
never doubled.

Text must be valid Unicode: Python strings can hold lone surrogates ("\\ud800", e.g. from
JSON with broken escapes), which `tokenizers` refuses with a TypeError. Pass such text
through `replace_lone_surrogates` first: each lone surrogate becomes U+FFFD.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from danlu.errors import DataError
from danlu.tokens.chat import BOS, CHAT_TEMPLATE, END, EOS, PAD, ROLE_TOKENS, SPECIAL_TOKENS

# GPT-4 (cl100k_base) pre-tokenization, as tiktoken writes it: contractions, words with one
# leading non-letter, digits in groups of 1-3, punctuation runs, newlines, other whitespace.
GPT4_SPLIT_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}|"""
    r""" ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# Texts handed to the Rust trainer at a time: large enough to amortise the call, small in memory.
_TRAIN_BATCH = 1000


def replace_lone_surrogates(text: str) -> str:
    """Replace each lone surrogate code point with U+FFFD, so the text can be UTF-8 encoded."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def new_bpe_tokenizer() -> Tokenizer:
    """An untrained byte-level BPE with danlu's pre-tokenizer and decoder."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(GPT4_SPLIT_PATTERN), behavior="isolated"),
            # The regex already split the text; ByteLevel only maps bytes to printable symbols.
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def _batches(texts: Iterable[str]) -> Iterator[list[str]]:
    batch: list[str] = []
    for text in texts:
        batch.append(replace_lone_surrogates(text))
        if len(batch) >= _TRAIN_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def train_bpe(
    texts: Iterable[str], vocab_size: int, min_frequency: int, *, length: int | None = None
) -> Tokenizer:
    """Train on `texts`, one document each; SPECIAL_TOKENS take the first ids, in their order."""
    tokenizer = new_bpe_tokenizer()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_batches(texts), trainer, length=length)
    bos_id = tokenizer.token_to_id(BOS)
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
    )
    return tokenizer


def to_transformers(
    tokenizer: Tokenizer, *, model_max_length: int | None = None
) -> PreTrainedTokenizerFast:
    """Wrap a trained tokenizer for transformers: special tokens named, chat template set."""
    missing = [t for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is None]
    if missing:
        raise DataError(f"tokenizer lacks the special tokens {missing}; train it with train_bpe")
    extra = {} if model_max_length is None else {"model_max_length": model_max_length}
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[END, *ROLE_TOKENS.values()],
        # The default would rewrite " ." to "." on decode and break the round trip.
        clean_up_tokenization_spaces=False,
        **extra,
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def save_tokenizer(
    tokenizer: Tokenizer, folder: Path, *, model_max_length: int | None = None
) -> Path:
    """Write the Hugging Face tokenizer folder (tokenizer.json, tokenizer_config.json)."""
    wrapped = to_transformers(tokenizer, model_max_length=model_max_length)
    # Keep the template inside tokenizer_config.json, where every consumer looks for it.
    wrapped.save_pretrained(str(folder), save_jinja_files=False)
    return Path(folder)
