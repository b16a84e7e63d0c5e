"""Deploy the bridge contracts on a pair of EVM chains and wire them to each other.

On each chain of the pair: a ``Bridge``, a ``CommitteeLightClient`` (policy ``qbft``: a
``QbftLightClient``, see ``deploy_qbft_light_client``) of the *counterpart*
chain, a ``TestToken``; then ``registerRemote`` both ways, ``createWrapped`` for the
counterpart's native coin and test token (with the original's decimals) and ``registerToken``
of the local test token for the counterpart; finally test tokens for the users.

Every step prints one progress line through ``report`` (stderr by default).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from adapters.evm.sync_client import SyncEvm
from relayer.errors import DevnetError

Report = Callable[[str], None]
T = TypeVar("T")
#: Deploys the light client of a source chain on a target chain:
#: ``(target, deployer key, source name, source chain id) -> address`` (policy ``qbft``).
LightClientFactory = Callable[[SyncEvm, str, str, int], str]

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
UNIT = 10**18
TOKEN_SUPPLY = 1_000_000 * UNIT
DEFAULT_USER_TOKENS = 10_000 * UNIT
# chain name -> (test token name, symbol); other names get "<Name> Token" / first three letters.
TOKEN_META = {"alpha": ("Alpha Token", "ALP"), "beta": ("Beta Token", "BTA")}


def stderr_report(line: str) -> None:
    """Default progress reporter: one line to stderr."""
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class _Side:
    """One chain of the pair while it is being deployed."""

    name: str
    evm: SyncEvm
    chain_id: int


def token_meta(chain_name: str) -> tuple[str, str]:
    """(name, symbol) of the test token deployed on ``chain_name``."""
    return TOKEN_META.get(chain_name, (f"{chain_name.capitalize()} Token", chain_name[:3].upper()))


def wrapped_meta(remote_name: str, asset: str) -> tuple[str, str]:
    """(name, symbol) of the wrapped form of ``remote_name``'s ``native`` coin or ``token``."""
    if asset == "native":
        return f"Wrapped {remote_name.capitalize()} Ether", f"w{remote_name.upper()}"
    name, symbol = token_meta(remote_name)
    return f"Wrapped {name}", f"w{symbol}"


def sorted_members(addresses: Sequence[str]) -> list[str]:
    """Committee members strictly ascending by numeric value (the light client's rule).

    Raises DevnetError on duplicates.
    """
    members = sorted(addresses, key=lambda a: int(a, 16))
    if len({int(a, 16) for a in members}) != len(members):
        raise DevnetError("duplicate committee member address")
    return members


def same_address(a: str, b: str) -> bool:
    """Case-insensitive address equality."""
    return a.lower() == b.lower()


def deploy_pair(
    alpha: SyncEvm,
    beta: SyncEvm,
    operators: Sequence[str],
    threshold: int,
    deployer_key: str,
    *,
    users: Sequence[str] = (),
    user_tokens: int = DEFAULT_USER_TOKENS,
    names: tuple[str, str] = ("alpha", "beta"),
    report: Report = stderr_report,
    light_client: LightClientFactory | None = None,
) -> dict[str, dict[str, Any]]:
    """Deploy and cross-register the bridge contracts on ``alpha`` and ``beta``.

    ``operators`` form the committee of both light clients (sorted here), ``users`` each get
    ``user_tokens`` base units of the local test token on both chains. Returns
    ``{name: {"name", "chain_id", "rpc", "bridge", "light_client", "test_token",
    "wrapped_native", "wrapped_token"}}`` where ``wrapped_*`` on a chain are the wrapped forms
    of the *counterpart's* native coin and test token. ``light_client`` deploys each chain's
    light client of its counterpart instead of a ``CommitteeLightClient`` (policy ``qbft``).

    Raises DevnetError on a bad committee, ContractRevert when a deployment step reverts,
    RpcError when a node cannot be reached.
    """
    if not 1 <= threshold <= len(operators):
        raise DevnetError(f"threshold {threshold} does not fit a committee of {len(operators)}")
    members = sorted_members(operators)
    pair = (_Side(names[0], alpha, int(alpha.chain_id)), _Side(names[1], beta, int(beta.chain_id)))
    if pair[0].chain_id == pair[1].chain_id:
        raise DevnetError(f"both chains have chain id {pair[0].chain_id}")
    core = _both(pair, lambda side, other: _deploy_core(side, other, members, threshold,
                                                        deployer_key, report, light_client))
    _both(pair, lambda side, other: _register(side, other, core, deployer_key, report))
    decimals = {side.name: int(side.evm.call(core[side.name]["test_token"], "TestToken", "decimals")) for side in pair}
    wrapped = _both(pair, lambda side, other: _create_wrapped(side, other, core, decimals[other.name],
                                                              deployer_key, report))
    _both(pair, lambda side, other: _register_token(side, other, core[side.name], deployer_key, report))
    _both(pair, lambda side, other: _fund_users(side, core[side.name], users, user_tokens,
                                                deployer_key, report))
    return {side.name: _summary(side, core[side.name], wrapped[side.name]) for side in pair}


def _both(pair: tuple[_Side, _Side], step: Callable[[_Side, _Side], T]) -> dict[str, T]:
    """Run ``step(side, counterpart)`` for both chains concurrently (one thread per chain)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="deploy") as pool:
        futures = {pair[0].name: pool.submit(step, pair[0], pair[1]),
                   pair[1].name: pool.submit(step, pair[1], pair[0])}
        return {name: future.result() for name, future in futures.items()}


def _deploy_core(side: _Side, other: _Side, members: list[str], threshold: int, key: str,
                 report: Report, factory: LightClientFactory | None = None) -> dict[str, str]:
    bridge = side.evm.deploy(key, "Bridge")
    report(f"[{side.name}] Bridge deployed at {bridge}")
    if factory is not None:
        light_client = factory(side.evm, key, other.name, other.chain_id)
    else:
        light_client = side.evm.deploy(key, "CommitteeLightClient", other.chain_id, members, threshold)
        report(f"[{side.name}] CommitteeLightClient of {other.name} ({other.chain_id}) at {light_client}"
               f" ({threshold}-of-{len(members)})")
    name, symbol = token_meta(side.name)
    token = side.evm.deploy(key, "TestToken", name, symbol, TOKEN_SUPPLY)
    report(f"[{side.name}] TestToken {symbol} at {token}")
    return {"bridge": bridge, "light_client": light_client, "test_token": token}


def _register(side: _Side, other: _Side, core: dict[str, dict[str, str]], key: str,
              report: Report) -> None:
    here, there = core[side.name], core[other.name]
    side.evm.transact(key, here["bridge"], "Bridge", "registerRemote",
                      other.chain_id, there["bridge"], here["light_client"])
    report(f"[{side.name}] registered remote {other.name}: bridge {there['bridge']}")


def _create_wrapped(side: _Side, other: _Side, core: dict[str, dict[str, str]], token_decimals: int,
                    key: str, report: Report) -> dict[str, str]:
    bridge = core[side.name]["bridge"]
    made = {}
    for asset, remote_token, decimals in (("native", ZERO_ADDRESS, 18),
                                          ("token", core[other.name]["test_token"], token_decimals)):
        name, symbol = wrapped_meta(other.name, asset)
        side.evm.transact(key, bridge, "Bridge", "createWrapped", other.chain_id, remote_token,
                          name, symbol, decimals)
        made[asset] = side.evm.call(bridge, "Bridge", "wrappedOf", other.chain_id, remote_token)
        report(f"[{side.name}] {symbol} ({name}) at {made[asset]}")
    return made


def _register_token(side: _Side, other: _Side, core: dict[str, str], key: str, report: Report) -> None:
    """Allow locking the local test token for the counterpart (whose wrapped form now exists)."""
    side.evm.transact(key, core["bridge"], "Bridge", "registerToken", other.chain_id, core["test_token"], True)
    report(f"[{side.name}] {token_meta(side.name)[1]} may be locked for {other.name}")


def _fund_users(side: _Side, core: dict[str, str], users: Sequence[str], amount: int, key: str,
                report: Report) -> None:
    symbol = token_meta(side.name)[1]
    for user in users:
        side.evm.transact(key, core["test_token"], "TestToken", "transfer", user, amount)
        report(f"[{side.name}] sent {amount // UNIT} {symbol} to user {user}")


def _summary(side: _Side, core: dict[str, str], wrapped: dict[str, str]) -> dict[str, Any]:
    return {"name": side.name, "chain_id": side.chain_id, "rpc": side.evm.url, **core,
            "wrapped_native": wrapped["native"], "wrapped_token": wrapped["token"]}


def send_value(evm: SyncEvm, key: str, to: str, value: int) -> dict[str, Any]:
    """Send ``value`` wei of the native coin from ``key`` to ``to``; returns the receipt.

    Raises ContractRevert when the transfer fails on-chain, RpcError when the node cannot be reached.
    """
    return evm.send_and_wait(key, to, b"", value=value)


def fund_native(evm: SyncEvm, key: str, addresses: Sequence[str], value: int, *, chain: str,
                report: Report = stderr_report) -> None:
    """Send ``value`` wei to each of ``addresses`` from ``key``, one progress line each.

    Raises ContractRevert or RpcError like ``send_value``.
    """
    for address in addresses:
        send_value(evm, key, address, value)
        report(f"[{chain}] sent {value / UNIT:g} ETH to {address}")


# --------------------------------------------------------------------------- policy qbft

def deploy_qbft_light_client(evm: SyncEvm, key: str, source_chain_id: int, checkpoint_number: int,
                             validators: Sequence[str]) -> str:
    """Deploy ``QbftLightClient(sourceChainId, checkpointNumber, validators, 0)`` (QBFT flavour)
    with ``validators`` strictly ascending, as the contract expects; returns its address.

    Raises DevnetError on duplicate validators, ContractRevert when the deployment reverts.
    """
    return evm.deploy(key, "QbftLightClient", source_chain_id, checkpoint_number,
                      sorted_members(validators), 0)
