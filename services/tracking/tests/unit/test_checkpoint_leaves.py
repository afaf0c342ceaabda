"""A checkpoint's leaves carried to the next one: the same tree as built from scratch,
and only heads that moved on along their signed chain become new leaves."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.tracking import merkle
from onceonly.tracking.checkpoint import Head, Leaves, next_leaves, sorted_heads, tree_of

CODES = st.text(alphabet="0123456789-", min_size=1, max_size=8)


def head(code: str, seq: int = 1) -> Head:
    return Head(code, seq, f"{code}:{seq}")


@given(
    before=st.sets(CODES, max_size=40),
    moved=st.sets(CODES, max_size=20),
)
def test_carried_leaves_give_the_tree_built_from_scratch(before: set[str], moved: set[str]) -> None:
    earlier = Leaves.of([head(code) for code in before])
    changed = [head(code, 2) for code in moved]  # moved on, or new when not in `before`
    carried = earlier.with_heads(changed)
    expected = {code: head(code) for code in before} | {h.application_code: h for h in changed}
    scratch = Leaves.of(expected.values())
    assert carried.heads == scratch.heads == sorted_heads(expected.values())
    assert carried.tree.root == scratch.tree.root == tree_of(scratch.heads).root
    for position, leaf in enumerate(carried.heads):
        assert carried.find(leaf.application_code) == (position, leaf)
        proof = carried.tree.proof(position)
        assert merkle.verify_inclusion(leaf.leaf(), proof, carried.tree.root)
    # The earlier leaves are not changed by carrying them on.
    assert earlier.tree.root == Leaves.of([head(code) for code in before]).tree.root


def test_a_tree_of_leaf_hashes_is_the_tree_of_the_leaves() -> None:
    leaves = [b"a", b"b", b"c", b"d", b"e"]
    tree = merkle.MerkleTree(leaves)
    empty = merkle.MerkleTree([])
    assert empty.updated(list(tree.leaf_hashes), stable=0, changed=()).root == tree.root
    assert empty.updated([], stable=0, changed=()).root == merkle.empty_root()


def test_one_change_per_application() -> None:
    with pytest.raises(ValueError):
        Leaves.of([head("A")]).with_heads([head("A", 2), head("A", 3)])
    with pytest.raises(ValueError):
        Leaves.of([head("A"), head("A", 2)])


def test_moved_heads_are_new_settled_or_held_back() -> None:
    earlier = Leaves.of([head("A", 3), head("B", 3), head("C", 3), head("D", 3), head("E", 3)])
    moved = [
        head("A", 5),  # moved on; its chain still has the signed entry 3
        head("B", 3),  # what the checkpoint holds already (looked at again after a crash)
        Head("C", 5, "C:5"),  # moved on, but entry 3 was rewritten
        head("D", 2),  # went back below the signed entry
        head("F", 1),  # not covered yet
        Head("E", 3, "forged"),  # the head changed in place: no entry was appended
    ]
    at_earlier_seq = {"A": "A:3", "C": "C:3-rewritten", "D": None, "E": "E:3"}
    plan = next_leaves(moved, earlier, at_earlier_seq)
    assert [h.application_code for h in plan.changed] == ["A", "F"]
    assert [h.application_code for h in plan.settled] == ["A", "B", "F"]
    assert [h.application_code for h in plan.held_back] == ["C", "D", "E"]


def test_nothing_moved_changes_nothing() -> None:
    earlier = Leaves.of([head("A")])
    plan = next_leaves([], earlier, {})
    assert (plan.changed, plan.settled, plan.held_back) == ([], [], [])
    assert earlier.with_heads([]).tree.root == earlier.tree.root


@given(
    old_size=st.integers(0, 300),
    data=st.data(),
)
def test_an_updated_tree_is_the_tree_of_its_leaves(old_size: int, data: st.DataObject) -> None:
    old = [bytes([i % 256, i // 256]) for i in range(old_size)]
    stable = data.draw(st.integers(0, old_size))
    changed = (
        data.draw(st.sets(st.integers(0, max(0, stable - 1)), max_size=10)) if stable else set()
    )
    tail = data.draw(st.lists(st.binary(min_size=1, max_size=4), max_size=300))
    leaves = [b"changed" + leaf if i in changed else leaf for i, leaf in enumerate(old[:stable])]
    leaves += tail
    tree = merkle.MerkleTree(old)
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    updated = tree.updated(hashes, stable=min(stable, len(leaves)), changed=changed)
    assert updated.root == merkle.MerkleTree(leaves).root
    assert updated.size == len(leaves)
    for index in data.draw(st.sets(st.integers(0, max(0, len(leaves) - 1)), max_size=5)):
        if index < len(leaves):
            assert merkle.verify_inclusion(leaves[index], updated.proof(index), updated.root)
