"""LineageRegistry v2 on a real node (the pinned anvil): same code, same gas as py-evm.

Gas is deterministic, so the P4 figures asserted on the embedded chain must be exactly the
ones a real node charges; a difference would mean the two EVMs disagree on the fork rules.
"""

from __future__ import annotations

from typing import Any

from web3 import HTTPProvider, Web3

from tests.ledger.conftest import Anvil
from tests.ledger.test_contract import (
    BATCH_SUBJECT,
    Chain,
    Status,
    artifact,
    chain,  # noqa: F401  (the module-scoped embedded chain fixture)
    nonzero32,
)


def _scenario(w3: Web3) -> dict[str, Any]:
    """Deploys from account 0 and runs the P4 transactions; what each cost and showed."""
    art = artifact()
    a = w3.eth.accounts

    def wait(sent: Any) -> Any:
        receipt = w3.eth.wait_for_transaction_receipt(sent)
        assert receipt["status"] == 1
        return receipt

    deployed = wait(
        w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
        .constructor()
        .transact({"from": a[0]})
    )
    c = w3.eth.contract(address=deployed["contractAddress"], abi=art["abi"]).functions
    root, subject, batch = nonzero32("anvil/root"), nonzero32("anvil/subject"), nonzero32("b")
    wait(c.grantAnchorer(a[1]).transact({"from": a[0]}))
    out = {
        "code": bytes(w3.eth.get_code(deployed["contractAddress"])),
        "deployedAt": c.deployedAt().call() == deployed["blockNumber"],
        "deploy": deployed["gasUsed"],
        "anchor": wait(c.anchor(root, subject).transact({"from": a[0]}))["gasUsed"],
        "anchor other": wait(c.anchor(root, subject).transact({"from": a[1]}))["gasUsed"],
        "anchor again": wait(c.anchor(root, subject).transact({"from": a[0]}))["gasUsed"],
        "batch": wait(c.anchorBatch(batch, 64).transact({"from": a[0]}))["gasUsed"],
        "revoke": wait(c.revoke(root, subject, a[1], "x").transact({"from": a[1]}))["gasUsed"],
        "mark": wait(c.markUntrusted(a[1], 0).transact({"from": a[0]}))["gasUsed"],
    }
    out["status"] = [
        c.check(root, subject, a[0]).call()[0],
        c.check(root, subject, a[1]).call()[0],  # revoked by the key, which is now untrusted
        c.check(batch, BATCH_SUBJECT, a[0]).call()[0],
    ]
    return out


def test_anvil_runs_the_same_code_for_the_same_gas_as_the_embedded_evm(
    anvil: Anvil,
    chain: Chain,  # noqa: F811
) -> None:
    on_anvil = _scenario(Web3(HTTPProvider(anvil.url, request_kwargs={"timeout": 10})))
    embedded = _scenario(chain.w3)
    assert on_anvil["code"] == bytes.fromhex(artifact()["deployedBytecode"].removeprefix("0x"))
    assert on_anvil["deployedAt"] is True
    assert on_anvil["status"] == [Status.TRUSTED, Status.UNTRUSTED, Status.TRUSTED]
    assert on_anvil["anchor"] <= 50_000  # P4
    assert on_anvil["batch"] <= 1_500 * 64  # P4
    assert on_anvil["anchor other"] == on_anvil["anchor"] > on_anvil["anchor again"]
    assert on_anvil == embedded
