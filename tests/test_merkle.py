"""RFC 6962 hashing and proofs, checked against published vectors and against pymerkle."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymerkle import InmemoryTree
from pymerkle import verify_consistency as pymerkle_verify_consistency

from docket.custody import merkle

# The eight test leaves of RFC 6962's reference implementation (certificate-transparency's
# merkle_tree_test.cc) and the published roots of each prefix of them.
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def hashes(data: list[bytes]) -> list[bytes]:
    return [merkle.leaf_hash(d) for d in data]


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert merkle.root([]).hex() == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("size", range(1, 9))
def test_roots_match_published_vectors(size: int) -> None:
    assert merkle.root(hashes(LEAVES[:size])).hex() == ROOTS[size - 1]


def pymerkle_tree(count: int) -> InmemoryTree:
    tree = InmemoryTree(algorithm="sha256")
    for i in range(count):
        tree.append_entry(f"leaf {i}".encode())
    return tree


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 8, 13, 31, 32, 33])
def test_inclusion_proofs_match_pymerkle(size: int) -> None:
    leaves = hashes([f"leaf {i}".encode() for i in range(size)])
    tree = pymerkle_tree(size)
    assert merkle.root(leaves) == tree.get_root(size)
    for index in range(size):
        ours = merkle.inclusion_proof(index, leaves)
        # pymerkle numbers leaves from 1 and puts the leaf's own hash first in its path.
        theirs = [
            bytes.fromhex(h) for h in tree.prove_inclusion(index + 1, size).serialize()["path"]
        ]
        assert set(ours) <= set(theirs[1:]) | {leaves[index]}
        assert len(ours) == len(theirs) - 1
        assert merkle.verify_inclusion(index, size, leaves[index], ours, tree.get_root(size))


@pytest.mark.parametrize("new_size", [2, 3, 7, 8, 9, 16, 21])
def test_consistency_proofs_verify_against_pymerkle_roots(new_size: int) -> None:
    leaves = hashes([f"leaf {i}".encode() for i in range(new_size)])
    tree = pymerkle_tree(new_size)
    for old_size in range(1, new_size + 1):
        proof = merkle.consistency_proof(old_size, leaves)
        assert merkle.verify_consistency(
            old_size, new_size, tree.get_root(old_size), tree.get_root(new_size), proof
        )
        # And pymerkle's own proof checks out against the roots we compute.
        pymerkle_verify_consistency(
            merkle.root(leaves[:old_size]),
            merkle.root(leaves),
            tree.prove_consistency(old_size, new_size),
        )


def test_rfc9162_example_consistency_proof_from_3_to_7() -> None:
    # RFC 9162 section 2.1.5, tree of 7 leaves a..f, j: PROOF(3, D[7]) = [c, d, g, l],
    # where g = H(a, b) and l = H(i, j) with i = H(e, f).
    leaves = hashes([f"d{i}".encode() for i in range(7)])
    a, b, c, d, e, f, j = leaves
    g, i = merkle.node_hash(a, b), merkle.node_hash(e, f)
    h, l_ = merkle.node_hash(c, d), merkle.node_hash(i, j)
    assert merkle.root(leaves) == merkle.node_hash(merkle.node_hash(g, h), l_)
    assert merkle.consistency_proof(3, leaves) == [c, d, g, l_]


def test_tampered_inclusion_proof_is_rejected() -> None:
    leaves = hashes(LEAVES)
    root = merkle.root(leaves)
    proof = merkle.inclusion_proof(5, leaves)
    assert merkle.verify_inclusion(5, 8, leaves[5], proof, root)
    flipped = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    assert not merkle.verify_inclusion(5, 8, leaves[5], flipped, root)
    assert not merkle.verify_inclusion(4, 8, leaves[5], proof, root)
    assert not merkle.verify_inclusion(5, 8, leaves[5], proof[:-1], root)
    assert not merkle.verify_inclusion(5, 8, leaves[5], [*proof, proof[0]], root)


def test_tampered_consistency_proof_is_rejected() -> None:
    leaves = hashes(LEAVES)
    proof = merkle.consistency_proof(3, leaves)
    old, new = merkle.root(leaves[:3]), merkle.root(leaves)
    assert merkle.verify_consistency(3, 8, old, new, proof)
    assert not merkle.verify_consistency(3, 8, new, old, proof)
    assert not merkle.verify_consistency(3, 8, old, new, proof[:-1])
    assert not merkle.verify_consistency(4, 8, old, new, proof)
    assert not merkle.verify_consistency(3, 8, old, new, [*proof, proof[0]])


@given(st.integers(min_value=1, max_value=70), st.data())
def test_proofs_verify_for_any_size(size: int, data: st.DataObject) -> None:
    leaves = hashes([i.to_bytes(4, "big") for i in range(size)])
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    old = data.draw(st.integers(min_value=1, max_value=size))
    root = merkle.root(leaves)
    assert merkle.verify_inclusion(
        index, size, leaves[index], merkle.inclusion_proof(index, leaves), root
    )
    assert merkle.verify_consistency(
        old, size, merkle.root(leaves[:old]), root, merkle.consistency_proof(old, leaves)
    )
