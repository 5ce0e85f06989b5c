import numpy as np
import pytest
import torch

from danlu.errors import DataError
from danlu.tokens.loader import TokenLoader
from danlu.tokens.shards import write_shard

VOCAB = 60_000


@pytest.fixture
def shards(tmp_path):
    """Two shards whose tokens are all distinct, so a window's content names its position."""
    a = write_shard(tmp_path / "train-00000.bin", [range(1, 3000), range(3000, 5000)], VOCAB, bos_id=0)
    b = write_shard(tmp_path / "train-00001.bin", [range(5000, 9000)], VOCAB, bos_id=0)
    return [a, b]


def take(loader, n):
    return [next(loader) for _ in range(n)]


def same(batches_a, batches_b):
    return len(batches_a) == len(batches_b) and all(
        torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(batches_a, batches_b)
    )


def test_batches_are_shifted_windows(shards):
    x, y = next(TokenLoader(shards, 4, 16, seed=0))
    assert x.shape == y.shape == (4, 16)
    assert x.dtype == y.dtype == torch.long
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_random_mode_is_deterministic_per_seed(shards):
    first = take(TokenLoader(shards, 4, 16, seed=3), 6)
    assert same(first, take(TokenLoader(shards, 4, 16, seed=3), 6))
    assert not same(first, take(TokenLoader(shards, 4, 16, seed=4), 6))


def test_resume_yields_exactly_the_next_batches(shards):
    loader = TokenLoader(shards, 4, 16, seed=1)
    take(loader, 5)
    state = loader.state_dict()
    expected = take(loader, 3)
    fresh = TokenLoader(shards, 4, 16, seed=1)
    fresh.load_state_dict(state)
    assert same(expected, take(fresh, 3))


def test_resume_across_epochs(shards):
    loader = TokenLoader(shards, 32, 64, seed=1)
    per_epoch = loader.num_batches
    take(loader, per_epoch - 1)
    state = loader.state_dict()
    expected = take(loader, 3)  # crosses into epoch 1
    assert loader.epoch == 1
    fresh = TokenLoader(shards, 32, 64, seed=1)
    fresh.load_state_dict(state)
    assert same(expected, take(fresh, 3))


def test_state_from_another_setup_is_refused(shards):
    state = TokenLoader(shards, 4, 16, seed=1).state_dict()
    with pytest.raises(DataError, match="seq_len"):
        TokenLoader(shards, 4, 32, seed=1).load_state_dict(state)


def _text_tokens(batches) -> np.ndarray:
    """The x tokens of the batches without BOS: each token value occurs once in the shards."""
    tokens = torch.cat([x.flatten() for x, _ in batches]).numpy()
    return tokens[tokens != 0]


def test_random_epoch_takes_non_overlapping_windows(shards):
    loader = TokenLoader(shards, 8, 32, seed=5)
    tokens = _text_tokens(take(loader, loader.num_batches))
    assert len(tokens) > 0.9 * 8 * 32 * loader.num_batches
    assert len(np.unique(tokens)) == len(tokens)


def test_ranks_see_disjoint_data(shards):
    for mode in ("random", "sequential"):
        loaders = [TokenLoader(shards, 4, 32, seed=2, mode=mode, rank=r, world_size=2) for r in (0, 1)]
        n = min(loader.num_batches for loader in loaders)
        seen = [_text_tokens(take(loader, n)) for loader in loaders]
        assert len(seen[0]) and len(seen[1])
        assert not np.intersect1d(seen[0], seen[1]).size


def test_sequential_walks_in_order_once(shards):
    loader = TokenLoader(shards, 4, 100, seed=0, mode="sequential")
    batches = list(loader)
    assert len(batches) == loader.num_batches
    rows = torch.cat([x for x, _ in batches])
    # 5001 tokens -> 50 windows, 4001 tokens -> 40 windows; the last batch is short.
    assert rows.shape == (90, 100)
    assert batches[-1][0].shape == (2, 100)
    assert rows[0, :3].tolist() == [0, 1, 2]
    assert rows[1, 0].item() == 100
    assert rows[50, 0].item() == 0  # the second shard starts with its BOS
    assert list(loader) == []  # finite: one pass
    loader.reset()
    assert same(list(loader), batches)


def test_too_little_data_names_the_shards(shards):
    with pytest.raises(DataError, match="train-00000.bin"):
        TokenLoader(shards, 1000, 64, seed=0)


def test_bad_arguments(shards):
    with pytest.raises(ValueError, match="bos"):
        TokenLoader(shards, 4, 16, seed=0, mode="shuffled")
    with pytest.raises(ValueError):
        TokenLoader(shards, 4, 16, seed=0, rank=2, world_size=2)
    with pytest.raises(DataError):
        TokenLoader([], 4, 16, seed=0)


def test_windows_stay_inside_one_shard(shards):
    loader = TokenLoader(shards, 16, 50, seed=9)
    for x, y in take(loader, 2 * loader.num_batches):
        rows = torch.cat([x, y[:, -1:]], dim=1).numpy()
        bos_free = rows[:, 1:]
        # tokens only increase within a window, except at a BOS (0) that opens a document
        steps = np.diff(rows, axis=1)
        assert np.all((steps == 1) | (bos_free == 0) | (np.roll(bos_free, 1, axis=1) == 0))


@pytest.fixture
def doc_shards(tmp_path):
    """Three shards of 150 short documents (3-40 tokens, BOS 0), every text token distinct."""
    rng = np.random.default_rng(0)
    paths, next_id = [], 1
    for s in range(3):
        docs = []
        for _ in range(50):
            n = int(rng.integers(3, 41))
            docs.append(range(next_id, next_id + n))
            next_id += n
        paths.append(write_shard(tmp_path / f"train-{s:05d}.bin", docs, VOCAB, bos_id=0))
    return paths


def _documents(paths) -> dict[int, list[int]]:
    """Each document's text tokens, keyed by its first one."""
    from danlu.tokens.shards import iter_documents

    return {int(d[1]): d[1:].tolist() for d in iter_documents(paths) if len(d) > 1}


def test_bos_rows_start_with_bos_and_hold_document_prefixes(doc_shards):
    docs = _documents(doc_shards)
    loader = TokenLoader(doc_shards, 4, 24, seed=0, mode="bos")
    assert loader.num_batches > 0
    for x, y in take(loader, loader.num_batches):
        rows = torch.cat([x, y[:, -1:]], dim=1).numpy()
        assert np.all(rows[:, 0] == 0)
        for row in rows:
            # Split at BOS: every piece is a whole document, the last one maybe cut short.
            pieces = np.split(row, np.flatnonzero(row == 0))[1:]
            for i, piece in enumerate(pieces):
                text = piece[1:].tolist()
                whole = docs[text[0]] if text else None
                if i < len(pieces) - 1:
                    assert text == whole
                elif text:
                    assert text == whole[: len(text)]


def test_bos_epoch_uses_each_document_at_most_once(doc_shards):
    loader = TokenLoader(doc_shards, 4, 24, seed=1, mode="bos")
    tokens = _text_tokens(take(loader, loader.num_batches))
    assert len(np.unique(tokens)) == len(tokens)
    assert loader.epoch_tokens == loader.num_batches * 4 * 25
    assert loader.epoch_tokens <= loader.num_tokens


@pytest.mark.parametrize("mode", ["random", "bos"])
def test_modes_are_deterministic_and_differ_by_seed(doc_shards, mode):
    first = take(TokenLoader(doc_shards, 4, 24, seed=3, mode=mode), 8)
    assert same(first, take(TokenLoader(doc_shards, 4, 24, seed=3, mode=mode), 8))
    assert not same(first, take(TokenLoader(doc_shards, 4, 24, seed=4, mode=mode), 8))


@pytest.mark.parametrize("mode", ["random", "bos"])
def test_ranks_split_exactly_what_one_rank_would_see(doc_shards, mode):
    world, batch = 3, 2
    whole = TokenLoader(doc_shards, batch * world, 24, seed=5, mode=mode)
    ranks = [TokenLoader(doc_shards, batch, 24, seed=5, mode=mode, rank=r, world_size=world)
             for r in range(world)]
    assert {r.num_batches for r in ranks} == {whole.num_batches}
    steps = whole.num_batches + 2  # into the second epoch
    for _ in range(steps):
        x, y = next(whole)
        parts = [next(r) for r in ranks]
        assert torch.equal(torch.cat([p[0] for p in parts]), x)
        assert torch.equal(torch.cat([p[1] for p in parts]), y)
        rows = [set(map(tuple, p[0].tolist())) for p in parts]
        assert all(not (rows[a] & rows[b]) for a in range(world) for b in range(a + 1, world))


@pytest.mark.parametrize("mode", ["random", "bos", "sequential"])
def test_exact_resume_mid_epoch_in_every_mode(doc_shards, mode):
    def make():
        return TokenLoader(doc_shards, 2, 24, seed=7, mode=mode, rank=1, world_size=2)

    loader = make()
    half = loader.num_batches // 2
    take(loader, half)
    state = loader.state_dict()
    rest = list(loader) if mode == "sequential" else take(loader, loader.num_batches + 3)
    fresh = make()
    fresh.load_state_dict(state)
    resumed = list(fresh) if mode == "sequential" else take(fresh, len(rest))
    assert len(rest) > 0 and same(rest, resumed)


def test_state_from_another_mode_is_refused(doc_shards):
    state = TokenLoader(doc_shards, 2, 24, seed=1, mode="random").state_dict()
    with pytest.raises(DataError, match="mode"):
        TokenLoader(doc_shards, 2, 24, seed=1, mode="bos").load_state_dict(state)


def test_bos_too_little_data_names_the_shards(doc_shards):
    with pytest.raises(DataError, match="train-00000.bin.*bos"):
        TokenLoader(doc_shards, 500, 24, seed=0, mode="bos")
