"""The demo's Litecoin round trip (``make demo`` when litecoind is installed): both directions through the
operators' daemons, with exact balances.

1 LTC deposited to the custody for devnet user 0 is minted on alpha (exactly 100,000,000 wLTC litoshis more);
0.5 wLTC burned back is released by the operators (2 of 3 custody signatures) to a fresh address of the
Litecoin user wallet, which then holds exactly 50,000,000 litoshis less the fee the release JSON states, that
fee being what the release's inputs hold beyond its outputs and at most the operators' ``max_fee_rate`` times
the release's virtual size; the burn leaves exactly 50,000,000 fewer wLTC.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.evm.sync_client import SyncEvm
from relayer.devnet import litecoin
from relayer.devnet.litecoin_burn import BurnResult, burn
from relayer.devnet.litecoin_transfer import deposit
from relayer.errors import RelayerError

DEPOSIT = 100_000_000  # litoshis: 1 LTC
BURN = 50_000_000  # 0.5 LTC


def _wrapped(deployment: dict[str, Any], owner: str) -> int:
    alpha = deployment["chains"][litecoin.DESTINATION]
    with SyncEvm(alpha["rpc"]) as evm:
        return int(evm.call(alpha[litecoin.NAME]["wrapped"], "WrappedLitecoin", "balanceOf", owner))


def release_problems(release: BurnResult) -> list[str]:
    """What does not hold of a waited-for release of a BURN-litoshi burn (empty: all hold)."""
    problems = []
    fee, paid, balance = release.fee, release.paid, release.recipient_balance
    if fee is None or paid is None or balance is None or release.vsize is None:
        return [f"the release of {release.message_id} was not waited for"]
    if paid != BURN - fee:
        problems.append(f"the release pays {paid} litoshis, not {BURN} less its fee {fee}")
    if balance != BURN - fee:
        problems.append(f"{release.recipient} holds {balance} litoshis, not {BURN} less the fee {fee}")
    cap = (release.max_fee_rate or 0) * release.vsize
    if not 0 < fee <= cap:
        problems.append(f"fee {fee} litoshis outside (0, {cap}] (max_fee_rate {release.max_fee_rate} x vsize "
                        f"{release.vsize})")
    return problems


def round_trip(dir: Path, deployment: dict[str, Any], timeout: float,
               report: Callable[[str], None]) -> list[str]:
    """Deposit 1 LTC, burn 0.5 back; what did not hold (empty: all did). Raises nothing for a failed step (it
    is a problem line)."""
    user = deployment["users"][0]["address"]
    problems: list[str] = []
    try:
        before = _wrapped(deployment, user)
        minted = deposit(dir, litecoin.DESTINATION, "1", wait=True, timeout=timeout)
        report(f"litecoin -> alpha: 1 LTC deposit {minted.source_tx} minted in {minted.latency_s or 0:.2f} s "
               f"(outcome {minted.outcome})")
        if minted.outcome != "delivered" or minted.wrapped_balance != before + DEPOSIT:
            problems.append(f"deposit: outcome {minted.outcome}, wLTC {minted.wrapped_balance}, expected "
                            f"{before + DEPOSIT}")
        released = burn(dir, litecoin.DESTINATION, "0.5", wait=True, timeout=timeout)
        report(f"alpha -> litecoin: 0.5 wLTC burn {released.burn_tx} released in {released.release_txid} "
               f"after {released.latency_s} s ({released.mined_blocks} regtest blocks mined): "
               f"{released.recipient} holds {released.recipient_balance_ltc} LTC, fee {released.fee} litoshis "
               f"({released.fee_rate} litoshis/vbyte over {released.vsize} vbytes)")
        problems += release_problems(released)
        after = _wrapped(deployment, user)
        if after != before + DEPOSIT - BURN:
            problems.append(f"wLTC of {user}: {after}, expected {before + DEPOSIT - BURN}")
    except RelayerError as exc:
        problems.append(f"{type(exc).__name__}: {exc}")
    return problems


__all__ = ["BURN", "DEPOSIT", "release_problems", "round_trip"]
