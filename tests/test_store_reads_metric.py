"""relayer_store_reads_total: the store counts its reads, the metric reads the count when scraped."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from relayer.metrics import Metrics
from relayer.store import Store


def _reads(metrics: Metrics) -> float:
    families = text_string_to_metric_families(metrics.exposition().decode())
    return next(s.value for f in families for s in f.samples if s.name == "relayer_store_reads_total")


def test_store_reads_are_counted_and_exported(tmp_path: Path) -> None:
    store = Store(tmp_path / "relayer.db")
    try:
        metrics = Metrics()
        metrics.count_store_reads(store)
        before = _reads(metrics)
        assert store.cursor("alpha") is None and store.header("alpha", 1) is None
        assert _reads(metrics) == before + 2 == store.reads
    finally:
        store.close()
