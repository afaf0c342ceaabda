"""The Merkle tree of checkpoints: RFC 9162's shape, and proofs that hold only for the
leaf, the place and the root they were made for."""

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from onceonly.tracking import merkle

leaves_strategy = st.lists(st.binary(max_size=40), min_size=1, max_size=70)


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, written as the RFC writes it (recursive split)."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    left, right = reference_root(leaves[:k]), reference_root(leaves[k:])
    return hashlib.sha256(b"\x01" + left + right).digest()


@given(leaves_strategy)
def test_the_root_is_rfc_9162s(leaves: list[bytes]) -> None:
    assert merkle.root_of(leaves) == reference_root(leaves)


def test_a_known_root() -> None:
    # Three leaves: H(1 || H(1 || h0 || h1) || h2).
    h = [hashlib.sha256(b"\x00" + x).digest() for x in (b"a", b"b", b"c")]
    inner = hashlib.sha256(b"\x01" + h[0] + h[1]).digest()
    assert merkle.root_of([b"a", b"b", b"c"]) == hashlib.sha256(b"\x01" + inner + h[2]).digest()
    assert merkle.root_of([]) == hashlib.sha256(b"").digest()


@given(leaves_strategy, st.data())
def test_every_leaf_proves_its_inclusion(leaves: list[bytes], data: st.DataObject) -> None:
    tree = merkle.MerkleTree(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.proof(index)
    assert len(proof.path) <= max(1, (len(leaves) - 1).bit_length())
    assert merkle.verify_inclusion(leaves[index], proof, tree.root)


@given(leaves_strategy, st.data())
def test_a_proof_holds_for_nothing_else(leaves: list[bytes], data: st.DataObject) -> None:
    tree = merkle.MerkleTree(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = tree.proof(index)
    other = data.draw(st.binary(max_size=40).filter(lambda b: b != leaves[index]))
    assert not merkle.verify_inclusion(other, proof, tree.root)
    if len(leaves) > 1:
        moved = data.draw(st.integers(0, len(leaves) - 1).filter(lambda i: i != index))
        if leaves[moved] != leaves[index]:
            elsewhere = merkle.InclusionProof(moved, proof.size, proof.path)
            assert not merkle.verify_inclusion(leaves[index], elsewhere, tree.root)
        bigger = merkle.MerkleTree([*leaves, b"one more"])
        assert not merkle.verify_inclusion(leaves[index], proof, bigger.root)
    if proof.path:
        at = data.draw(st.integers(0, len(proof.path) - 1))
        flipped = bytes([proof.path[at][0] ^ 1]) + proof.path[at][1:]
        path = (*proof.path[:at], flipped, *proof.path[at + 1 :])
        bent = merkle.InclusionProof(proof.index, proof.size, path)
        assert not merkle.verify_inclusion(leaves[index], bent, tree.root)
        short = merkle.InclusionProof(proof.index, proof.size, proof.path[:-1])
        assert not merkle.verify_inclusion(leaves[index], short, tree.root)
    long = merkle.InclusionProof(proof.index, proof.size, (*proof.path, b"\x00" * 32))
    assert not merkle.verify_inclusion(leaves[index], long, tree.root)


def test_an_inner_node_is_no_leaf() -> None:
    # Second-preimage: the concatenation of two leaf hashes is not a leaf of the root.
    tree = merkle.MerkleTree([b"a", b"b"])
    forged_leaf = merkle.leaf_hash(b"a") + merkle.leaf_hash(b"b")
    assert not merkle.verify_inclusion(forged_leaf, merkle.InclusionProof(0, 1, ()), tree.root)


def test_proofs_outside_the_tree() -> None:
    tree = merkle.MerkleTree([b"a", b"b", b"c"])
    with pytest.raises(IndexError):
        tree.proof(3)
    assert merkle.root_from_proof(b"a", merkle.InclusionProof(5, 3, ())) is None
    assert merkle.root_from_proof(b"a", merkle.InclusionProof(0, 0, ())) is None
