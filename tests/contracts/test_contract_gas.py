"""Gas of the delivery paths, measured on anvil by the measurement of ``bench/contract_gas.py``.

Asserts only generous upper bounds (the targets are <=120k for one mint with its proof and
<=60k per message in a batch of 32); the figures themselves are written by ``make bench``,
never by a test.
"""

from __future__ import annotations

import sys
from pathlib import Path

from bridge_env import bridge_pair

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from contract_gas import BATCH, measure  # noqa: E402


def test_delivery_gas() -> None:
    with bridge_pair() as pair:
        figures = measure(pair)
    print("\ncontract gas:", figures)
    assert figures["mint_single_gas"] <= 150_000
    assert figures["deliver_batch_32_total_gas"] / BATCH <= 80_000
    assert figures["header_update_2_of_3_gas"] <= 150_000
    assert figures["proof_nodes_in_batch_block"]
