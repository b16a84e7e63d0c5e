"""The Litecoin family's adapter (``relayer.adapters`` entry point ``litecoin``): its configuration table
``[chains.NAME.litecoin]`` (relayer.contract.FamilyConfig) and a chain's connection
(relayer.contract.ChainAdapter), from which its Source is opened.

The table::

    [chains.ltc.litecoin]
    network = "regtest"               # main, test or regtest
    [chains.ltc.litecoin.custody]
    threshold = 2                     # M of the N keys below
    keys = ["02...", "03...", "02..."]  # the operators' compressed public keys (any order; sorted)
    [chains.ltc.litecoin.release]       # optional: releases and returns from the custody
    fee_rate = 10                     # litoshis per virtual byte of a new release (the recipient's)
    max_fee_rate = 100                # the highest rate a replacement by fee may reach
    bump_after = 3                    # blocks a release waits unconfirmed before it is replaced
    bump_factor = 150                 # percent of the old rate a replacement pays
    keystore = "/abs/key.json"        # these three: required when the chain is a route's destination
    password_file = "/abs/password"   # (see relayer_litecoin.release_config)
    journal = "/abs/releases.json"
    [chains.ltc.litecoin.burns]
    alpha = "0x..."                   # per source chain: the application whose burns are released

A route into a Litecoin chain releases the burns of the configured application
(:mod:`relayer_litecoin.destination`): its source's light client is each operator's own (``"operators"``)
and its update policy ``custody`` (:mod:`relayer_litecoin.custody_policy`)."""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from relayer.config_schema import Invalid, Report, Table, integer_in, one_of
from relayer.errors import ConfigError, RpcAnswerError
from relayer_litecoin import fetch
from relayer_litecoin.acks import require_txindex
from relayer_litecoin.custody import Custody
from relayer_litecoin.keys import LitecoinSigner
from relayer_litecoin.network import NETWORKS, Network
from relayer_litecoin.policy import ReleasePolicy
from relayer_litecoin.release_config import RELEASE_KEYS, ReleaseSetup, open_signer, parse_setup, required
from relayer_litecoin.rpc import LitecoinRpc
from relayer_litecoin.source import LitecoinSource


@dataclass(frozen=True)
class LitecoinConfig:
    """The parsed ``[chains.NAME.litecoin]`` table."""

    network: Network
    custody: Custody
    release: ReleasePolicy = ReleasePolicy()
    setup: ReleaseSetup = ReleaseSetup()


def _public_key(value: Any) -> bytes:
    if not isinstance(value, str):
        raise Invalid("expected a compressed public key: 66 hex digits")
    try:
        key = bytes.fromhex(value.removeprefix("0x"))
    except ValueError:
        key = b""
    if len(key) != 33 or key[0] not in (2, 3):
        raise Invalid("expected a compressed public key: 66 hex digits starting 02 or 03")
    return key


def _release_policy(table: Table | None) -> ReleasePolicy | None:
    if table is None:
        return None
    default = ReleasePolicy()
    rate = table.get("fee_rate", integer_in(1, 100_000), default.fee_rate)
    top = table.get("max_fee_rate", integer_in(1, 100_000), default.max_fee_rate)
    after = table.get("bump_after", integer_in(1, 1000), default.bump_after)
    factor = table.get("bump_factor", integer_in(101, 1000), default.bump_factor)
    if rate is None or top is None or after is None or factor is None:
        return None
    if top < rate:
        table.report.add(table.key("max_fee_rate"), f"must be at least fee_rate ({rate}), got {top}")
        return None
    return ReleasePolicy(rate, top, after, factor)


class LitecoinAdapter:
    """A Litecoin chain's connection over litecoind's JSON-RPC."""

    legacy_keys: Collection[str] = ()

    def __init__(self, name: str, chain_id: int, rpc: LitecoinRpc, config: LitecoinConfig) -> None:
        self.name, self.chain_id, self.rpc, self.config = name, chain_id, rpc, config
        self.burn_sources: dict[str, Any] = {}  # source chain name -> its adapter (routes resolved into here)
        self.applications: dict[str, bytes] = {}  # source chain name -> the application whose burns release
        self.signer: LitecoinSigner | None = None  # this operator's custody key, opened by resolve_route

    # ---------------------------------------------------------------- FamilyConfig
    @staticmethod
    def parse_config(table: Mapping[str, Any], path: str) -> LitecoinConfig:
        """The typed table. Raises ConfigProblems naming every wrong key under ``path``."""
        report = Report()
        root = Table(table, path, report, ("network", "custody", "release", "burns"))
        name = root.get("network", one_of(tuple(NETWORKS)), example='network = "regtest"')
        custody_table = root.table("custody", ("threshold", "keys"),
                                   example='[custody] with threshold = 2 and keys = ["02...", ...]')
        custody = None
        if custody_table is not None:
            threshold = custody_table.get("threshold", integer_in(1, 16), example="threshold = 2")
            items = custody_table.array("keys", example='keys = ["02...", "03..."]') or []
            keys = [k for key, item in items if (k := report.check(key, item, _public_key)) is not None]
            if threshold is not None and items and len(keys) == len(items):
                try:
                    custody = Custody.of(threshold, keys)
                except ValueError as exc:
                    report.add(custody_table.key("keys" if "repeated" in str(exc) else "threshold"), str(exc))
        release_table = root.table("release", ("fee_rate", "max_fee_rate", "bump_after", "bump_factor", *RELEASE_KEYS))
        release = _release_policy(release_table)
        burns = root.mapping("burns")
        setup = parse_setup(release_table, None if burns is None else Table(burns, root.key("burns"), report, burns))
        report.raise_if_any()
        assert name is not None and custody is not None and release is not None
        return LitecoinConfig(NETWORKS[name], custody, release, setup)

    # ---------------------------------------------------------------- ChainAdapter
    @classmethod
    def connect(cls, name: str, chain_id: int, urls: tuple[str, ...], family: Any, *,
                metrics: Any = None, transport: Any = None) -> LitecoinAdapter:
        """The adapter of chain ``name`` over ``urls`` with the parsed table ``family``. Makes no request.
        ``transport``: an httpx transport for tests (a lying node). Raises ConfigError when ``family`` is
        not a parsed Litecoin table."""
        if not isinstance(family, LitecoinConfig):
            raise ConfigError(f"chains.{name}.litecoin", "missing: the Litecoin family needs its table")
        return cls(name, chain_id, LitecoinRpc(tuple(urls), transport), family)

    @staticmethod
    def fetch_block(url: str, tag: str) -> dict[str, Any] | None:
        """One header for ``relayer header verify --adapter litecoin --rpc URL`` (:mod:`relayer_litecoin.fetch`;
        None: the node knows no such block). Blocking. Raises UsageError, RpcError, RpcAnswerError."""
        return fetch.fetch_block(url, tag)

    async def remote_chain_id(self) -> int:
        """Litecoin has no chain id: the node's genesis block (``getblockhash 0``) must be the configured
        network's, and then the configured id is returned. The node must keep a transaction index
        (``-txindex=1``): a release's acknowledgement proves the transaction the release spends, which only
        the index finds (:mod:`relayer_litecoin.acks`). Raises RpcError, RpcAnswerError (another network's
        node), FatalError (no transaction index). Cancelled: no effect."""
        genesis = await self.rpc.call("getblockhash", 0)
        if genesis != self.config.network.genesis:
            raise RpcAnswerError(f"the node serves another network than {self.config.network.name}",
                                 chain=self.name, genesis=genesis)
        await require_txindex(self.rpc, self.name)
        return self.chain_id

    async def resolve_route(self, source: Any, key: str) -> tuple[str, str]:
        """A route from ``source`` (an adapter with ``name``, ``source`` and ``source_layer``) releases the
        burns of its configured application: ``("operators", "custody")`` (the source's light client is each
        operator's own, off-chain; the update policy ``custody``). Opens this operator's custody key and
        keeps the source adapter for the destination. Raises ConfigError naming the key at fault
        (``chains.NAME.litecoin.burns.SRC``, ``...release.keystore`` / ``password_file`` / ``journal``).
        Cancelled: no effect."""
        setup = self.config.setup
        app = required(setup, self.name, str(source.name))
        if self.signer is None:
            self.signer = open_signer(setup, self.name, self.config.custody, self.config.network)
        self.burn_sources[str(source.name)] = source
        self.applications[str(source.name)] = app
        return "operators", "custody"

    @property
    def source_layer(self) -> bytes:
        """The custody's witness program (sha256 of its witness script): the ``sourceLayer`` of deposits
        (relayer.contract.ChainAdapter). Raises nothing."""
        return self.config.custody.script_pubkey[2:]

    def endpoints(self) -> list[dict[str, Any]]:
        """Each endpoint's health, credentials redacted. Raises nothing."""
        return [e.health() for e in self.rpc.endpoints]

    async def aclose(self) -> None:
        """Close the RPC connections. Raises nothing."""
        await self.rpc.aclose()

    # ---------------------------------------------------------------- roles
    @functools.cached_property
    def source(self) -> LitecoinSource:
        """The chain's Source (one per adapter, sharing its connections; the core reads ``adapter.source``)."""
        return LitecoinSource(self.name, self.chain_id, self.rpc, self.config.custody)


__all__ = ["LitecoinAdapter", "LitecoinConfig"]
