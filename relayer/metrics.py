"""Prometheus metrics of one daemon (names listed in deploy/metrics.txt).

One registry per daemon, so several daemons in one test process do not collide.
Updating a metric never raises and never blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONFIRM_BUCKETS = (0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class Metrics:
    """Every metric the relayer exports."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.route_backlog = Gauge("relayer_route_backlog", "Messages final but not yet delivered", ["route"],
                                   registry=r)
        self.route_oldest_age = Gauge("relayer_route_oldest_undelivered_age_seconds",
                                      "Age of the oldest undelivered message", ["route"], registry=r)
        self.delivered = Counter("relayer_messages_delivered", "Messages delivered by this operator", ["route"],
                                 registry=r)
        self.delivered_by_peer = Counter("relayer_messages_delivered_by_peer",
                                         "Messages another operator delivered first", ["route"], registry=r)
        self.failed = Counter("relayer_messages_failed", "Failed delivery attempts by reason", ["route", "reason"],
                              registry=r)
        self.chain_head = Gauge("relayer_chain_head", "Latest block number seen", ["chain"], registry=r)
        self.chain_final = Gauge("relayer_chain_final_head", "Latest final block number", ["chain"], registry=r)
        self.lc_height = Gauge("relayer_light_client_height", "Latest header the off-chain light client verified",
                               ["chain"], registry=r)
        self.rpc_requests = Counter("relayer_rpc_requests", "JSON-RPC HTTP requests", ["chain", "endpoint"], registry=r)
        self.rpc_errors = Counter("relayer_rpc_errors", "Failed JSON-RPC HTTP requests", ["chain", "endpoint"],
                                  registry=r)
        self.rpc_latency = Histogram("relayer_rpc_latency_seconds", "JSON-RPC request latency", ["chain", "endpoint"],
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.rpc_up = Gauge("relayer_rpc_endpoint_up", "1 when the endpoint's last request succeeded",
                            ["chain", "endpoint"], registry=r)
        self.wallet_balance = Gauge("relayer_wallet_balance_wei", "Submitter wallet balance", ["chain"], registry=r)
        self.gas_spent = Counter("relayer_gas_spent", "Gas used by this operator's transactions", ["chain"], registry=r)
        self.tx_abandoned = Counter("relayer_transactions_abandoned",
                                    "Delivery transactions given up on: refused by the node, or unmined at the fee cap "
                                    "(their messages are failed)", ["chain"], registry=r)
        self.tx_confirm = Histogram("relayer_tx_confirm_seconds", "Time from sending a transaction to its receipt",
                                    ["chain"], buckets=CONFIRM_BUCKETS, registry=r)
        self.service_up = Gauge("relayer_service_up", "1 while the service runs, 0 retrying or halted", ["service"],
                                registry=r)
        self.watchdog_ping = Gauge("relayer_watchdog_last_ping_timestamp_seconds",
                                   "Unix time of the last systemd watchdog ping", registry=r)
        self.lease_held = Gauge("relayer_lease_held", "1 while this process holds the lease (fleet mode: "
                                "submitter:CHAIN, follower:CHAIN)", ["lease"], registry=r)
        self.lease_acquired = Counter("relayer_lease_acquisitions", "Leases this process took: free ones, or "
                                      "taken over from an expired or dead holder", ["lease", "how"], registry=r)
        self.lease_renewals = Counter("relayer_lease_renewals", "Successful renewals of a held lease", ["lease"],
                                      registry=r)
        self.lease_lost = Counter("relayer_lease_lost", "Held leases another process took over", ["lease"],
                                  registry=r)
        self.lease_self_fenced = Counter("relayer_lease_self_fenced", "Held leases given up because no renewal "
                                         "succeeded within the renew deadline", ["lease"], registry=r)
        self.route_stalled = Gauge("relayer_route_stalled", "1 when a route with backlog made no progress",
                                   ["route"], registry=r)
        self.misbehaviour = Gauge("relayer_misbehaviour_detected",
                                  "1 while relaying from the chain is halted "
                                  "(open evidence or a fatal verification error)", ["chain"], registry=r)

    def count_store_reads(self, store: Any) -> None:
        """Export ``store.reads`` as the counter relayer_store_reads_total, read only when scraped
        (the store increments a plain int, so counting costs nothing between scrapes)."""
        self.registry.register(_ReadCounter(store))

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)


class _ReadCounter:
    """A collector reading the store's own read count at scrape time."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily("relayer_store_reads", "Queries read from the state database since start",
                                  value=self.store.reads)
