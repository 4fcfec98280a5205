"""Proof files (`aichain.proof/v1`): what `prove` writes, `load_proof` reads back."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aichain_audit.lineage import LineageManifest, config_leaf
from aichain_audit.proof import load_proof, prove

# Every value a config leaf accepts (SPEC 7): scalars, empty containers, and floats of every
# range, integral ones at and beyond 2**53 included (JCS writes 2**53 as `9007199254740992`).
integral_floats = st.integers(-(10**22), 10**22).map(float)
config_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53 - 1), 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    integral_floats,
    st.integers(2**53, 10**21).map(float),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=20),
    st.just({}),
    st.just([]),
)


@given(config_values)
def test_a_proof_of_any_accepted_config_value_is_read_back(value: Any) -> None:
    manifest = LineageManifest.build([config_leaf("c.yaml", "/v", value)])
    proof = prove(manifest, "c.yaml#/v")
    written = proof.to_json()
    read = load_proof(written, "proof.json")
    assert read == proof
    assert read.to_json() == written
    assert read.verifies_against(manifest.root)


def test_a_proof_of_2_53_as_a_float_is_read_back() -> None:
    """SPEC 7 accepts `9007199254740992.0` (a float by its form); its proof writes it as
    `9007199254740992`, which the reader must take as that float, not refuse as an integer."""
    manifest = LineageManifest.build([config_leaf("c.yaml", "/v", 9007199254740992.0)])
    written = prove(manifest, "c.yaml#/v").to_json()
    assert b'"value":9007199254740992}' in written
    assert load_proof(written, "proof.json").verifies_against(manifest.root)
