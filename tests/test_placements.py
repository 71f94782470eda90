"""Where a front-end showed things is its own reference: noted, replaced when shown again, read back only by it."""

from __future__ import annotations

from approvals.store import Store


def test_a_reference_noted_again_replaces_the_first(empty_store: Store) -> None:
    empty_store.placements.note("slack", "request:r1", {"channel": "C1", "ts": "1.0"})

    empty_store.placements.note("slack", "request:r1", {"channel": "C1", "ts": "2.0"})

    assert empty_store.placements.of("slack", "request:r1") == {"channel": "C1", "ts": "2.0"}


def test_a_reference_kept_first_only_stays_the_first(empty_store: Store) -> None:
    empty_store.placements.note("slack", "run:t1", {"channel": "C1", "ts": "1.0"}, first_only=True)

    standing = empty_store.placements.note("slack", "run:t1", {"channel": "C2", "ts": "9.0"}, first_only=True)

    assert standing == {"channel": "C1", "ts": "1.0"} == empty_store.placements.of("slack", "run:t1")


def test_each_front_end_reads_only_its_own_references(empty_store: Store) -> None:
    empty_store.placements.note("slack", "request:r2", {"channel": "C1", "ts": "1.0"})
    empty_store.placements.note("email", "request:r2", {"message_id": "<a@b>"})

    assert empty_store.placements.of_many("slack", ["request:r2", "request:r3"]) == {"request:r2": {"channel": "C1", "ts": "1.0"}}
    assert empty_store.placements.of("email", "request:r2") == {"message_id": "<a@b>"}
