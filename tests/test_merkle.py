"""The Merkle core against RFC 6962/9162 test vectors and as properties."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from aichain_audit import merkle

# The RFC 6962 test inputs (certificate-transparency reference test data).
VECTOR_INPUTS = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
VECTOR_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
LEAVES = [merkle.leaf_hash(bytes.fromhex(h)) for h in VECTOR_INPUTS]


def hx(hashes: list[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    assert merkle.root([]) == hashlib.sha256(b"").digest()
    assert merkle.MerkleTree([]).root == hashlib.sha256(b"").digest()


@pytest.mark.parametrize("size", sorted(VECTOR_ROOTS))
def test_roots_match_rfc6962_vectors(size: int) -> None:
    assert merkle.root(LEAVES[:size]).hex() == VECTOR_ROOTS[size]
    assert merkle.MerkleTree(LEAVES[:size]).root.hex() == VECTOR_ROOTS[size]


@pytest.mark.parametrize(
    ("index", "size", "path"),
    [
        (0, 1, []),
        (
            0,
            8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            [
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            [
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ],
)
def test_inclusion_proofs_match_rfc6962_vectors(index: int, size: int, path: list[str]) -> None:
    assert hx(merkle.inclusion_proof(LEAVES[:size], index)) == path
    proof = [bytes.fromhex(p) for p in path]
    root = bytes.fromhex(VECTOR_ROOTS[size])
    assert merkle.verify_inclusion(LEAVES[index], index, size, proof, root)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        (1, 1, []),
        (
            1,
            8,
            [
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            [
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            [
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ],
)
def test_consistency_proofs_match_rfc6962_vectors(old: int, new: int, path: list[str]) -> None:
    assert hx(merkle.consistency_proof(LEAVES[:new], old)) == path
    proof = [bytes.fromhex(p) for p in path]
    assert merkle.verify_consistency(
        old, new, bytes.fromhex(VECTOR_ROOTS[old]), bytes.fromhex(VECTOR_ROOTS[new]), proof
    )


def reference_mth(leaves: list[bytes]) -> bytes:
    """RFC 9162's recursive definition, written independently of the level-wise build."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return merkle.node_hash(reference_mth(leaves[:k]), reference_mth(leaves[k:]))


leaf_lists = st.lists(st.binary(max_size=8), min_size=1, max_size=40).map(
    lambda items: [merkle.leaf_hash(x) for x in items]
)


@given(leaf_lists)
def test_root_equals_the_recursive_definition(leaves: list[bytes]) -> None:
    assert merkle.root(leaves) == reference_mth(leaves) == merkle.MerkleTree(leaves).root


@given(leaf_lists)
def test_every_inclusion_proof_of_every_index_verifies(leaves: list[bytes]) -> None:
    tree = merkle.MerkleTree(leaves)
    for i in range(len(leaves)):
        assert merkle.verify_inclusion(
            leaves[i], i, len(leaves), tree.inclusion_proof(i), tree.root
        )


@given(leaf_lists, st.data())
def test_altered_inclusion_proof_leaf_index_or_root_fails(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = merkle.MerkleTree(leaves)
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(i)
    flip = data.draw(st.integers(0, 255))
    bit = 1 << data.draw(st.integers(0, 7))

    def flipped(h: bytes) -> bytes:
        return h[: flip % 32] + bytes([h[flip % 32] ^ bit]) + h[flip % 32 + 1 :]

    assert not merkle.verify_inclusion(flipped(leaves[i]), i, n, proof, tree.root)
    assert not merkle.verify_inclusion(leaves[i], i, n, proof, flipped(tree.root))
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:k], flipped(proof[k]), *proof[k + 1 :]]
        assert not merkle.verify_inclusion(leaves[i], i, n, bad, tree.root)
        assert not merkle.verify_inclusion(leaves[i], i, n, proof[:-1], tree.root)
    assert not merkle.verify_inclusion(leaves[i], i, n, [*proof, tree.root], tree.root)
    other = data.draw(st.integers(0, n - 1))
    if leaves[other] != leaves[i]:
        assert not merkle.verify_inclusion(leaves[i], other, n, proof, tree.root)
    assert not merkle.verify_inclusion(leaves[i], n + other, n, proof, tree.root)


@given(leaf_lists, st.data())
def test_altered_size_fails_unless_it_gives_the_same_path_shape(
    leaves: list[bytes], data: st.DataObject
) -> None:
    """RFC 9162 proofs authenticate the size only through the path's shape (see SPEC §1)."""
    tree = merkle.MerkleTree(leaves)
    n = len(leaves)
    i = data.draw(st.integers(0, n - 1))
    m = data.draw(st.integers(1, 2 * n + 2).filter(lambda m: m != n))
    proof = tree.inclusion_proof(i)
    accepted = merkle.verify_inclusion(leaves[i], i, m, proof, tree.root)
    if i >= m:
        assert not accepted
    else:
        # Accepted only if a tree of m leaves combines the same hashes in the same directions:
        # check by building such a tree from the real siblings placed where size m wants them.
        same_shape = _directions(i, m, len(proof)) == _directions(i, n, len(proof))
        assert accepted == same_shape


def _directions(index: int, size: int, length: int) -> list[bool] | None:
    """The left/right sequence RFC 9162 verification follows, or None if the length is wrong."""
    fn, sn, out = index, size - 1, []
    for _ in range(length):
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            out.append(True)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            out.append(False)
        fn >>= 1
        sn >>= 1
    return out if sn == 0 else None


@given(leaf_lists, st.data())
def test_every_consistency_proof_verifies_and_altered_ones_fail(
    leaves: list[bytes], data: st.DataObject
) -> None:
    tree = merkle.MerkleTree(leaves)
    n = len(leaves)
    m = data.draw(st.integers(1, n))
    old_root = merkle.root(leaves[:m])
    proof = tree.consistency_proof(m)
    assert proof == merkle.consistency_proof(leaves, m)
    assert merkle.verify_consistency(m, n, old_root, tree.root, proof)
    wrong = hashlib.sha256(b"wrong").digest()
    assume(wrong not in (old_root, tree.root))
    assert not merkle.verify_consistency(m, n, wrong, tree.root, proof)
    assert not merkle.verify_consistency(m, n, old_root, wrong, proof)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:k], wrong, *proof[k + 1 :]]
        if bad != proof:
            assert not merkle.verify_consistency(m, n, old_root, tree.root, bad)


@settings(max_examples=50)
@given(leaf_lists)
def test_a_prefix_that_differs_is_not_consistent(leaves: list[bytes]) -> None:
    n = len(leaves)
    for m in range(1, n):
        forged = [*leaves[: m - 1], merkle.leaf_hash(b"forged")]
        assume(forged[-1] != leaves[m - 1])
        assert not merkle.verify_consistency(
            m, n, merkle.root(forged), merkle.root(leaves), merkle.consistency_proof(leaves, m)
        )


def test_malformed_arguments_are_refused_or_false() -> None:
    with pytest.raises(ValueError):
        merkle.root([b"short"])
    tree = merkle.MerkleTree(LEAVES[:3])
    with pytest.raises(ValueError):
        tree.inclusion_proof(3)
    with pytest.raises(ValueError):
        tree.consistency_proof(0)
    assert not merkle.verify_inclusion(b"x", 0, 1, [], tree.root)
    assert not merkle.verify_inclusion(LEAVES[0], -1, 3, [], tree.root)
    assert not merkle.verify_consistency(0, 3, tree.root, tree.root, [])
    assert not merkle.verify_consistency(3, 2, tree.root, tree.root, [])


@given(st.lists(st.binary(max_size=40), max_size=70))
def test_root_of_data_is_the_root_of_the_leaf_hashes(data: list[bytes]) -> None:
    assert merkle.root_of_data(data) == merkle.root([merkle.leaf_hash(d) for d in data])
