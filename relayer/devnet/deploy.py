"""Deploy the message layer and its applications on a pair of EVM chains and wire them to each other.

On each chain of the pair: a ``MessageLayer``, an ``EvmReceiptVerifier``, a
``CommitteeLightClient`` (policy ``qbft``: a ``QbftLightClient``, see ``deploy_qbft_light_client``)
of the *counterpart* chain, a ``TokenRouter``, a ``TraceabilityRegistry`` and a ``TestToken``; then
``setRemote`` of the counterpart on the layer, the counterpart's router and registry on the
applications, ``createWrapped`` for the counterpart's native coin and test token (with the
original's decimals), ``registerToken`` of the local test token for the counterpart, the users as
producers of the registry; finally test tokens for the users.

The deployer stays the owner of every contract (devnet); in production the owner is a
``Timelock`` (``adapters/evm/contracts/governance``) whose proposer is the consortium's multisig.
Each chain's transactions of one phase are sent back to back and their receipts awaited together;
both chains are deployed concurrently.

Every step prints one progress line through ``report`` (stderr by default).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import rlp
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from adapters.evm.abi import Contract
from adapters.evm.messaging import address_word
from adapters.evm.sync_client import SyncEvm
from relayer.errors import ContractRevert, DevnetError

Report = Callable[[str], None]
T = TypeVar("T")
#: Deploys the light client of a source chain on a target chain:
#: ``(target, deployer key, source name, source chain id) -> address`` (policy ``qbft``).
LightClientFactory = Callable[[SyncEvm, str, str, int], str]

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
UNIT = 10**18
TOKEN_SUPPLY = 1_000_000 * UNIT
DEFAULT_USER_TOKENS = 10_000 * UNIT
#: Highest gasLimit a message may ask of the destination's handler (MessageLayer.maxGasLimit).
MAX_GAS_LIMIT = 5_000_000
# chain name -> (test token name, symbol); other names get "<Name> Token" / first three letters.
TOKEN_META = {"alpha": ("Alpha Token", "ALP"), "beta": ("Beta Token", "BTA")}
#: The contract keys of one chain in deployment.json (besides the wrapped tokens).
CONTRACT_KEYS = ("message_layer", "light_client", "verifier", "token_router", "traceability", "test_token")
PRODUCTION_OWNER = "production: a Timelock (adapters/evm/contracts/governance) owns it"


def stderr_report(line: str) -> None:
    """Default progress reporter: one line to stderr."""
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class _Side:
    """One chain of the pair while it is being deployed."""

    name: str
    evm: SyncEvm
    chain_id: int


@dataclass
class _Batch:
    """Transactions of one chain from one key, sent back to back (explicit nonces) and awaited together."""

    evm: SyncEvm
    key: str
    nonce: int = -1
    sent: list[tuple[str, str]] = field(default_factory=list)  # (what, tx hash)

    def __post_init__(self) -> None:
        self.sender = Account.from_key(self.key).address
        self.nonce = self.evm.nonce(self.sender)

    def deploy(self, what: str, contract: str, *args: Any) -> str:
        """Send the deployment of ``contract``; returns the address it will have."""
        address = create_address(self.sender, self.nonce)
        self._send(what, None, Contract.load(contract).encode_constructor(*args))
        return address

    def call(self, what: str, to: str, contract: str, fn: str, *args: Any) -> None:
        self._send(what, to, Contract.load(contract).encode_call(fn, *args))

    def _send(self, what: str, to: str | None, data: bytes) -> None:
        self.sent.append((what, self.evm.send_transaction(self.key, to, data, nonce=self.nonce)))
        self.nonce += 1

    def settle(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait for every receipt; raises ContractRevert naming the step whose transaction reverted,
        RpcError when a receipt does not come within ``timeout`` seconds."""
        receipts = []
        for what, tx_hash in self.sent:
            receipt = self.evm.wait_receipt(tx_hash, timeout)
            if int(receipt.get("status", "0x1"), 16) != 1:
                raise ContractRevert(f"{what} reverted on-chain", tx=tx_hash)
            receipts.append(receipt)
        self.sent = []
        return receipts


def create_address(sender: str, nonce: int) -> str:
    """The address of the contract ``sender`` creates with transaction nonce ``nonce``."""
    return str(to_checksum_address(keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))[12:]))


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
    """Deploy and cross-register the message layer and its applications on ``alpha`` and ``beta``.

    ``operators`` form the committee of both light clients (sorted here), ``users`` each get
    ``user_tokens`` base units of the local test token on both chains and may record batches in
    both registries. Returns ``{name: {"name", "chain_id", "rpc", "message_layer", "light_client",
    "verifier", "token_router", "traceability", "test_token", "wrapped_native", "wrapped_token"}}``
    where ``light_client`` is the chain's light client of its counterpart and ``wrapped_*`` are the
    wrapped forms of the *counterpart's* native coin and test token. ``light_client`` deploys each
    chain's light client of its counterpart instead of a ``CommitteeLightClient`` (policy ``qbft``).

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
    decimals = {side.name: int(side.evm.call(core[side.name]["test_token"], "TestToken", "decimals")) for side in pair}
    _both(pair, lambda side, other: _wire(side, other, core, decimals[other.name], users, user_tokens,
                                          deployer_key, report))
    wrapped = _both(pair, lambda side, other: _wrapped(side, other, core))
    return {side.name: _summary(side, core[side.name], wrapped[side.name]) for side in pair}


def _both(pair: tuple[_Side, _Side], step: Callable[[_Side, _Side], T]) -> dict[str, T]:
    """Run ``step(side, counterpart)`` for both chains concurrently (one thread per chain)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="deploy") as pool:
        futures = {pair[0].name: pool.submit(step, pair[0], pair[1]),
                   pair[1].name: pool.submit(step, pair[1], pair[0])}
        return {name: future.result() for name, future in futures.items()}


def _deploy_core(side: _Side, other: _Side, members: list[str], threshold: int, key: str,
                 report: Report, factory: LightClientFactory | None = None) -> dict[str, str]:
    """Deploy the chain's contracts (the light client of ``other`` included); their addresses."""
    light_client = factory(side.evm, key, other.name, other.chain_id) if factory is not None else None
    batch = _Batch(side.evm, key)
    owner = batch.sender
    layer = batch.deploy("MessageLayer", "MessageLayer", owner, MAX_GAS_LIMIT)
    verifier = batch.deploy("EvmReceiptVerifier", "EvmReceiptVerifier")
    if light_client is None:
        light_client = batch.deploy("CommitteeLightClient", "CommitteeLightClient", other.chain_id, members, threshold)
    router = batch.deploy("TokenRouter", "TokenRouter", layer, owner)
    registry = batch.deploy("TraceabilityRegistry", "TraceabilityRegistry", layer, owner)
    name, symbol = token_meta(side.name)
    token = batch.deploy("TestToken", "TestToken", name, symbol, TOKEN_SUPPLY)
    made = {r["contractAddress"].lower() for r in batch.settle()}
    expected = {layer, verifier, router, registry, token} | ({light_client} if factory is None else set())
    if made != {a.lower() for a in expected}:
        raise DevnetError(f"[{side.name}] contracts were not created at their predicted addresses "
                          "(did another transaction of the deployer interleave?)")
    report(f"[{side.name}] MessageLayer at {layer} (owner: the deployer {owner}; {PRODUCTION_OWNER}), "
           f"max handler gas {MAX_GAS_LIMIT}")
    report(f"[{side.name}] EvmReceiptVerifier at {verifier}")
    if factory is None:
        report(f"[{side.name}] CommitteeLightClient of {other.name} ({other.chain_id}) at {light_client}"
               f" ({threshold}-of-{len(members)})")
    report(f"[{side.name}] TokenRouter at {router}, TraceabilityRegistry at {registry} (owner: the deployer)")
    report(f"[{side.name}] TestToken {symbol} at {token}")
    return {"message_layer": layer, "light_client": light_client, "verifier": verifier, "token_router": router,
            "traceability": registry, "test_token": token}


def _wire(side: _Side, other: _Side, core: dict[str, dict[str, str]], token_decimals: int,
          users: Sequence[str], user_tokens: int, key: str, report: Report) -> None:
    """Point the chain's layer and applications at ``other``'s, create the wrapped tokens of its
    assets, register the local test token, allow the users as producers and fund them."""
    here, there = core[side.name], core[other.name]
    batch = _Batch(side.evm, key)
    batch.call("setRemote", here["message_layer"], "MessageLayer", "setRemote", other.chain_id,
               address_word(there["message_layer"]), here["light_client"], here["verifier"])
    batch.call("setRemoteRouter", here["token_router"], "TokenRouter", "setRemoteRouter", other.chain_id,
               address_word(there["token_router"]))
    batch.call("setRemoteRegistry", here["traceability"], "TraceabilityRegistry", "setRemoteRegistry",
               other.chain_id, address_word(there["traceability"]))
    wrapped = []
    for asset, remote_token, decimals in (("native", ZERO_ADDRESS, 18),
                                          ("token", there["test_token"], token_decimals)):
        name, symbol = wrapped_meta(other.name, asset)
        batch.call(f"createWrapped {symbol}", here["token_router"], "TokenRouter", "createWrapped", other.chain_id,
                   remote_token, name, symbol, decimals)
        wrapped.append(f"{symbol} ({name})")
    symbol = token_meta(side.name)[1]
    batch.call("registerToken", here["token_router"], "TokenRouter", "registerToken", other.chain_id,
               here["test_token"], True)
    for user in users:
        batch.call(f"setProducer {user}", here["traceability"], "TraceabilityRegistry", "setProducer", user, True)
        batch.call(f"fund {user}", here["test_token"], "TestToken", "transfer", user, user_tokens)
    batch.settle()
    report(f"[{side.name}] remote {other.name}: layer {there['message_layer']} through light client "
           f"{here['light_client']} and verifier {here['verifier']}")
    report(f"[{side.name}] router knows {other.name}'s router {there['token_router']}, registry knows "
           f"{other.name}'s registry {there['traceability']}")
    report(f"[{side.name}] wrapped tokens of {other.name}: {', '.join(wrapped)}")
    report(f"[{side.name}] {symbol} may be locked for {other.name}")
    for user in users:
        report(f"[{side.name}] sent {user_tokens // UNIT} {symbol} to user {user}, a producer of the registry")


def _wrapped(side: _Side, other: _Side, core: dict[str, dict[str, str]]) -> dict[str, str]:
    router = core[side.name]["token_router"]
    return {asset: str(side.evm.call(router, "TokenRouter", "wrappedOf", other.chain_id, remote))
            for asset, remote in (("native", ZERO_ADDRESS), ("token", core[other.name]["test_token"]))}


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
    """Send ``value`` wei to each of ``addresses`` from ``key`` (back to back, awaited together),
    one progress line each.

    Raises ContractRevert or RpcError like ``send_value``.
    """
    batch = _Batch(evm, key)
    for address in addresses:
        batch.sent.append((f"fund {address}", evm.send_transaction(key, address, b"", value=value, gas=21_000,
                                                                   nonce=batch.nonce)))
        batch.nonce += 1
    batch.settle()
    for address in addresses:
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
