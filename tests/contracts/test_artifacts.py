"""The committed contract artifacts are exactly what a fresh compile produces."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMPILE = REPO / "adapters" / "evm" / "build" / "compile.mjs"
ARTIFACTS = REPO / "adapters" / "evm" / "artifacts"
EXPECTED = {"CommitteeLightClient", "CommitteeHashLightClient", "ILightClient", "MPTHarness",
            "QbftLightClient", "TestToken", "WrappedToken",
            # FISCO BCOS sources (contracts/verifiers/)
            "FiscoBcosReceiptVerifier", "FiscoBcosSealCheck",
            # Litecoin deposits (contracts/verifiers/)
            "LitecoinDepositVerifier",
            # test-only attackers of the TokenRouter (contracts/test/Hostile.sol)
            "HookToken", "ReentrantLocker", "RefusingRecipient", "GasBurner",
            # message layer (contracts/messaging/) and its test handlers (contracts/test/MsgRecipients.sol)
            "MessageLayer", "EvmReceiptVerifier",
            "MsgRecorder", "MsgReverter", "MsgGasBurner", "MsgSwitch", "MsgReentrant", "MsgApp", "MsgEmpty",
            # applications (contracts/apps/), governance (contracts/governance/), test sender (test/AppSenders.sol)
            "TokenRouter", "TraceabilityRegistry", "WrappedLitecoin",
            "Timelock", "ConsortiumMultisig", "AppRefusingSender"}


def _node() -> str:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "solc").is_dir():
        pytest.fail("node or the pinned solc npm package is not installed: run `make setup` (needs Node.js 20+)",
                    pytrace=False)
    return node


def test_committed_artifacts_match_a_fresh_compile() -> None:
    result = subprocess.run([_node(), str(COMPILE), "--check"], cwd=REPO, capture_output=True, text=True,
                            timeout=600)  # solcjs with viaIR takes minutes on a loaded 2-core machine
    assert result.returncode == 0, f"stale artifacts; run `make contracts`:\n{result.stderr}{result.stdout}"


def test_artifact_shape() -> None:
    names = {p.stem for p in ARTIFACTS.glob("*.json")}
    assert names == EXPECTED
    for name in sorted(names):
        path = ARTIFACTS / f"{name}.json"
        text = path.read_text()
        artifact = json.loads(text)
        assert text == json.dumps(artifact, indent=2, sort_keys=True) + "\n", f"{name}: not canonical JSON"
        assert set(artifact) == {"contractName", "abi", "bytecode", "deployedBytecode", "compiler", "sourceHash"}
        assert artifact["contractName"] == name
        assert artifact["compiler"]["version"].startswith("0.8.28+")
        assert artifact["compiler"]["settings"]["optimizer"] == {"enabled": True, "runs": 200}
        assert artifact["compiler"]["settings"]["evmVersion"] == "berlin"
        assert path.stat().st_size < 2_000_000
        if name != "ILightClient":
            runtime = (len(artifact["deployedBytecode"]) - 2) // 2
            assert 0 < runtime <= 24_576, f"{name}: runtime size {runtime} exceeds EIP-170"
