import json
import random

import pytest

from danlu.tokens.chat import BOS, CHAT_TEMPLATE, END, EOS, PAD, ROLE_TOKENS, SPECIAL_TOKENS, encode_conversation
from danlu.tokenizer.train import new_bpe_tokenizer, replace_lone_surrogates

CONVERSATIONS = [
    [{"role": "user", "content": "Hi there!"}],
    [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "What is 12345 + 1?"},
        {"role": "assistant", "content": "12346."},
    ],
    [
        {"role": "user", "content": "  leading spaces\n\nand blank lines  "},
        {"role": "assistant", "content": "日本語 😀 e\u0301"},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "ok\n"},
    ],
]


def random_unicode(rng: random.Random, n: int) -> str:
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x4E00, 0x9FFF), (0x3040, 0x30FF),
              (0x1F300, 0x1FAFF), (0x0600, 0x06FF), (0x0, 0x1F)]
    chars = []
    for _ in range(n):
        low, high = rng.choice(ranges)
        chars.append(chr(rng.randint(low, high)))
    return "".join(chars)


def test_round_trip_random_unicode(hf_tokenizer):
    rng = random.Random(7)
    for _ in range(50):
        text = random_unicode(rng, rng.randint(0, 80))
        ids = hf_tokenizer.encode(text, add_special_tokens=False)
        assert hf_tokenizer.decode(ids) == text


def test_round_trip_keeps_spaces_before_punctuation(hf_tokenizer):
    text = "a , b . c 's  \n\t end"
    assert hf_tokenizer.decode(hf_tokenizer.encode(text, add_special_tokens=False)) == text


def test_lone_surrogate_is_replaced_before_encoding(hf_tokenizer):
    text = "ab\ud800cd\udfff"
    with pytest.raises(TypeError):  # what tokenizers does with it: why the cleaning exists
        hf_tokenizer.encode(text)
    cleaned = replace_lone_surrogates(text)
    assert cleaned == "ab\ufffdcd\ufffd"
    assert hf_tokenizer.decode(hf_tokenizer.encode(cleaned, add_special_tokens=False)) == cleaned
    assert replace_lone_surrogates("ok 😀") == "ok 😀"


def test_digits_split_in_groups_of_three():
    pieces = [p for p, _ in new_bpe_tokenizer().pre_tokenizer.pre_tokenize_str("1234567 x")]
    assert pieces[:3] == ["123", "456", "7"]


def test_special_tokens_are_single_ids(hf_tokenizer):
    ids = [hf_tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS]
    assert ids == list(range(len(SPECIAL_TOKENS)))
    for token, token_id in zip(SPECIAL_TOKENS, ids):
        assert hf_tokenizer.encode(token, add_special_tokens=False) == [token_id]
    assert (hf_tokenizer.bos_token, hf_tokenizer.eos_token, hf_tokenizer.pad_token) == (BOS, EOS, PAD)
    assert set(hf_tokenizer.all_special_tokens) == set(SPECIAL_TOKENS)


def test_encoding_with_special_tokens_prepends_bos(hf_tokenizer):
    plain = hf_tokenizer.encode("hello world", add_special_tokens=False)
    assert hf_tokenizer.encode("hello world") == [hf_tokenizer.bos_token_id, *plain]


def test_saved_folder_has_template_and_max_length(tokenizer_dir, hf_tokenizer):
    config = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    assert config["chat_template"] == CHAT_TEMPLATE
    assert config["model_max_length"] == 256
    assert hf_tokenizer.model_max_length == 256
    assert type(hf_tokenizer).__name__ == "TokenizersBackend"


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_chat_template_matches_encode_conversation(hf_tokenizer, messages):
    ids, labels = encode_conversation(hf_tokenizer, messages)
    assert hf_tokenizer.apply_chat_template(messages, tokenize=True)["input_ids"] == ids
    assert hf_tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False) == ids
    assert len(labels) == len(ids)
    # The generation prompt is the assistant marker and its newline, after the conversation.
    prompt = hf_tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=False)
    assistant = hf_tokenizer.convert_tokens_to_ids(ROLE_TOKENS["assistant"])
    newline = hf_tokenizer.encode("\n", add_special_tokens=False)
    assert prompt == ids + [assistant, *newline]


def test_assistant_labels_end_with_end_token(hf_tokenizer):
    ids, labels = encode_conversation(hf_tokenizer, CONVERSATIONS[1])
    learned = [t for t in labels if t != -100]
    assert learned[-1] == hf_tokenizer.convert_tokens_to_ids(END)
    assert hf_tokenizer.decode(learned) == "\n12346." + END


HARD_PIECES = ["\u200d", "\ufe0f", "👩\u200d👩\u200d👧", "🇯🇵", "a\u0301\u0302\u0323", "𠀀𪚥", "\u0000", "\r\n",
               "\ufeff", "\u202e", "ﷺ", "\U0010ffff"]


def test_round_trip_random_unicode_with_lone_surrogates(hf_tokenizer, tokenizer_dir):
    """Astral CJK, ZWJ emoji, stacked combining marks, controls and lone surrogates: nothing
    crashes, and once the surrogates are replaced the text comes back exactly."""
    from tokenizers import Tokenizer

    raw = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
    rng = random.Random(11)
    for _ in range(100):
        parts = [random_unicode(rng, rng.randint(0, 10)) for _ in range(4)]
        parts += [rng.choice(HARD_PIECES), chr(rng.randint(0xD800, 0xDFFF)),
                  chr(rng.randint(0x20000, 0x2A6DF))]
        rng.shuffle(parts)
        text = replace_lone_surrogates("".join(parts))
        assert not any(0xD800 <= ord(c) <= 0xDFFF for c in text)
        ids = hf_tokenizer.encode(text, add_special_tokens=False)
        assert hf_tokenizer.decode(ids) == text
        assert raw.decode(raw.encode(text, add_special_tokens=False).ids) == text
        assert max(ids, default=0) < hf_tokenizer.vocab_size


def test_every_single_id_decodes_without_crashing(hf_tokenizer):
    """Pieces of multi-byte characters decode to U+FFFD rather than raising."""
    for token_id in range(len(hf_tokenizer)):
        assert isinstance(hf_tokenizer.decode([token_id]), str)
