"""The Prometheus alert rules: promtool accepts them, their unit tests pass, they use only
the metrics of deploy/metrics.txt and each links to its runbook section.

promtool comes from Debian's `prometheus` package (.ci/ensure-tools.sh installs it): these
tests skip without it, but fail under CI=true.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from ops_support import (
    ALERT_TESTS_FILE,
    ALERTS_FILE,
    FOREIGN_METRICS,
    METRICS_FILE,
    ROOT,
    RUNBOOK,
    known_series,
    load_metrics,
    load_yaml,
    promql_metric_names,
    require_tool,
    run,
)

REQUIRED_ALERTS = {
    "RelayerBacklogGrowing", "RelayerOldestMessageTooOld", "RelayerLightClientBehind", "RelayerWalletLow",
    "RelayerRpcFailing", "RelayerWatchdogMissed", "RelayerServiceDown", "RelayerMisbehaviour",
}
SEVERITIES = {"page", "critical", "warning", "info"}


def _rules() -> list[dict[str, Any]]:
    doc = load_yaml(ALERTS_FILE.read_text())
    assert isinstance(doc, dict)
    return [rule for group in doc["groups"] for rule in group["rules"]]


def _slugs(markdown: str) -> set[str]:
    """GitHub's anchors of the headings of a markdown document."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            text = re.sub(r"[`*_]", "", m[1]).lower()
            out.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
    return out


def test_promtool_check_rules() -> None:
    promtool = require_tool("promtool", "prometheus")
    result = run([promtool, "check", "rules", str(ALERTS_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout, result.stdout


def test_promtool_unit_tests_of_the_alerts() -> None:
    promtool = require_tool("promtool", "prometheus")
    result = run([promtool, "test", "rules", ALERT_TESTS_FILE.name], cwd=ALERT_TESTS_FILE.parent)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_required_alert_is_defined() -> None:
    names = {rule["alert"] for rule in _rules() if "alert" in rule}
    assert REQUIRED_ALERTS <= names, f"missing alerts: {sorted(REQUIRED_ALERTS - names)}"


def test_alerts_have_severity_summary_description_and_runbook() -> None:
    anchors = _slugs(RUNBOOK.read_text())
    problems = []
    for rule in _rules():
        name = rule.get("alert")
        if name is None:
            continue
        if rule.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{name}: labels.severity must be one of {sorted(SEVERITIES)}")
        annotations = rule.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            if not annotations.get(key):
                problems.append(f"{name}: annotation {key} missing")
        url = str(annotations.get("runbook_url", ""))
        m = re.fullmatch(r"deploy/README\.md#([\w-]+)", url)
        if m is None:
            problems.append(f"{name}: runbook_url must be deploy/README.md#<anchor>, is {url!r}")
        elif m[1] not in anchors:
            problems.append(f"{name}: deploy/README.md has no heading for #{m[1]}")
        elif m[1] != name.lower() and not any(m[1] == other.lower() for other in REQUIRED_ALERTS):
            problems.append(f"{name}: runbook anchor #{m[1]} names no alert")
    assert not problems, "\n".join(problems)


def test_metrics_list_is_well_formed() -> None:
    metrics = load_metrics()
    assert len(metrics) >= 19, sorted(metrics)
    for m in metrics.values():
        assert m.name.startswith("relayer_"), m.name
        assert (m.type == "counter") == m.name.endswith("_total"), f"{m.name}: counters (and only they) end in _total"
        assert m.help.endswith("."), f"{m.name}: help text should be a sentence"
        if m.name.endswith("_seconds") or m.type == "histogram":
            assert "seconds" in m.name, m.name


def test_alert_rules_use_only_listed_metrics() -> None:
    known = known_series(load_metrics()) | FOREIGN_METRICS
    unknown = {rule.get("alert", rule.get("record")): sorted(promql_metric_names(rule["expr"]) - known)
               for rule in _rules()}
    unknown = {k: v for k, v in unknown.items() if v}
    assert not unknown, f"rules use metrics missing from {METRICS_FILE.relative_to(ROOT)}: {unknown}"


@pytest.mark.parametrize(("expr", "names"), [
    ('rate(relayer_rpc_errors_total{chain="a", endpoint=~"x"}[5m]) / on (chain) relayer_rpc_requests_total',
     {"relayer_rpc_errors_total", "relayer_rpc_requests_total"}),
    ('sum by (relayer_fake_label) (relayer_route_backlog) or up{job="relayer_x"} == 0',
     {"relayer_route_backlog", "up"}),
    ('histogram_quantile(0.95, rate(relayer_tx_confirm_seconds_bucket[5m]))', {"relayer_tx_confirm_seconds_bucket"}),
])
def test_promql_metric_name_extraction(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


def test_yaml_subset_parser_agrees_with_pyyaml() -> None:
    import yaml  # a test dependency (pyproject [test]): the reference the subset parser is checked against

    text = ALERTS_FILE.read_text()
    assert load_yaml(text) == yaml.safe_load(text)


def test_runbook_internal_links_resolve() -> None:
    text = RUNBOOK.read_text()
    anchors = _slugs(text)
    broken = sorted({a for a in re.findall(r"\]\(#([\w-]+)\)", text) if a not in anchors})
    assert not broken, f"deploy/README.md links to missing sections: {broken}"


def test_a_missing_tool_fails_saying_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import ops_support

    monkeypatch.setattr(ops_support.shutil, "which", lambda name: None)
    monkeypatch.delenv("CI", raising=False)  # a developer's machine: a failure too, never a skip
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install prometheus.*ensure-tools\.sh"):
        require_tool("promtool", "prometheus")
