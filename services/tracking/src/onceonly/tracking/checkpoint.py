"""Signed checkpoints over every timeline's chain head, and what they prove: pure, no I/O.

A timeline's hash chain (chain.py) shows that no entry was changed *unless the whole
chain and its head were rebuilt*, which anyone who can write the database can do. A
checkpoint anchors the chains outside it: a Merkle tree (merkle.py) over one leaf per
application, (application code, head seq, head hash), sorted by code, whose root is
signed with an Ed25519 key that the database does not hold, published on Kafka and
exportable. An application's chain is then checked against the latest checkpoint: the
entry at the anchored seq must have the anchored hash, which a rebuilt chain cannot have
without the signing key. Entries recorded after the checkpoint are anchored by the next.

The signed payload is canonical JSON (sorted keys, no spaces), and verifiers check the
signature over the bytes they were given before reading them, as for e-licences
(onceonly.platform.elicence_signatures, whose key ring and published keys this reuses;
the checkpoint key is its own, `timeline_checkpoint_signing_keys`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any

from onceonly.platform.elicence_signatures import ALGORITHMS, PublishedKeys, Signer
from onceonly.tracking import merkle
from onceonly.tracking.chain import ChainEntry

PAYLOAD_VERSION = 1
_LEAF_TAG = b"onceonly.checkpoint.leaf.v1"


@dataclass(frozen=True, slots=True, order=True)
class Head:
    """One application's chain head as a checkpoint covers it."""

    application_code: str
    seq: int
    hash: str

    def leaf(self) -> bytes:
        """The leaf's bytes: a domain tag and length-prefixed fields (no ambiguity)."""
        parts = [self.application_code.encode(), str(self.seq).encode(), self.hash.encode()]
        return _LEAF_TAG + b"".join(len(p).to_bytes(8, "big") + p for p in parts)


def _code(head: Head) -> str:
    return head.application_code


def sorted_heads(heads: Iterable[Head]) -> list[Head]:
    """The leaves' order: by application code (one head per code)."""
    ordered = sorted(heads, key=_code)
    if any(a.application_code == b.application_code for a, b in pairwise(ordered)):
        raise ValueError("one head per application")
    return ordered


def tree_of(heads: Sequence[Head]) -> merkle.MerkleTree:
    """The tree of heads already in leaf order (`sorted_heads`)."""
    return merkle.MerkleTree([head.leaf() for head in heads])


class Leaves:
    """A checkpoint's leaves: the heads in leaf order, their tree, and where each
    application's head is. Carried from one checkpoint to the next (`with_heads`), so
    that a checkpoint hashes again only the leaves that changed and the nodes above."""

    __slots__ = ("_index", "heads", "tree")

    def __init__(self, heads: list[Head], tree: merkle.MerkleTree) -> None:
        self.heads = heads
        self.tree = tree
        self._index = {head.application_code: i for i, head in enumerate(heads)}

    @classmethod
    def of(cls, heads: Iterable[Head]) -> Leaves:
        """The leaves of `heads` in any order; ValueError if an application repeats."""
        ordered = sorted_heads(heads)
        return cls(ordered, tree_of(ordered))

    def __len__(self) -> int:
        return len(self.heads)

    def find(self, application_code: str) -> tuple[int, Head] | None:
        """The position and head of an application's leaf, or None."""
        position = self._index.get(application_code)
        return None if position is None else (position, self.heads[position])

    def with_heads(self, changed: Sequence[Head]) -> Leaves:
        """These leaves with `changed` (one head per application, moved or new) in place."""
        if len({head.application_code for head in changed}) != len(changed):
            raise ValueError("one head per application")
        heads, hashes = list(self.heads), list(self.tree.leaf_hashes)
        new: list[Head] = []
        replaced: list[int] = []
        for head in changed:
            position = self._index.get(head.application_code)
            if position is None:
                new.append(head)
            else:
                heads[position], hashes[position] = head, merkle.leaf_hash(head.leaf())
                replaced.append(position)
        stable = len(heads)
        if new:
            # Each new head goes where its code sorts among the earlier ones (sorted).
            new.sort(key=_code)
            codes = [head.application_code for head in heads]
            places = [bisect_left(codes, head.application_code) for head in new]
            stable = places[0]
            merged_heads: list[Head] = heads[:stable]
            merged_hashes: list[bytes] = hashes[:stable]
            for i, (head, place) in enumerate(zip(new, places, strict=True)):
                upto = places[i + 1] if i + 1 < len(places) else len(heads)
                merged_heads.append(head)
                merged_hashes.append(merkle.leaf_hash(head.leaf()))
                merged_heads.extend(heads[place:upto])
                merged_hashes.extend(hashes[place:upto])
            heads, hashes = merged_heads, merged_hashes
        # Only the nodes above changed leaves, and above those after the first new one,
        # are hashed again.
        return Leaves(heads, self.tree.updated(hashes, stable=stable, changed=replaced))


@dataclass(frozen=True, slots=True)
class NextLeaves:
    """What the heads that moved since a checkpoint do to the next one."""

    changed: list[Head]  # new leaves: applications not covered yet, and heads moved on
    settled: list[Head]  # heads the next checkpoint's leaves hold as they are now
    held_back: list[Head]  # heads no longer on the chain the earlier leaf signed


def next_leaves(
    moved: Sequence[Head], earlier: Leaves, hash_at_earlier_seq: Mapping[str, str | None]
) -> NextLeaves:
    """Sort the heads that moved since `earlier` (the previous checkpoint's leaves): a
    head with no earlier leaf is new; one equal to its leaf is settled; one further on
    is a new leaf only while its chain still has the earlier leaf's entry as signed
    (`hash_at_earlier_seq`: the hash at the earlier seq now). Any other is held back
    (a chain rewritten, cut back, or a head changed in place) and its earlier leaf stays."""
    changed: list[Head] = []
    settled: list[Head] = []
    held_back: list[Head] = []
    for head in moved:
        found = earlier.find(head.application_code)
        if found is None:
            changed.append(head)
            settled.append(head)
            continue
        leaf = found[1]
        if leaf == head:
            settled.append(head)
        elif hash_at_earlier_seq.get(head.application_code) == leaf.hash and head.seq > leaf.seq:
            changed.append(head)
            settled.append(head)
        else:
            held_back.append(head)
    return NextLeaves(changed, settled, held_back)


@dataclass(frozen=True, slots=True)
class CheckpointPayload:
    """What a checkpoint signs."""

    number: int
    slot: datetime  # the start of the cadence slot it was made for
    made_at: datetime
    size: int  # leaves (applications covered)
    root: str  # hex
    key_id: str
    algorithm: str

    def canonical(self) -> bytes:
        body = {
            "v": PAYLOAD_VERSION,
            "alg": self.algorithm,
            "kid": self.key_id,
            "number": self.number,
            "slot": _instant(self.slot),
            "made_at": _instant(self.made_at),
            "size": self.size,
            "root": self.root,
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def parse(cls, data: bytes) -> CheckpointPayload:
        """The payload of canonical bytes; ValueError if they are not one."""
        body = json.loads(data.decode())
        if not isinstance(body, dict) or body.get("v") != PAYLOAD_VERSION:
            raise ValueError("not a version 1 checkpoint")
        texts, numbers = ("alg", "kid", "slot", "made_at", "root"), ("number", "size")
        if not all(isinstance(body.get(n), str) for n in texts) or not all(
            type(body.get(n)) is int for n in numbers
        ):
            raise ValueError("a checkpoint field is missing")
        payload = cls(
            number=body["number"],
            slot=_parse_instant(body["slot"]),
            made_at=_parse_instant(body["made_at"]),
            size=body["size"],
            root=body["root"],
            key_id=body["kid"],
            algorithm=body["alg"],
        )
        if payload.canonical() != data:
            raise ValueError("not canonical")
        return payload


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """The signed bytes and their signature, as stored, published and exported."""

    payload: bytes
    signature: bytes

    def to_json(self) -> dict[str, str]:
        return {"payload": _b64(self.payload), "signature": _b64(self.signature)}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> SignedCheckpoint:
        try:
            return cls(_unb64(document["payload"]), _unb64(document["signature"]))
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise ValueError("a checkpoint has a base64url `payload` and `signature`") from None


def sign(
    heads: Sequence[Head], *, signer: Signer, number: int, slot: datetime, made_at: datetime
) -> tuple[CheckpointPayload, SignedCheckpoint]:
    """The checkpoint of `heads` (in leaf order) signed by `signer`."""
    return sign_tree(tree_of(heads), signer=signer, number=number, slot=slot, made_at=made_at)


def sign_tree(
    tree: merkle.MerkleTree, *, signer: Signer, number: int, slot: datetime, made_at: datetime
) -> tuple[CheckpointPayload, SignedCheckpoint]:
    """The checkpoint of the leaves of `tree` signed by `signer`."""
    payload = CheckpointPayload(
        number=number,
        slot=slot,
        made_at=made_at,
        size=tree.size,
        root=tree.root.hex(),
        key_id=signer.key_id,
        algorithm=signer.algorithm,
    )
    data = payload.canonical()
    return payload, SignedCheckpoint(data, signer.sign(data))


class CheckpointInvalid(ValueError):
    """A checkpoint that is not genuine: malformed, an unknown key, a wrong signature."""


def open_checkpoint(signed: SignedCheckpoint, keys: PublishedKeys) -> CheckpointPayload:
    """The payload, once its signature holds under a published key; CheckpointInvalid."""
    try:
        claimed = CheckpointPayload.parse(signed.payload)
    except (ValueError, UnicodeDecodeError):
        raise CheckpointInvalid("not a checkpoint") from None
    key = keys.keys.get(claimed.key_id)
    if key is None:
        raise CheckpointInvalid(f"signed by key {claimed.key_id!r}, which is not published")
    algorithm = ALGORITHMS.get(key.algorithm)
    if algorithm is None or key.algorithm != claimed.algorithm:
        raise CheckpointInvalid("signed with an algorithm that is not published")
    if not algorithm.verify(key.public_key, signed.payload, signed.signature):
        raise CheckpointInvalid("the signature does not match the checkpoint")
    return claimed


def slot_of(now: datetime, every_seconds: float) -> datetime:
    """The start of the cadence slot `now` falls in (whole seconds since the epoch)."""
    step = max(1, int(every_seconds))
    seconds = int(now.timestamp())
    return datetime.fromtimestamp(seconds - seconds % step, UTC)


def payload_digest(signed: SignedCheckpoint) -> str:
    """A short fingerprint of a checkpoint (its signed bytes), for logs and event ids."""
    return hashlib.sha256(signed.payload).hexdigest()


# --- What a checkpoint says about one application's chain -------------------------------


@dataclass(frozen=True, slots=True)
class Coverage:
    """One application's place in a checkpoint: its head and the proof of it."""

    head: Head
    proof: merkle.InclusionProof

    def to_json(self) -> dict[str, Any]:
        return {
            "application_code": self.head.application_code,
            "seq": self.head.seq,
            "hash": self.head.hash,
            "index": self.proof.index,
            "size": self.proof.size,
            "path": [node.hex() for node in self.proof.path],
        }

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Coverage:
        try:
            head = Head(
                str(document["application_code"]), int(document["seq"]), str(document["hash"])
            )
            proof = merkle.InclusionProof(
                index=int(document["index"]),
                size=int(document["size"]),
                path=tuple(bytes.fromhex(node) for node in document["path"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                "a coverage has application_code, seq, hash, index, size and path"
            ) from None
        return cls(head, proof)


class AnchorState(StrEnum):
    ANCHORED = "anchored"  # the chain holds the head the checkpoint signed
    CONTRADICTED = "contradicted"  # it does not: rewritten at or before the anchored entry
    NOT_COVERED = "not_covered"  # recorded after the checkpoint, or no checkpoint yet
    UNVERIFIABLE = "unverifiable"  # the checkpoint or its proof does not hold


@dataclass(frozen=True, slots=True)
class Anchor:
    """What the latest checkpoint says about an application's chain."""

    state: AnchorState
    reason: str
    checkpoint_number: int | None = None
    anchored_seq: int | None = None  # entries 1..anchored_seq are anchored
    broken_seq: int | None = None  # where a contradiction shows

    @property
    def anchored(self) -> bool:
        return self.state is AnchorState.ANCHORED


def check_anchor(
    entries: Sequence[ChainEntry],
    *,
    application_code: str,
    checkpoint: CheckpointPayload,
    coverage: Coverage | None,
) -> Anchor:
    """Check a chain (in recorded order, already checked link by link with chain.verify)
    against a checkpoint whose signature holds, and this application's coverage in it
    (None: the checkpoint has no leaf for the application)."""
    number = checkpoint.number
    if coverage is None:
        return Anchor(
            AnchorState.NOT_COVERED,
            f"checkpoint {number} does not cover this application (recorded after it)",
            number,
        )
    head = coverage.head
    if head.application_code != application_code:
        return Anchor(AnchorState.UNVERIFIABLE, "the proof is for another application", number)
    if coverage.proof.size != checkpoint.size or not merkle.verify_inclusion(
        head.leaf(), coverage.proof, bytes.fromhex(checkpoint.root)
    ):
        return Anchor(
            AnchorState.UNVERIFIABLE,
            f"the head is not in checkpoint {number}'s signed tree",
            number,
        )
    at = next((entry for entry in entries if entry.seq == head.seq), None)
    if at is None:
        return Anchor(
            AnchorState.CONTRADICTED,
            f"entry {head.seq} is missing: checkpoint {number} signed a chain of"
            f" {head.seq} entries",
            number,
            head.seq,
            broken_seq=min(head.seq, len(entries) + 1),
        )
    if at.hash != head.hash:
        return Anchor(
            AnchorState.CONTRADICTED,
            f"entry {head.seq}'s hash is not the one checkpoint {number} signed: the chain"
            f" was rewritten at or before entry {head.seq}",
            number,
            head.seq,
            broken_seq=head.seq,
        )
    later = len(entries) - head.seq
    return Anchor(
        AnchorState.ANCHORED,
        f"entries 1-{head.seq} are anchored by checkpoint {number}"
        + (f"; {later} recorded after it" if later > 0 else ""),
        number,
        head.seq,
    )


def _instant(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _parse_instant(text: str) -> datetime:
    if not text.endswith("Z"):
        raise ValueError("a time in UTC")
    return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError("base64url text")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
