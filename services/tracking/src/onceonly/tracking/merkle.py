"""A Merkle tree with inclusion proofs, as Certificate Transparency builds it (RFC 9162,
section 2.1): pure, no I/O.

Leaves and inner nodes are hashed under different one-byte prefixes (0x00, 0x01), so
that no inner node can pass for a leaf; a tree of n leaves splits at the largest power
of two below n, so that a proof has at most ceil(log2 n) hashes and the tree of the same
leaves is always the same. A checkpoint signs the root; an inclusion proof shows that
one leaf is in the tree of that root without the other leaves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(_LEAF + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def empty_root() -> bytes:
    """The root of a tree without leaves (RFC 9162: the hash of the empty string)."""
    return hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """Leaf `index` of a tree of `size` leaves, and the hashes from it up to the root."""

    index: int
    size: int
    path: tuple[bytes, ...]


class MerkleTree:
    """The tree of a fixed list of leaves (their bytes, in the order given)."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self._levels: list[list[bytes]] = [[leaf_hash(leaf) for leaf in leaves]]
        self._build()

    def updated(self, hashes: list[bytes], *, stable: int, changed: Iterable[int]) -> MerkleTree:
        """The tree whose leaves hash to `hashes`, where the first `stable` are this
        tree's leaves at the same places but for those at `changed`: the nodes above
        only those first leaves are this tree's, the others are hashed again."""
        if not 0 <= stable <= min(len(hashes), self.size):
            raise ValueError("the stable leaves are a prefix of both trees")
        tree = MerkleTree.__new__(MerkleTree)
        tree._levels = [hashes]
        tree._build(self._levels, stable, {position for position in changed if position < stable})
        return tree

    @property
    def leaf_hashes(self) -> list[bytes]:
        """Level 0 (not to be changed: the tree keeps it)."""
        return self._levels[0]

    def _build(
        self,
        earlier: list[list[bytes]] | None = None,
        stable: int = 0,
        dirty: set[int] | None = None,
    ) -> None:
        # Level 0 is the leaves' hashes; each level above pairs the one below, an odd
        # last node going up as it is (which gives RFC 9162's shape, see `_subtree`).
        # Node i of level h covers leaves [i * 2**h, (i + 1) * 2**h): those wholly within
        # the first `stable` are taken from `earlier` (an earlier tree's levels), but for
        # the ones above a `dirty` leaf.
        earlier = earlier or []
        dirty = dirty or set()
        while len(self._levels[-1]) > 1:
            below = self._levels[-1]
            height = len(self._levels)
            kept = min(stable >> height, len(earlier[height]) if height < len(earlier) else 0)
            above = earlier[height][:kept] if kept else []
            dirty = {position // 2 for position in dirty}
            for i in dirty:
                if i < kept:
                    above[i] = node_hash(below[2 * i], below[2 * i + 1])
            above.extend(
                node_hash(below[i], below[i + 1]) for i in range(2 * kept, len(below) - 1, 2)
            )
            if len(below) % 2:
                above.append(below[-1])
            self._levels.append(above)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else empty_root()

    def proof(self, index: int) -> InclusionProof:
        """The inclusion proof of leaf `index`; IndexError outside the tree."""
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is not in a tree of {self.size}")
        path: list[bytes] = []
        position = index
        for level in self._levels[:-1]:
            sibling = position ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            # else: the odd last node, carried up without a sibling at this level
            position //= 2
        return InclusionProof(index=index, size=self.size, path=tuple(path))


def root_of(leaves: Sequence[bytes]) -> bytes:
    return MerkleTree(leaves).root


def root_from_proof(leaf: bytes, proof: InclusionProof) -> bytes | None:
    """The root that `proof` leads to from `leaf` (RFC 9162 2.1.3.2), or None when the
    proof cannot be one of a tree of its size (wrong length, index outside)."""
    index, last = proof.index, proof.size - 1
    if not 0 <= index <= last:
        return None
    node = leaf_hash(leaf)
    for sibling in proof.path:
        if last == 0:
            return None  # more hashes than the tree is high
        if index % 2 == 1 or index == last:
            node = node_hash(sibling, node)
            if index % 2 == 0:
                # The odd last node of its level: go up until it is a right child.
                while index % 2 == 0 and index != 0:
                    index //= 2
                    last //= 2
        else:
            node = node_hash(node, sibling)
        index //= 2
        last //= 2
    if last != 0:
        return None  # too few hashes
    return node


def verify_inclusion(leaf: bytes, proof: InclusionProof, root: bytes) -> bool:
    """Whether `leaf` is leaf `proof.index` of the tree of `proof.size` leaves with `root`."""
    return root_from_proof(leaf, proof) == root
