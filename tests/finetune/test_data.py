from pathlib import Path

import pytest
import torch

from danlu.finetune.data import (Example, collate, collate_packed, encode_examples, pack,
                                 shuffled_batches, split_examples)
from danlu.finetune.formats import Conversation
from danlu.tokens.chat import IGNORE_INDEX

SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "What does str.split do?"}
REPLY = {"role": "assistant", "content": "It splits a string."}
CONV = Conversation("c1", [SYSTEM, USER, REPLY], "conv.jsonl", 1, "{...}")
MULTI = Conversation("c2", [SYSTEM, USER, REPLY,
                            {"role": "user", "content": "And str.join?"},
                            {"role": "assistant", "content": "It joins strings with a separator."}],
                     "conv.jsonl", 2, "{...}")


@pytest.fixture(scope="module")
def tok(tiny_tokenizer_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))


def expected_labels(tok, messages: list[dict]) -> list[int]:
    """Built independently of encode_conversation: render each message alone with the
    template's pieces, and learn exactly the assistant bodies with their <|end|>."""
    ids, labels = [tok.convert_tokens_to_ids("<|bos|>")], [IGNORE_INDEX]
    end = tok.convert_tokens_to_ids("<|end|>")
    for m in messages:
        role = [tok.convert_tokens_to_ids(f"<|{m['role']}|>")]
        body = tok.encode("\n" + m["content"], add_special_tokens=False) + [end]
        newline = tok.encode("\n", add_special_tokens=False)
        ids += role + body + newline
        labels += [IGNORE_INDEX] + (body if m["role"] == "assistant" else
                                    [IGNORE_INDEX] * len(body)) + [IGNORE_INDEX] * len(newline)
    return ids, labels


def test_multi_turn_mask_is_exactly_the_assistant_tokens_position_by_position(tok):
    [ex] = encode_examples(tok, [MULTI], max_length=512).examples
    ids, labels = expected_labels(tok, MULTI.messages)
    assert ex.input_ids == ids == tok.apply_chat_template(MULTI.messages, return_dict=False)
    assert ex.labels == labels
    learned = [i for i, label in zip(ex.input_ids, ex.labels) if label != IGNORE_INDEX]
    assert tok.decode(learned) == ("\nIt splits a string.<|end|>"
                                   "\nIt joins strings with a separator.<|end|>")
    masked = {tok.decode([i]) for i, label in zip(ex.input_ids, ex.labels) if label == IGNORE_INDEX}
    assert {"<|system|>", "<|user|>", "<|assistant|>", "<|bos|>"} <= masked


def test_collate_shifts_and_pads(tok):
    short = Conversation("c3", [{"role": "user", "content": "Hi"},
                                {"role": "assistant", "content": "Hello."}])
    a, b = encode_examples(tok, [CONV, short], max_length=256).examples
    x, y = collate([a, b], pad_id=tok.pad_token_id)
    assert x.shape == y.shape == (2, len(a.input_ids) - 1)
    assert x[0].tolist() == a.input_ids[:-1] and y[0].tolist() == a.labels[1:]
    n = len(b.input_ids) - 1
    assert (x[1, n:] == tok.pad_token_id).all() and (y[1, n:] == IGNORE_INDEX).all()


def test_truncation_that_removes_every_reply_token_is_quarantined_not_trained(tok):
    prompt_len = len(tok.apply_chat_template([SYSTEM, USER], return_dict=False))
    encoded = encode_examples(tok, [CONV, MULTI], max_length=prompt_len + 1)
    # CONV keeps only "<|assistant|>": no reply token -> quarantined with its file and line
    assert [q.line for q in encoded.quarantined] == [1, 2]
    [q, _] = encoded.quarantined
    assert q.file == "conv.jsonl" and q.reason.startswith("over length: no assistant token left")
    assert encoded.examples == [] and encoded.truncated == 0


def test_truncation_that_keeps_part_of_a_reply_is_counted(tok):
    full = len(encode_examples(tok, [MULTI], 512).examples[0].input_ids)
    encoded = encode_examples(tok, [MULTI], max_length=full - 3)
    [ex] = encoded.examples
    assert encoded.truncated == 1 and len(ex.input_ids) == full - 3 and ex.learned > 0


def test_split_is_deterministic_and_nonempty(tok):
    convs = [Conversation(f"c{i}", CONV.messages) for i in range(40)]
    exs = encode_examples(tok, convs, max_length=256).examples
    train, val = split_examples(exs, 0.2, seed=3)
    assert (train, val) == split_examples(exs, 0.2, seed=3)
    assert train and val and {e.id for e in train}.isdisjoint({e.id for e in val})
    assert split_examples(exs, 0.2, seed=4) != (train, val)


def test_batches_are_seeded(tok):
    exs = encode_examples(tok, [Conversation(f"c{i}", CONV.messages) for i in range(6)], 256).examples
    a = [next(g)[0].tolist() for g in [shuffled_batches(exs, 2, 0, seed=1)] for _ in range(5)]
    b = [next(g)[0].tolist() for g in [shuffled_batches(exs, 2, 0, seed=1)] for _ in range(5)]
    assert a == b


def test_pack_fills_rows_without_splitting_examples():
    exs = [Example(str(i), list(range(n)), list(range(n))) for i, n in enumerate([5, 4, 7, 3, 9])]
    rows = pack(exs, capacity=10)
    assert [[e.id for e in row] for row in rows] == [["0", "1"], ["2", "3"], ["4"]]
    assert all(sum(len(e.input_ids) - 1 for e in row) <= 10 for row in rows)


def test_packed_rows_restart_positions_and_keep_labels_per_example(tok):
    a, b = encode_examples(tok, [CONV, MULTI], 512).examples
    x, y, pos = collate_packed([[a, b]], tok.pad_token_id)
    n = len(a.input_ids) - 1
    assert x[0, :n].tolist() == a.input_ids[:-1] and x[0, n:].tolist() == b.input_ids[:-1]
    assert y[0, :n].tolist() == a.labels[1:] and y[0, n:].tolist() == b.labels[1:]
    assert pos[0].tolist() == list(range(n)) + list(range(len(b.input_ids) - 1))


def test_packed_examples_do_not_attend_to_each_other(tok, tiny_model_dir: Path):
    """A packed row gives each example exactly the logits it gets alone: transformers reads
    the restarting position ids as a block-diagonal mask."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir)).eval()
    with torch.no_grad():
        for p in model.parameters():  # a random model with weights that mix positions
            p.add_(torch.randn_like(p) * 0.05)
    a, b = encode_examples(tok, [CONV, MULTI], 512).examples
    x, _, pos = collate_packed([[a, b]], tok.pad_token_id)
    with torch.no_grad():
        packed = model(input_ids=x, position_ids=pos).logits[0]
        alone_b = model(input_ids=torch.tensor([b.input_ids[:-1]])).logits[0]
        leaky = model(input_ids=x).logits[0]  # the same row without restarting positions
    n = len(a.input_ids) - 1
    assert torch.allclose(packed[n:], alone_b, atol=1e-4)
    assert not torch.allclose(leaky[n:], alone_b, atol=1e-2)


def test_packed_batches_hold_more_examples_per_row(tok):
    exs = encode_examples(tok, [Conversation(f"c{i}", CONV.messages) for i in range(12)], 256).examples
    x, y, pos = next(shuffled_batches(exs, 2, tok.pad_token_id, seed=0, packed_capacity=64))
    n = len(exs[0].input_ids) - 1
    assert x.shape == (2, (64 // n) * n) and int((pos == 0).sum()) == 2 * (64 // n)
