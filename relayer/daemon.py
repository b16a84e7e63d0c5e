"""The daemon: resolve routes, then run the API, one follower per source chain and one
submitter per destination chain under a supervisor, until SIGTERM or SIGINT.

Supervision: a retryable failure (RPC down, rate-limited) restarts the service with
exponential backoff; a fatal one (a lying RPC, a reorg below finality) halts that service
with a loud ``service.halted`` alarm and leaves the others running; a follower halted with
evidence (or started while evidence is open) resumes once the operator resolves it (see
``relayer.halts``); a store failure stops the daemon.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import trio

from relayer import halts, plugins
from relayer.api import Api, serve_api
from relayer.attester import Member, Peers
from relayer.config import ChainConfig, Config, load_config, load_operator_key, log_deprecations
from relayer.contract import Destination, LightClient, LightClientFactory, RouteRef
from relayer.cosign import CoSignRoute, CoSignService, PeerCoSigners
from relayer.errors import (
    ConfigError,
    FatalError,
    RelayerError,
    RetryableError,
    RpcError,
    StoreError,
    StoreRefused,
    StoreUnavailable,
)
from relayer.follower import ChainFollower, ReceiptCache
from relayer.leases import Leases
from relayer.logging import configure_logging
from relayer.metrics import Metrics
from relayer.policy_host import Host
from relayer.routes import ChainRuntime, Route
from relayer.status import snapshot
from relayer.store import LeaseRow, Store
from relayer.submitter import Submitter, Turn
from relayer.systemd import Notifier

if TYPE_CHECKING:  # the key family's account type; importing eth_account costs ~0.7 s per command
    from eth_account.signers.local import LocalAccount

log = structlog.get_logger("relayer.daemon")

BACKOFF_MAX = 30.0
DRAIN_SECONDS = 20.0
STALL_MIN_SECONDS = 30.0
STORE_RETRY_SECONDS = 2.0  # between starts of a service while the PostgreSQL store is unavailable
STARTUP_ATTEMPTS = 12  # start-up reads, one second apart, before giving up (exit 1)


def run_from_config_file(path: Path) -> int:
    """`relayer run`: returns the exit status. Raises ConfigError or StoreRefused (exit 2) before
    anything starts."""
    config = load_config(path)
    configure_logging(config.logging.level)
    log_deprecations(config)
    account = load_operator_key(config)
    try:
        trio.run(Daemon(config, account).run)
    except (StoreError, BaseExceptionGroup) as exc:
        # a service's StoreError reaches here wrapped in the nurseries' exception groups
        store_error = _leaf(exc, StoreError)
        if isinstance(store_error, StoreRefused):
            raise store_error  # noqa: B904 - not ours, or a newer release's: exit 2, as a ConfigError
        if store_error is None:
            config_error = _leaf(exc, ConfigError)
            if config_error is not None:
                raise config_error  # noqa: B904 - the group only wraps it
            raise
        action = (f"check free disk space, file-size limits (ulimit -f) and permissions of "
                  f"{config.operator.state_dir}, or move a corrupt file away" if config.store.url is None else
                  "check store.url: that the PostgreSQL server runs and is reachable, and the user may log in")
        log.error("daemon.store_failed", error=str(store_error),
                  action=action + "; the relayer resumes where it stopped once the state database is usable")
        return 1
    return 0


def _leaf(exc: BaseException, kind: type[RelayerError]) -> Any:
    """``exc`` itself or the first exception of type ``kind`` nested in its exception groups."""
    if isinstance(exc, kind):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _leaf(inner, kind)
            if found is not None:
                return found
    return None


class Daemon:
    """One operator's relayer process."""

    def __init__(self, config: Config, account: LocalAccount, notifier: Notifier | None = None) -> None:
        self.config = config
        self.account = account
        self.store = Store(config.store_location(), pool_size=config.store.pool_size)
        self.cache = ReceiptCache()
        self.metrics = Metrics()
        self.metrics.count_store_reads(self.store)
        self.leases = Leases(self.store, config.store.lease_ttl, self.metrics)
        self.notifier = notifier or Notifier()
        self.chains: dict[str, ChainRuntime] = {}
        self.progress: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.adapters: dict[str, Any] = {}  # chain -> its adapter plugin, closed at the end
        self.stopping = trio.Event()
        self.submitters_done = trio.Event()
        self.followers_scope = trio.CancelScope()
        self.submitters_scope = trio.CancelScope()
        self.host = self._policy_host()
        self.cosigners = PeerCoSigners(self._members(), account.address)
        self.cosigning: dict[str, Destination] = {}  # chain -> the destination answering peers' co-sign requests

    async def run(self) -> None:
        """Run until SIGTERM/SIGINT, then drain: followers stop at once, submitters finish the
        batch in flight within DRAIN_SECONDS. Raises StoreError when the state database fails."""
        log.info("daemon.starting", operator=self.config.operator.name, address=self.account.address)
        self.notifier.status("connecting to chains")
        try:
            await self._resolve()
            async with trio.open_nursery() as nursery:
                await nursery.start(serve_api, self._api(), self.config.operator.api_host,
                                    self.config.operator.api_port)
                nursery.start_soon(self._run_followers)
                nursery.start_soon(self._run_submitters)
                await self._wait_ready()
                nursery.start_soon(self._watchdog)
                await self._wait_for_signal()
                await self._drain()
                nursery.cancel_scope.cancel()
        finally:
            for adapter in self.adapters.values():
                with trio.move_on_after(1, shield=True):
                    await adapter.aclose()
            self.store.close()
            log.info("daemon.stopped")

    async def _wait_for_signal(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                log.info("daemon.stopping", signal=signal.Signals(signum).name, drain_s=DRAIN_SECONDS)
                return

    async def _drain(self) -> None:
        self.notifier.stopping(f"draining (at most {DRAIN_SECONDS:.0f} s)")
        self.followers_scope.cancel()
        self.stopping.set()
        self.submitters_scope.deadline = trio.current_time() + DRAIN_SECONDS
        await self.submitters_done.wait()
        pending = len(self.store.open_txs())
        log.info("daemon.drained", pending_transactions=pending)

    async def _wait_ready(self) -> None:
        while not self._ready():
            await trio.sleep(0.1)
        routes = [r.name for c in self.chains.values() for r in c.incoming]
        self.notifier.ready(f"relaying {', '.join(routes)}")
        log.info("daemon.ready", routes=routes)

    # start-up ---------------------------------------------------------------------
    async def _resolve(self) -> None:
        """Connect every chain, check it is the configured one, and resolve every route."""
        for name, chain in self.config.chains.items():
            adapter_cls = plugins.load(plugins.ADAPTER_GROUP, chain.adapter, key=f"chains.{name}.adapter")
            adapter = adapter_cls.connect(name, chain.chain_id, chain.rpc, chain.family, metrics=self.metrics)
            self.adapters[name] = adapter
            reported = await _retrying(f"chains.{name}", adapter.remote_chain_id)
            if reported != chain.chain_id:
                raise ConfigError(f"chains.{name}.chain_id", f"is {chain.chain_id} but the RPC serves chain "
                                  f"{reported}; fix chain_id or rpc")
            self.chains[name] = ChainRuntime(name, chain.chain_id, adapter, {}, [])
        for rc in self.config.routes:
            route = replace(await self._route(rc.source, rc.destination, rc.batch_size),
                            max_attempts=rc.max_attempts, retry_base=rc.retry_base)
            self.chains[rc.source].outgoing[route.dst_chain_id] = route
            self.chains[rc.destination].incoming.append(route)
            log.info("route.resolved", route=route.name, light_client=route.light_client, policy=route.policy.name)

    async def _route(self, src: str, dst: str, batch_size: int) -> Route:
        s, d = self.chains[src], self.chains[dst]
        key = f"routes[{src}->{dst}]"
        light_client, name = await _retrying(key, lambda: d.adapter.resolve_route(s.adapter, key))
        factory = plugins.load(plugins.UPDATE_POLICY_GROUP, name, key=key)
        ref = RouteRef(f"{src}->{dst}", src, dst, s.chain_id, d.chain_id, light_client)
        policy = await _retrying(key, lambda: factory.open(ref, d.adapter, self.host))
        return Route(src=src, dst=dst, src_chain_id=s.chain_id, dst_chain_id=d.chain_id,
                     light_client=light_client, batch_size=batch_size, policy=policy)

    def _policy_host(self) -> Host:
        """What the update policies get of the core: store, this operator's key, the peers, turn-taking."""
        return Host(self.config, self.store, plugins.operator_keys().signer(self.account),
                    Peers(self._members(), self.account.address), self._turn().block_due)

    def _members(self) -> list[Member]:
        return [Member(m.name, m.address, m.api) for m in self.config.committee.members]

    def _open_destination(self, rt: ChainRuntime) -> Destination:
        """A destination of chain ``rt`` through its family's ``relayer.destinations`` opener."""
        chain: ChainConfig = self.config.chains[rt.name]
        open_destination = plugins.load(plugins.DESTINATION_GROUP, chain.adapter, key=f"chains.{rt.name}.adapter")
        destination: Destination = open_destination(rt.adapter, self.account, self.store, chain.family, self.metrics,
                                                    self.stopping, self.cosigners)
        return destination

    def _cosigner(self, name: str) -> Destination:
        """The destination of chain ``name`` that answers peers' co-sign requests (opened at the first one and
        kept for the process's life)."""
        if name not in self.cosigning:
            self.cosigning[name] = self._open_destination(self.chains[name])
        return self.cosigning[name]

    def _cosign_routes(self) -> list[CoSignRoute]:
        return [CoSignRoute(route.ref, self.chains[route.src].adapter.source,
                            {cid: r.dst for cid, r in self.chains[route.src].outgoing.items()})
                for rt in self.chains.values() for route in rt.incoming]

    def _turn(self) -> Turn:
        committee = self.config.committee
        ordered = tuple(sorted((m.address for m in committee.members), key=str.lower))
        me = [a.lower() for a in ordered].index(self.account.address.lower())
        return Turn(ordered, me, committee.grace_period)

    async def _run_followers(self) -> None:
        with self.followers_scope:
            async with trio.open_nursery() as nursery:
                for name, rt in self.chains.items():
                    if rt.outgoing:
                        nursery.start_soon(self._exclusive, f"follower:{name}",
                                           lambda rt=rt: self._follower(rt).run, name)
                for rt in self.chains.values():
                    for route in rt.outgoing.values():
                        nursery.start_soon(route.policy.watch, route.ref)

    async def _run_submitters(self) -> None:
        try:
            with self.submitters_scope:
                async with trio.open_nursery() as nursery:
                    for name, rt in self.chains.items():
                        if rt.incoming and self.config.operator.submit:
                            nursery.start_soon(self._exclusive, f"submitter:{name}",
                                               lambda rt=rt: self._submitter(rt).run)
        finally:
            self.submitters_done.set()

    def _follower(self, rt: ChainRuntime) -> ChainFollower:
        chain = self.config.chains[rt.name]
        lc = _light_client(rt, chain, self.store)
        progress = self.progress.setdefault(rt.name, {})
        return ChainFollower(rt, lc, self.store, self.cache, start_block=chain.start_block,
                             poll_interval=chain.poll_interval, progress=progress, metrics=self.metrics)

    def _submitter(self, rt: ChainRuntime) -> Submitter:
        chain: ChainConfig = self.config.chains[rt.name]
        progress = self.progress.setdefault(f"submitter:{rt.name}", {})
        destination = self._open_destination(rt)
        submitter = Submitter(rt, destination, self.chains, self.store, self.cache, self._turn(),
                              chain.poll_interval, progress, self.metrics, self.stopping,
                              finality_depth=chain.confirmations)
        self.host.senders[rt.name] = submitter.send_own
        return submitter

    # supervision ------------------------------------------------------------------
    async def _exclusive(self, name: str, make: Callable[[], Callable[..., Awaitable[None]]],
                         chain: str | None = None) -> None:
        """Supervise service ``name`` while this process holds its lease (relayer.leases; with a SQLite
        store at once); stand by (ready, not stalled) while another process of the fleet holds it. Each
        time the lease is taken the service is built afresh, so a submitter recovers its journal and
        nonce from the chain before it sends."""
        def standby(row: LeaseRow | None) -> None:
            state = self.services.setdefault(name, {"state": "starting", "restarts": 0})
            if state.get("state") != "standby":
                state.update(state="standby", ready=True, since=time.time())
            state["holder"] = row.holder if row else None
            self.metrics.service_up.labels(name).set(0)

        await self.leases.exclusive(name, lambda: self._through_store_outages(name, make, chain), standby)

    async def _through_store_outages(self, name: str, make: Callable[[], Callable[..., Awaitable[None]]],
                                     chain: str | None) -> None:
        """Supervise the service; while the PostgreSQL store cannot be reached (StoreUnavailable: a
        restart or failover) wait and start it again, built afresh (a submitter then settles its journal
        first). Any other StoreError stops the daemon, as with SQLite, which never raises this one."""
        while True:
            try:
                await self._supervise(name, make, chain)
                return
            except StoreUnavailable as exc:
                self.metrics.service_up.labels(name).set(0)
                self.services.setdefault(name, {"restarts": 0}).update(state="retrying", error=str(exc))
                log.warning("store.unavailable", where=name, error=str(exc), retry_in_s=STORE_RETRY_SECONDS)
                with trio.move_on_after(STORE_RETRY_SECONDS):
                    await self.stopping.wait()
                if self.stopping.is_set():
                    return

    async def _supervise(self, name: str, make: Callable[[], Callable[..., Awaitable[None]]],
                         chain: str | None = None) -> None:
        """Run the service ``make()`` builds until it returns: backoff on retryable errors, halt
        on fatal ones. A follower (``chain`` given) also halts while open evidence names its chain,
        before it reads a block, and is rebuilt from the stored state once the evidence is resolved
        (``relayer evidence resolve``); a halt without evidence lasts until the relayer restarts."""
        delay = 1.0
        state = self.services.setdefault(name, {"state": "starting", "restarts": 0})
        service = make()
        while True:
            held = halts.open_evidence(self.store, chain) if chain is not None else []
            if held:
                self._halt(name, state, f"relaying from {chain} is halted by {halts.describe(held)}", True)
                await self._released(name, state, chain)
                service = make()
                continue
            state.update(state="starting", since=time.time())
            try:
                await service(task_status=_Started(state, self.metrics, name))
                return
            except RetryableError as exc:
                self.metrics.service_up.labels(name).set(0)
                state.update(state="retrying", error=str(exc), restarts=state["restarts"] + 1)
                log.warning("service.retry", service=name, error=str(exc), retry_in_s=delay)
                with trio.move_on_after(delay):
                    await self.stopping.wait()
                if self.stopping.is_set():
                    return
                delay = min(delay * 2, BACKOFF_MAX)
            except StoreError:
                raise
            except FatalError as exc:
                with_evidence = chain is not None and bool(halts.open_evidence(self.store, chain))
                self._halt(name, state, str(exc), with_evidence)
                if not with_evidence:
                    await trio.sleep_forever()
                await self._released(name, state, chain)
                service = make()

    def _halt(self, name: str, state: dict[str, Any], error: str, with_evidence: bool) -> None:
        self.metrics.service_up.labels(name).set(0)
        state.update(state="halted", error=error, ready=True, since=time.time(), evidence=with_evidence)
        halts.refresh_gauge(self.metrics, self.store, self.config.chains, self._halted_services())
        action = ("look at the evidence (relayer evidence list --config FILE), then release the halt with "
                  "relayer evidence resolve ID --config FILE --reason TEXT; no restart needed") if with_evidence \
            else "investigate the chain and RPC named here; restart the relayer once resolved"
        log.error("service.halted", service=name, error=error, alarm=True, action=action)

    async def _released(self, name: str, state: dict[str, Any], chain: str | None) -> None:
        """Wait until the evidence halting ``chain`` is resolved; log who released it and why."""
        assert chain is not None
        resolved = await halts.wait_released(self.store, chain)
        state.update(restarts=state["restarts"] + 1, evidence=False)
        halts.refresh_gauge(self.metrics, self.store, self.config.chains, self._halted_services(but=name))
        latest = resolved[0]["resolution"] if resolved else {}
        log.warning("halt.released", service=name, chain=chain, evidence=[e["id"] for e in resolved],
                    resolved_by=latest.get("resolved_by"), reason=latest.get("reason"))

    def _halted_services(self, but: str | None = None) -> list[str]:
        return [n for n, s in self.services.items() if s.get("state") == "halted" and n != but]

    def _api(self) -> Api:
        return Api(self.store, self._status, self._ready, self.metrics,
                   CoSignService(self.store, self._cosign_routes, self._cosigner))

    # watchdog ---------------------------------------------------------------------
    async def _watchdog(self) -> None:
        """Ping systemd's watchdog only while every service runs and no route is stalled;
        refresh STATUS= and the backlog gauges on the same tick."""
        interval = self.notifier.watchdog_interval or 5.0
        bound = 2 * self.notifier.watchdog_interval if self.notifier.watchdog_interval else STALL_MIN_SECONDS
        while True:
            try:
                self._refresh_gauges()
            except StoreUnavailable as exc:
                log.warning("store.unavailable", where="watchdog", error=str(exc), retry_in_s=interval)
            stalled = self._stalled(bound=bound)
            if stalled:
                log.warning("watchdog.withheld", stalled=stalled,
                            action="check the RPC endpoints and the wallet of the stalled services")
            elif self.notifier.watchdog() or not self.notifier.enabled:
                self.metrics.watchdog_ping.set(time.time())
            self.notifier.status(self._status_line(stalled))
            await trio.sleep(interval)

    def _stalled(self, bound: float) -> list[str]:
        """Services not running or without progress for ``bound`` seconds; a follower halted by
        evidence is not stalled (it waits for an operator, and a restart would not release it)."""
        now = time.time()
        waiting = {n for n, s in self.services.items() if s.get("evidence")}
        out = [n for n, s in self.services.items() if s["state"] not in ("running", "standby") and n not in waiting]
        standing_by = {n for n, s in self.services.items() if s.get("state") == "standby"}
        for name, p in self.progress.items():
            if name in standing_by or f"follower:{name}" in standing_by:
                continue
            if now - p.get("last_progress", now) > bound and f"follower:{name}" not in waiting:
                out.append(name)
        return sorted(set(out))

    def _refresh_gauges(self) -> None:
        now = time.time()
        counts = self.store.counts()
        for r in self.config.routes:
            name = f"{r.source}->{r.destination}"
            states = counts.get((r.source, r.destination), {})
            self.metrics.route_backlog.labels(name).set(states.get("final", 0) + states.get("submitted", 0))
            oldest = self.store.oldest_open(r.source, r.destination)
            self.metrics.route_oldest_age.labels(name).set(now - oldest if oldest else 0)
            self.metrics.route_stalled.labels(name).set(
                1 if f"submitter:{r.destination}" in self._stalled(bound=STALL_MIN_SECONDS) else 0)
        halts.refresh_gauge(self.metrics, self.store, self.config.chains, self._halted_services())

    def _status_line(self, stalled: list[str]) -> str:
        backlog = sum(int(self.metrics.route_backlog.labels(f"{r.source}->{r.destination}")._value.get())
                      for r in self.config.routes)
        line = f"{len(self.config.routes)} routes, backlog {backlog}"
        return line + (f", stalled: {', '.join(stalled)}" if stalled else "")

    def _status(self) -> dict[str, Any]:
        live = {"chains": {n: dict(p) for n, p in self.progress.items()}, "services": self.services}
        for name, adapter in self.adapters.items():
            live["chains"].setdefault(name, {})["rpc"] = adapter.endpoints()
        return snapshot(self.config, self.store, live)

    def _ready(self) -> bool:
        submit = self.config.operator.submit
        expected = sum(bool(c.outgoing) + (bool(c.incoming) and submit) for c in self.chains.values())
        return len(self.services) == expected and all(s.get("ready") for s in self.services.values())


def _light_client(rt: ChainRuntime, chain: ChainConfig, store: Store) -> LightClient:
    """The chain's light client through its plugin's ``LightClientFactory``: restored from the trusted
    state in the store, or, at a first start, made from the config's ``light_client_options``.

    Raises ConfigError naming ``chains.NAME.light_client`` when the plugin is missing or is no
    LightClientFactory, ConfigError/VerificationError for options or a state that do not fit."""
    key = f"chains.{rt.name}.light_client"
    factory = plugins.load(plugins.LIGHT_CLIENT_GROUP, chain.light_client, key=key)
    if not isinstance(factory, LightClientFactory):
        raise ConfigError(key, f"plugin {chain.light_client!r} is no relayer.contract.LightClientFactory "
                               f"(it needs from_options and from_trusted_state)")
    state = store.light_client_state(rt.name)
    if state is not None:
        return factory.from_trusted_state(rt.name, rt.chain_id, chain.confirmations, state)
    return factory.from_options(rt.name, rt.chain_id, chain.confirmations, chain.light_client_options)


class _Started:
    """A task_status that marks a supervised service as running (again) when it is up."""

    def __init__(self, state: dict[str, Any], metrics: Metrics, name: str) -> None:
        self.state, self.metrics, self.name = state, metrics, name

    def started(self, value: Any = None) -> None:
        self.state.update(state="running", since=time.time(), ready=True)
        self.metrics.service_up.labels(self.name).set(1)


async def _retrying(key: str, fn: Callable[[], Awaitable[Any]], attempts: int = STARTUP_ATTEMPTS) -> Any:
    """Start-up reads: retry RPC failures for a while, then give up naming the config key."""
    for attempt in range(attempts):
        try:
            return await fn()
        except RetryableError as exc:
            if attempt == attempts - 1:
                raise RpcError(f"{key}: unreachable at start-up: {exc.message}; check the RPC URL and that "
                               "the node runs (exit 1: systemd restarts the service)") from exc
            log.warning("startup.waiting", key=key, error=str(exc))
            await trio.sleep(1.0)
    raise RelayerError("unreachable")  # pragma: no cover
