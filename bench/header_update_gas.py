"""Destination gas of one light-client header update: QBFT (committed seals) beside the committee policy.

    python bench/header_update_gas.py [--repeats N]

Starts two anvil nodes: a source chain whose real blocks are the headers (sealed with a QBFT
extraData by generated validator keys, see ``adapters.evm.qbft``) and a destination chain
running ``QbftLightClient`` (4, 7 and 10 validators, quorum seals) and ``CommitteeLightClient``
(2-of-3, 3-of-4, 5-of-7, 7-of-10). Every figure is the ``gasUsed`` of one ``updateHeader``
transaction for a new block number (21000 base and calldata included), the median of
``--repeats`` updates after one warm-up update per client. The per-seal marginal cost is the
least-squares slope over updates of the 10-validator client carrying 7..10 seals (the
contracts check every seal / signature given).

Writes ``bench/results/header-update-gas.json`` and ``bench/results/header-update-gas.md``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _path in (REPO, REPO / "bench"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from eth_utils import keccak  # noqa: E402

from adapters.evm import committee as cm  # noqa: E402
from adapters.evm import qbft  # noqa: E402
from adapters.evm.abi import Contract  # noqa: E402
from adapters.evm.sync_client import SyncEvm  # noqa: E402
from light_clients.evm.header import Header, header_from_rpc  # noqa: E402
from relayer.devnet.anvil import ANVIL_KEYS, start_anvil, stop_anvil  # noqa: E402

RESULTS = REPO / "bench" / "results"
DEPLOYER = ANVIL_KEYS[0]
SOURCE_CHAIN, DEST_CHAIN = 1001, 1002
QBFT_SIZES = (4, 7, 10)
COMMITTEES = ((2, 3), (3, 4), (5, 7), (7, 10))  # (threshold, members)


def gen_keys(label: str, count: int) -> list[str]:
    keys = ["0x" + keccak(text=f"bench-{label}-{i}").hex() for i in range(count)]
    return sorted(keys, key=lambda k: int(qbft.address_of(k), 16))


def gas(receipt: dict[str, Any]) -> int:
    return int(receipt["gasUsed"], 16)


def calldata_gas(contract: str, fn: str, *args: Any) -> int:
    """Intrinsic calldata cost of the call (EIP-2028: 4 per zero byte, 16 per other byte)."""
    data = Contract.load(contract).encode_call(fn, *args)
    return sum(4 if b == 0 else 16 for b in data)


@dataclass
class Source:
    """Real headers of the source anvil, handed out in increasing block order."""

    evm: SyncEvm
    next_number: int = 1

    def headers(self) -> Iterator[Header]:
        while True:
            if self.next_number > self.evm.block_number():
                self.evm.rpc("anvil_mine", hex(64))
            block = self.evm.rpc("eth_getBlockByNumber", hex(self.next_number), False)
            self.next_number += 1
            yield header_from_rpc(block)


# ---------------------------------------------------------------------- QBFT
def qbft_updates(dest: SyncEvm, source: Iterator[Header], n: int, seals: int,
                 repeats: int) -> list[tuple[int, int, int]]:
    """(gas, header bytes, calldata gas) of ``repeats`` updates of a fresh n-validator client, ``seals`` seals each."""
    keys = gen_keys(f"qbft-{n}", n)
    listed = [qbft.address_of(k) for k in keys]
    first = next(source)
    lc = dest.deploy(DEPLOYER, "QbftLightClient", SOURCE_CHAIN, first.number - 1, listed, 0)
    dest.transact(DEPLOYER, lc, "QbftLightClient", "updateHeader",
                  qbft.seal_header(first, keys[:seals], listed=listed))  # warm-up
    out = []
    for _ in range(repeats):
        raw = qbft.seal_header(next(source), keys[:seals], listed=listed)
        used = gas(dest.transact(DEPLOYER, lc, "QbftLightClient", "updateHeader", raw))
        out.append((used, len(raw), calldata_gas("QbftLightClient", "updateHeader", raw)))
    return out


# ---------------------------------------------------------------------- committee
def committee_updates(dest: SyncEvm, source: Iterator[Header], members: int, threshold: int, sigs: int,
                      repeats: int) -> list[tuple[int, int, int]]:
    """(gas, signature bytes, calldata gas) of ``repeats`` updates of a fresh committee client,
    ``sigs`` signatures each."""
    keys = sorted(gen_keys(f"committee-{members}", members), key=lambda k: int(cm.signer_address(k), 16))
    lc = dest.deploy(DEPLOYER, "CommitteeLightClient", SOURCE_CHAIN, [cm.signer_address(k) for k in keys], threshold)
    domain = cm.committee_domain_separator(dest.chain_id, lc)

    def submit(header: Header) -> tuple[int, int, int]:
        digest = cm.header_digest(domain, SOURCE_CHAIN, header.number, header.hash, header.receipts_root, 0)
        packed = cm.pack_signatures([(cm.signer_address(k), cm.sign_digest(k, digest)) for k in keys[:sigs]])
        args = (header.number, header.hash, header.receipts_root, packed)
        receipt = dest.transact(DEPLOYER, lc, "CommitteeLightClient", "updateHeader", *args)
        return gas(receipt), len(packed), calldata_gas("CommitteeLightClient", "updateHeader", *args)

    submit(next(source))  # warm-up
    return [submit(next(source)) for _ in range(repeats)]


# ---------------------------------------------------------------------- reporting
def median_gas(samples: list[tuple[int, int, int]]) -> int:
    return int(statistics.median(g for g, _, _ in samples))


def execution_gas(samples: list[tuple[int, int, int]]) -> int:
    """Median gas without the intrinsic part (21000 base + calldata)."""
    return int(statistics.median(g - 21000 - c for g, _, c in samples))


def slope(points: list[tuple[int, int]]) -> float:
    """Least-squares slope of gas over seal count."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)


def measure(repeats: int) -> dict[str, Any]:
    src_node = start_anvil(SOURCE_CHAIN, block_time=None)
    dst_node = start_anvil(DEST_CHAIN, block_time=None)
    try:
        with SyncEvm(src_node.url) as src, SyncEvm(dst_node.url) as dest:
            source = Source(src).headers()
            result = _measure(dest, source, repeats)
            src.rpc("anvil_mine", hex(1))
            fork = header_from_rpc(src.rpc("eth_getBlockByNumber", "latest", False)).fork
            result["method"] = f"{dest.rpc('web3_clientVersion')} ({fork} headers), " + result["method"]
            return result
    finally:
        stop_anvil(src_node)
        stop_anvil(dst_node)


def _measure(dest: SyncEvm, source: Iterator[Header], repeats: int) -> dict[str, Any]:
    qbft_rows = []
    for n in QBFT_SIZES:
        samples = qbft_updates(dest, source, n, qbft.quorum(n), repeats)
        qbft_rows.append({"validators": n, "seals": qbft.quorum(n), "gas": median_gas(samples),
                          "execution_gas": execution_gas(samples), "calldata_gas": samples[0][2],
                          "header_rlp_bytes": samples[0][1]})
    committee_rows = []
    for threshold, members in COMMITTEES:
        samples = committee_updates(dest, source, members, threshold, threshold, repeats)
        committee_rows.append({"members": members, "threshold": threshold, "gas": median_gas(samples),
                               "execution_gas": execution_gas(samples), "calldata_gas": samples[0][2],
                               "signature_bytes": samples[0][1]})
    qbft_points = [(s, median_gas(qbft_updates(dest, source, 10, s, repeats))) for s in range(7, 11)]
    committee_points = [(s, median_gas(committee_updates(dest, source, 10, 7, s, repeats))) for s in range(7, 11)]
    return {
        "qbft": qbft_rows,
        "committee": committee_rows,
        "per_seal_marginal_gas": {
            "qbft": round(slope(qbft_points)),
            "committee": round(slope(committee_points)),
            "qbft_points_10_validators": [{"seals": s, "gas": g} for s, g in qbft_points],
            "committee_points_10_members": [{"signatures": s, "gas": g} for s, g in committee_points],
        },
        "method": (f"automine, destination chain id {DEST_CHAIN}; gasUsed of one updateHeader "
                   f"transaction for a new block number (21000 base + calldata included), median of {repeats} "
                   "after one warm-up update per client; QBFT headers are real anvil blocks of the source "
                   f"chain {SOURCE_CHAIN} with a QBFT extraData sealed by generated keys (round 0, no vote); "
                   "marginal = least-squares slope over 7..10 seals/signatures of a 10-member set"),
    }


def markdown(result: dict[str, Any]) -> str:
    committee = {row["members"]: row for row in result["committee"]}
    lines = [
        "# Header update gas: QBFT committed seals vs committee signatures",
        "",
        "`python bench/header_update_gas.py`; " + result["method"] + ".",
        "",
        "| validators / members | QBFT seals (quorum) | QBFT update gas | of which calldata | QBFT header bytes "
        "| committee | committee update gas | of which calldata | QBFT − committee |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    sizes = sorted({row["validators"] for row in result["qbft"]} | set(committee))
    qrows = {row["validators"]: row for row in result["qbft"]}
    for n in sizes:
        q, c = qrows.get(n), committee.get(n)
        cells = [str(n),
                 str(q["seals"]) if q else "—", f"{q['gas']:,}" if q else "—",
                 f"{q['calldata_gas']:,}" if q else "—", str(q["header_rlp_bytes"]) if q else "—",
                 f"{c['threshold']}-of-{c['members']}" if c else "—", f"{c['gas']:,}" if c else "—",
                 f"{c['calldata_gas']:,}" if c else "—",
                 f"{q['gas'] - c['gas']:+,}" if q and c else "—"]
        lines.append("| " + " | ".join(cells) + " |")
    marginal = result["per_seal_marginal_gas"]
    lines += [
        "",
        f"Marginal cost per additional seal (QBFT, 10 validators): **{marginal['qbft']:,} gas**; "
        f"per additional signature (committee, 10 members): **{marginal['committee']:,} gas**.",
        "",
        "Both clients store the same record (block hash, receipts root) per accepted header. The QBFT "
        "update also carries and re-hashes the whole header (twice: committed-seal digest and Besu block "
        "hash), so its fixed part is larger; per seal both pay one ecrecover and one membership read.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="measured updates per configuration (median)")
    args = parser.parse_args(argv)
    from common import start, write_result

    started = start()
    result = measure(args.repeats)
    write_result("header-update-gas", "header-update-gas", result, started)
    return result


def summary(doc: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    committee = next(row for row in doc["committee"] if row["members"] == 3)
    qbft = " / ".join(f"{row['gas']:,}" for row in sorted(doc["qbft"], key=lambda r: r["validators"]))
    sizes = "/".join(str(row["validators"]) for row in sorted(doc["qbft"], key=lambda r: r["validators"]))
    return [("header update gas, committee 2-of-3", f"{committee['gas']:,}", "", ""),
            (f"header update gas, QBFT {sizes} validators", qbft, "", "")]


if __name__ == "__main__":
    main()
