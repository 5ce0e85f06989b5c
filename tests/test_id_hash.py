"""Choices by id: uniform, seeded, stable under reordering, never an empty side."""

from danlu.id_hash import split_by_id, unit_hash


def test_unit_hash_is_uniform_and_seeded():
    values = [unit_hash(7, f"doc-{i}") for i in range(4000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert abs(sum(v < 0.25 for v in values) / len(values) - 0.25) < 0.03
    assert unit_hash(7, "doc-1") == unit_hash(7, "doc-1") != unit_hash(8, "doc-1")


def test_split_ignores_order_and_keeps_both_sides():
    ids = [f"d{i}" for i in range(200)]
    kept, held = split_by_id(ids, str, 0.1, seed=1)
    assert 5 < len(held) < 40 and len(kept) + len(held) == 200
    assert kept == [i for i in ids if i in set(kept)]  # the order is kept
    again_kept, again_held = split_by_id(ids[::-1], str, 0.1, seed=1)
    assert set(again_held) == set(held)
    assert split_by_id(["a", "b"], str, 0.0, seed=1)[1]  # nothing would be held out: one is
    assert split_by_id(["a", "b"], str, 1.0, seed=1)[0]  # everything would be: one stays
    assert split_by_id(["a"], str, 1.0, seed=1) == ([], ["a"])
