"""docs/consortium.md's FISCO BCOS configuration (English and Chinese) is a working one: its light
client options, read as the daemon reads them, follow the recorded block 60 from its checkpoint."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from fisco_vectors import load

from relayer.contract import CandidateHeader
from relayer_fisco_bcos.client import FiscoBcosLightClient

DOC = Path(__file__).resolve().parents[3] / "docs" / "consortium.md"


def test_both_languages_configurations_follow_block_60(fisco_dir: Path) -> None:
    blocks = re.findall(r"```toml\n(\[chains\.fisco\].*?|#[^\n]*\n\[chains\.fisco\].*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 2
    header = load(fisco_dir, "bcos3_secp_block60_proofs.json")["header"]
    for block in blocks:
        chain = tomllib.loads(block)["chains"]["fisco"]
        assert chain["light_client"] == "fisco-bcos"
        client = FiscoBcosLightClient.from_options("fisco", chain["chain_id"], 0, chain["light_client_options"])
        verified = client.check_header(CandidateHeader(60, None, b"", header))
        client.accept([verified])
        assert client.head_number == 60
