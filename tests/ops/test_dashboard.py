"""deploy/grafana/relayer-dashboard.json: a valid dashboard whose panels all query known
metrics through the datasource template variable, and whose PromQL promtool accepts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ops_support import (
    DASHBOARD_FILE,
    FOREIGN_METRICS,
    known_series,
    load_metrics,
    promql_metric_names,
    require_tool,
    run,
)

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
# What Grafana substitutes before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h",
                     "$instance": ".*", "$route": ".*", "$chain": ".*"}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD_FILE.read_text())


def _panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # panels of collapsed rows
    return out


def _queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target."""
    return [(f"panel {p['id']} {p['title']!r} target {t.get('refId')}", t["expr"])
            for p in _panels(dashboard) if p["type"] != "row" for t in p.get("targets", [])]


def _variable_metrics(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    out = {}
    for var in dashboard["templating"]["list"]:
        if var["type"] != "query":
            continue
        query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
        m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
        assert m, f"variable {var['name']}: expected label_values(<selector>, <label>), got {query!r}"
        out[var["name"]] = promql_metric_names(m[1])
    return out


def _substitute(expr: str) -> str:
    for name, value in sorted(GRAFANA_VARIABLES.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr!r}"
    return expr


def test_dashboard_is_a_grafana_dashboard() -> None:
    d = _dashboard()
    assert d["title"] and d["uid"] and isinstance(d["schemaVersion"], int)
    assert d["id"] is None, "an exported dashboard must not carry a database id"
    ids = [p["id"] for p in _panels(d)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_datasource_is_a_template_variable() -> None:
    d = _dashboard()
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels(d):
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
    for name, var in variables.items():
        if var["type"] == "query":
            assert var["datasource"] == DATASOURCE, name


def test_every_panel_has_targets() -> None:
    for panel in _panels(_dashboard()):
        if panel["type"] == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no targets"
        for target in panel["targets"]:
            assert target.get("expr", "").strip(), f"panel {panel['title']!r}: empty expr"
            assert target.get("refId"), f"panel {panel['title']!r}: target without refId"
        assert panel.get("description"), f"panel {panel['title']!r}: describe what it shows"


def test_panels_fit_the_grid_without_overlapping() -> None:
    boxes = []
    for panel in _dashboard()["panels"]:
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, panel["title"]
        for other_title, o in boxes:
            overlap = (g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"]
                       and g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"])
            assert not overlap, f"panels {panel['title']!r} and {other_title!r} overlap"
        boxes.append((panel["title"], g))


def test_every_query_uses_known_metrics() -> None:
    d = _dashboard()
    known = known_series(load_metrics()) | FOREIGN_METRICS
    problems = {where: sorted(promql_metric_names(expr) - known) for where, expr in _queries(d)}
    problems.update({f"variable {k}": sorted(v - known) for k, v in _variable_metrics(d).items()})
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, f"the dashboard uses metrics missing from deploy/metrics.txt: {problems}"
    for where, expr in _queries(d):
        assert promql_metric_names(expr), f"{where}: no relayer metric in {expr!r}"


def test_every_listed_metric_is_on_the_dashboard() -> None:
    used = set().union(*(promql_metric_names(expr) for _, expr in _queries(_dashboard())))
    missing = [m.name for m in load_metrics().values() if not (m.series_names() & used)]
    assert not missing, f"metrics of deploy/metrics.txt without a panel: {missing}"


def test_promtool_accepts_every_query(tmp_path: Path) -> None:
    promtool = require_tool("promtool", "prometheus")
    queries = _queries(_dashboard())
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, (_, expr) in enumerate(queries):
        lines += [f"      - record: dashboard:query_{i}", f"        expr: {json.dumps(_substitute(expr))}"]
    rules = tmp_path / "dashboard-queries.yml"
    rules.write_text("\n".join(lines) + "\n")
    result = run([promtool, "check", "rules", str(rules)])
    where = "\n".join(f"query_{i}: {w}" for i, (w, _) in enumerate(queries))
    assert result.returncode == 0, f"{result.stdout}{result.stderr}\n{where}"
