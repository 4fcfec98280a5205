"""Merkle trees exactly as RFC 9162 section 2.1, over SHA-256.

    >>> from aichain_audit import merkle
    >>> leaves = [merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b"), merkle.leaf_hash(b"c")]
    >>> tree = merkle.MerkleTree(leaves)
    >>> proof = tree.inclusion_proof(2)
    >>> merkle.verify_inclusion(leaves[2], 2, 3, proof, tree.root)
    True

This module is consensus-critical: lineage roots anchored on chain are computed
here. Its hashing is guaranteed never to change: leaf hash SHA-256(0x00 || data),
node hash SHA-256(0x01 || left || right), the empty tree hashes to SHA-256 of
nothing, indices are 0-based, and proofs list sibling hashes from the leaf up.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"
_sha256 = hashlib.sha256
EMPTY_ROOT = _sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf's bytes."""
    return _sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(_NODE_PREFIX + left + right).digest()


def _check_hashes(hashes: Sequence[bytes], what: str) -> None:
    for h in hashes:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ValueError(f"{what} must be {HASH_SIZE}-byte hashes, got {h!r}")


def _next_level(level: Sequence[bytes]) -> list[bytes]:
    """Pairs adjacent nodes; an odd last node is promoted unchanged (RFC 9162 shape)."""
    n = len(level)
    sha = _sha256
    prefix = _NODE_PREFIX
    up = [sha(prefix + level[i] + level[i + 1]).digest() for i in range(0, n - 1, 2)]
    if n % 2:
        up.append(level[-1])
    return up


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash (MTH) of a list of leaf hashes."""
    _check_hashes(leaf_hashes, "leaf hashes")
    if not leaf_hashes:
        return EMPTY_ROOT
    level: Sequence[bytes] = leaf_hashes
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def root_of_data(data: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of leaves with these bytes: `root([leaf_hash(d) for d in data])`,
    without holding every leaf hash at once (a million leaves: about 70 MB less)."""
    n = len(data)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hash(data[0])
    sha, leaf, node = _sha256, _LEAF_PREFIX, _NODE_PREFIX
    up = [
        sha(node + sha(leaf + data[i]).digest() + sha(leaf + data[i + 1]).digest()).digest()
        for i in range(0, n - 1, 2)
    ]
    if n % 2:
        up.append(leaf_hash(data[-1]))
    return root(up)


class MerkleTree:
    """A tree that keeps its levels, so root and proofs are cheap after one build.

    `levels[0]` are the leaf hashes; `levels[k][j]` is the hash of the subtree over
    leaves [j * 2**k, min((j + 1) * 2**k, size)), which by the RFC 9162 shape is
    MTH of exactly those leaves.
    """

    __slots__ = ("_levels",)

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        _check_hashes(leaf_hashes, "leaf hashes")
        levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(levels[-1]) > 1:
            levels.append(_next_level(levels[-1]))
        self._levels = levels

    @property
    def size(self) -> int:
        return len(self._levels[0])

    @property
    def root(self) -> bytes:
        return self._levels[-1][0] if self.size else EMPTY_ROOT

    def leaf(self, index: int) -> bytes:
        return self._levels[0][index]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """The audit path of leaf `index`, bottom-up (RFC 9162 section 2.1.3.1)."""
        if not 0 <= index < self.size:
            raise ValueError(f"leaf index {index} is outside a tree of size {self.size}")
        proof = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                proof.append(level[sibling])
            index >>= 1
        return proof

    def _subtree(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end); start is aligned to a power of two covering end."""
        width = end - start
        k = max(0, (width - 1).bit_length())
        # The aligned node at height k starting at `start` covers [start, start + 2**k),
        # clipped to the tree size; RFC 9162's decomposition only ever asks for those.
        if start % (1 << k) == 0 and min(start + (1 << k), self.size) == end:
            return self._levels[k][start >> k]
        return root(self._levels[0][start:end])

    def consistency_proof(self, old_size: int) -> list[bytes]:
        """Proof that the first `old_size` leaves are a prefix (RFC 9162 section 2.1.4.1)."""
        if not 0 < old_size <= self.size:
            raise ValueError(f"old size {old_size} must be in 1..{self.size}")
        proof: list[bytes] = []
        self._subproof(old_size, 0, self.size, True, proof)
        return proof

    def _subproof(self, m: int, start: int, end: int, complete: bool, out: list[bytes]) -> None:
        n = end - start
        if m == n:
            if not complete:
                out.append(self._subtree(start, end))
            return
        k = 1 << ((n - 1).bit_length() - 1)  # largest power of two smaller than n
        if m <= k:
            self._subproof(m, start, start + k, complete, out)
            out.append(self._subtree(start + k, end))
        else:
            self._subproof(m - k, start + k, end, False, out)
            out.append(self._subtree(start, start + k))


def inclusion_proof(leaf_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaf `index` in the tree over `leaf_hashes`."""
    return MerkleTree(leaf_hashes).inclusion_proof(index)


def consistency_proof(leaf_hashes: Sequence[bytes], old_size: int) -> list[bytes]:
    """Proof that the tree over the first `old_size` leaves is a prefix of the whole."""
    return MerkleTree(leaf_hashes).consistency_proof(old_size)


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 section 2.1.3.2. Never raises on malformed input: it returns False.

    As in the RFC, the proof authenticates the leaf, its index and the root; the
    tree size is authenticated only as far as it shapes the path.
    """
    if not (_is_hash(leaf_hash) and _is_hash(root) and all(_is_hash(p) for p in proof)):
        return False
    if not (isinstance(index, int) and isinstance(size, int)) or not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2. Never raises on malformed input: it returns False."""
    if not (_is_hash(old_root) and _is_hash(new_root) and all(_is_hash(p) for p in proof)):
        return False
    if not (isinstance(old_size, int) and isinstance(new_size, int)):
        return False
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # exact power of two: the old root is the first node
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
