"""The daemon: resolve routes, then run the API, one follower per source chain and one
submitter per destination chain under a supervisor, until SIGTERM or SIGINT.

Supervision: a retryable failure (RPC down, rate-limited) restarts the service with
exponential backoff; a fatal one (a lying RPC, a reorg below finality) halts that service
with a loud ``service.halted`` alarm and leaves the others running; a store failure stops
the daemon.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
import trio
from eth_account.signers.local import LocalAccount

from adapters.evm.committee import committee_domain_separator
from relayer import plugins
from relayer.api import Api, serve_api
from relayer.attester import Attester, Collector, Member
from relayer.config import ChainConfig, Config, load_config, load_operator_key
from relayer.errors import ConfigError, FatalError, RelayerError, RetryableError, StoreError
from relayer.follower import ChainFollower, ReceiptCache
from relayer.logging import configure_logging
from relayer.routes import ChainRuntime, Route
from relayer.rpc import RpcClient
from relayer.status import snapshot
from relayer.store import Store
from relayer.submitter import FeePolicy, Submitter, Turn

log = structlog.get_logger("relayer.daemon")

GWEI = 10**9
BACKOFF_MAX = 30.0
DRAIN_SECONDS = 10.0


def run_from_config_file(path: Path) -> int:
    """`relayer run`: returns the exit status. Raises ConfigError (exit 2) before anything starts."""
    config = load_config(path)
    configure_logging(config.logging.level)
    account = load_operator_key(config)
    try:
        trio.run(Daemon(config, account).run)
    except StoreError as exc:
        log.error("daemon.store_failed", error=str(exc), action="check disk space and permissions of state_dir")
        return 1
    except ConfigError:
        raise
    return 0


class Daemon:
    """One operator's relayer process."""

    def __init__(self, config: Config, account: LocalAccount) -> None:
        self.config = config
        self.account = account
        self.store = Store(config.operator.state_dir / "relayer.db")
        self.cache = ReceiptCache()
        self.chains: dict[str, ChainRuntime] = {}
        self.progress: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.rpcs: dict[str, RpcClient] = {}

    async def run(self) -> None:
        """Run until a signal; cancellation drains within DRAIN_SECONDS."""
        log.info("daemon.starting", operator=self.config.operator.name, address=self.account.address)
        try:
            await self._resolve()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._signals, nursery.cancel_scope)
                await nursery.start(serve_api, self._api(), self.config.operator.api_host,
                                    self.config.operator.api_port)
                self._start_services(nursery)
                log.info("daemon.ready", routes=[r.name for c in self.chains.values() for r in c.incoming])
        finally:
            for rpc in self.rpcs.values():
                with trio.move_on_after(1, shield=True):
                    await rpc.aclose()
            self.store.close()
            log.info("daemon.stopped")

    async def _signals(self, scope: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("daemon.stopping", signal=signal.Signals(signum).name)
                scope.cancel()
                return

    # start-up ---------------------------------------------------------------------
    async def _resolve(self) -> None:
        """Connect every chain, check it is the configured one, and resolve every route."""
        for name, chain in self.config.chains.items():
            adapter_cls = plugins.load(plugins.ADAPTER_GROUP, chain.adapter, key=f"chains.{name}.adapter")
            rpc = RpcClient(name, chain.rpc)
            self.rpcs[name] = rpc
            adapter = adapter_cls(name, chain.chain_id, rpc, chain.bridge)
            reported = await _retrying(f"chains.{name}", adapter.remote_chain_id)
            if reported != chain.chain_id:
                raise ConfigError(f"chains.{name}.chain_id", f"is {chain.chain_id} but the RPC serves chain "
                                  f"{reported}; fix chain_id or rpc")
            self.chains[name] = ChainRuntime(name, chain.chain_id, adapter, {}, [])
        for rc in self.config.routes:
            route = await self._route(rc.source, rc.destination, rc.batch_size)
            self.chains[rc.source].outgoing[route.dst_chain_id] = route
            self.chains[rc.destination].incoming.append(route)
            log.info("route.resolved", route=route.name, light_client=route.light_client, epoch=route.epoch)

    async def _route(self, src: str, dst: str, batch_size: int) -> Route:
        s, d = self.chains[src], self.chains[dst]
        key = f"routes[{src}->{dst}]"
        light_client = await _retrying(key, lambda: d.adapter.light_client_of(s.chain_id))
        if int(light_client, 16) == 0:
            raise ConfigError(key, f"the bridge on {dst} has no light client registered for {src}")
        remote = await _retrying(key, lambda: d.adapter.remote_bridge(s.chain_id))
        if remote.lower() != s.adapter.bridge.lower():
            raise ConfigError(f"chains.{src}.bridge", f"the bridge on {dst} trusts {remote} for {src}, "
                              f"not {s.adapter.bridge}")
        epoch = await _retrying(key, lambda: d.adapter.committee_epoch(light_client))
        return Route(src=src, dst=dst, src_chain_id=s.chain_id, dst_chain_id=d.chain_id,
                     src_bridge=s.adapter.bridge, light_client=light_client,
                     domain_separator=committee_domain_separator(d.chain_id, light_client),
                     epoch=epoch, batch_size=batch_size)

    def _start_services(self, nursery: trio.Nursery) -> None:
        attester = Attester(self.account.key.hex(), self.account.address)
        for name, rt in self.chains.items():
            if rt.outgoing:
                follower = self._follower(rt, attester)
                nursery.start_soon(self._supervise, f"follower:{name}", follower.run)
            if rt.incoming:
                submitter = self._submitter(rt)
                nursery.start_soon(self._supervise, f"submitter:{name}", submitter.run)

    def _follower(self, rt: ChainRuntime, attester: Attester) -> ChainFollower:
        chain = self.config.chains[rt.name]
        lc_cls = plugins.load(plugins.LIGHT_CLIENT_GROUP, chain.light_client, key=f"chains.{rt.name}.light_client")
        latest = self.store.latest_header(rt.name)
        lc = (lc_cls.from_trusted_state(rt.name, rt.chain_id, chain.confirmations,
                                        {"number": latest.number, "hash": latest.hash})
              if latest else lc_cls(rt.name, rt.chain_id, chain.confirmations))
        progress = self.progress.setdefault(rt.name, {})
        return ChainFollower(rt, lc, self.store, attester, self.cache, start_block=chain.start_block,
                             poll_interval=chain.poll_interval, progress=progress)

    def _submitter(self, rt: ChainRuntime) -> Submitter:
        chain: ChainConfig = self.config.chains[rt.name]
        committee = self.config.committee
        members = [Member(m.name, m.address, m.api) for m in committee.members]
        ordered = tuple(sorted((m.address for m in members), key=str.lower))
        me = [a.lower() for a in ordered].index(self.account.address.lower())
        collector = Collector(self.store, members, self.account.address, committee.threshold)
        fees = FeePolicy(max_fee=int(chain.fees.max_fee_gwei * GWEI),
                         priority_fee=int(chain.fees.priority_fee_gwei * GWEI),
                         gas_multiplier=chain.fees.gas_multiplier)
        progress = self.progress.setdefault(rt.name, {})
        return Submitter(rt, self.chains, self.store, self.cache, collector, self.account,
                         Turn(ordered, me, committee.grace_period), fees, chain.poll_interval, progress)

    # supervision ------------------------------------------------------------------
    async def _supervise(self, name: str, service: Callable[[], Awaitable[None]]) -> None:
        """Run ``service`` forever: backoff on retryable errors, halt on fatal ones."""
        delay = 1.0
        state = self.services.setdefault(name, {"state": "starting", "restarts": 0})
        while True:
            state.update(state="running", since=time.time())
            try:
                await service()
            except RetryableError as exc:
                state.update(state="retrying", error=str(exc), restarts=state["restarts"] + 1)
                log.warning("service.retry", service=name, error=str(exc), retry_in_s=delay)
                await trio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX)
            except StoreError:
                raise
            except FatalError as exc:
                state.update(state="halted", error=str(exc))
                log.error("service.halted", service=name, error=str(exc), alarm=True,
                          action="investigate the chain and RPC named here; restart the relayer once resolved")
                await trio.sleep_forever()

    def _api(self) -> Api:
        return Api(self.store, self._status, self._ready)

    def _status(self) -> dict[str, Any]:
        live = {"chains": {n: dict(p) for n, p in self.progress.items()}, "services": self.services}
        for name, rpc in self.rpcs.items():
            live["chains"].setdefault(name, {})["rpc"] = [
                {"url": h.url, "state": h.state, "requests": h.requests, "errors": h.errors}
                for h in rpc.health.values()]
        return snapshot(self.config, self.store, live)

    def _ready(self) -> bool:
        return bool(self.services) and all(s["state"] == "running" for s in self.services.values())


async def _retrying(key: str, fn: Callable[[], Awaitable[Any]], attempts: int = 30) -> Any:
    """Start-up reads: retry RPC failures for a while, then give up naming the config key."""
    for attempt in range(attempts):
        try:
            return await fn()
        except RetryableError as exc:
            if attempt == attempts - 1:
                raise ConfigError(key, f"unreachable: {exc}; check the RPC URL and that the node runs") from exc
            log.warning("startup.waiting", key=key, error=str(exc))
            await trio.sleep(1.0)
    raise RelayerError("unreachable")  # pragma: no cover
