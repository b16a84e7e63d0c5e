"""docs/logs.md catalogues every log event the code emits, with its level and fields.

The scan is static (ast): calls ``<logger>.<level>("event", field=...)`` whose receiver is
named like a logger (``log``, ``logger``, ``self.log``, ``_log``, ``audit_log``, or such a
name after ``.bind(...)``), in relayer/ (devnet and demo included), adapters/ and
light_clients/.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from ops_support import (
    CITING_DOCS,
    LOG_CATALOGUE,
    ScanResult,
    catalogue_rows,
    cited_events,
    load_catalogue,
    scan_file,
    scan_sources,
)

EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")


def test_the_scanner_finds_the_daemons_events() -> None:
    events = scan_sources().events()
    # A scanner that silently matches nothing would pass every check below.
    assert {"daemon.starting", "daemon.ready", "daemon.stopping"} <= set(events), sorted(events)


def test_the_scanner_recognises_logger_calls(tmp_path: Path) -> None:
    source = tmp_path / "sample.py"
    source.write_text(textwrap.dedent('''
        log.info("a.info", x=1)
        self.log.warning("a.warning", y=2)
        logger.bind(route="r").error("a.bound", z=3)
        _log.exception("a.exception")
        audit_log.debug("a.debug", **extra)
        log.info(f"not.{literal}")
        print.info("not.a.logger")
        dialog.info("not.a.logger.either")
        self.store.info("nor.this")
        line = {"timestamp": now, "level": "warning", "event": "a.raw", "logger": "x", "point": p}
        other = {"event": "not.a.line", "point": p}
    '''))
    result = ScanResult()
    scan_file(source, result, root=tmp_path)
    found = {e.event: (e.level, e.fields) for e in result.emissions}
    assert found == {
        "a.info": ("info", {"x"}),
        "a.warning": ("warning", {"y"}),
        "a.bound": ("error", {"z", "route"}),
        "a.exception": ("error", {"exception"}),
        "a.debug": ("debug", set()),
        "a.raw": ("warning", {"point"}),
    }
    assert result.non_literal == ["sample.py:7"]


def test_event_names_are_string_literals() -> None:
    result = scan_sources()
    assert not result.non_literal, (
        "log events must be string literals (stable names that docs/logs.md catalogues; put variable "
        f"parts in fields): {result.non_literal}")


def test_event_names_follow_the_convention() -> None:
    bad = sorted(e for e in scan_sources().events() if not EVENT_NAME.match(e))
    assert not bad, f"event names are lowercase dotted 'area.what' (e.g. tx.reverted): {bad}"


def test_every_emitted_event_is_catalogued() -> None:
    catalogue = load_catalogue()
    missing = {event: [e.where for e in emissions]
               for event, emissions in sorted(scan_sources().events().items()) if event not in catalogue}
    assert not missing, (
        f"events emitted but not catalogued in {LOG_CATALOGUE.relative_to(LOG_CATALOGUE.parents[1])} "
        f"(add a table row: | `event` | level | `field`, ... | meaning | what to do |): {missing}")


def test_no_catalogued_event_is_stale() -> None:
    emitted = scan_sources().events()
    stale = sorted(event for event in load_catalogue() if event not in emitted)
    assert not stale, f"docs/logs.md lists events that no code emits any more (remove the rows): {stale}"


def test_catalogued_levels_and_fields_match_the_code() -> None:
    catalogue = load_catalogue()
    problems = []
    for event, emissions in sorted(scan_sources().events().items()):
        entry = catalogue.get(event)
        if entry is None:
            continue  # reported by test_every_emitted_event_is_catalogued
        for e in emissions:
            if e.level not in entry.levels:
                problems.append(f"{e.where}: {event} is logged at {e.level}, the catalogue says "
                                f"{', '.join(sorted(entry.levels)) or 'nothing'}")
            undocumented = sorted(e.fields - entry.fields)
            if undocumented:
                problems.append(f"{e.where}: {event} has fields missing from the catalogue: {undocumented}")
    assert not problems, "docs/logs.md is out of date:\n" + "\n".join(problems)


def test_catalogue_rows_are_complete() -> None:
    incomplete = [f"line {row.line}: {row.cells[0]}" for row in catalogue_rows()
                  if not all(row.cells[i] for i in (0, 1, 3, 4))]
    assert not incomplete, f"catalogue rows need an event, a level, a meaning and what to do: {incomplete}"
    levels = {level for entry in load_catalogue().values() for level in entry.levels}
    assert levels <= {"debug", "info", "warning", "error", "critical"}, levels


def test_every_event_the_docs_cite_is_catalogued_and_emitted() -> None:
    """The runbook and the docs name events an operator greps for: each must exist."""
    catalogue, emitted = load_catalogue(), scan_sources().events()
    areas = {name.split(".", 1)[0] for name in set(catalogue) | set(emitted)}
    cited = cited_events(areas)
    assert {"service.halted", "message.confirmed"} <= set(cited), sorted(cited)  # the scan finds the docs' names
    unknown = {name: where for name, where in sorted(cited.items()) if name not in catalogue or name not in emitted}
    assert not unknown, (f"{', '.join(CITING_DOCS)} cite log events that docs/logs.md does not catalogue or no "
                         f"code emits (use the real event name): {unknown}")


def test_the_citation_scan_ignores_config_keys_and_modules(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "x.md").write_text(
        'See `tx.reverted`, `operator.key_file`, `relayer.daemon`, `relayer.toml` and "tx.gone".\n')
    assert cited_events({"tx"}, ("docs/*.md",), root=tmp_path) == {"tx.reverted": ["docs/x.md:1"],
                                                                    "tx.gone": ["docs/x.md:1"]}


def test_the_figures_in_the_catalogue_match_the_code() -> None:
    """Retry counts, back-off bounds and exit statuses the catalogue states are the code's."""
    from relayer import daemon, submitter

    rows = {row.cells[0].strip("`"): row.cells[3] for row in catalogue_rows()}
    claims = {
        "startup.waiting": [f"{daemon.STARTUP_ATTEMPTS} times", "exits 1"],
        "service.retry": [f"up to {daemon.BACKOFF_MAX:g} s"],
        "message.attempt_failed": [f"from {submitter.RETRY_BASE:g} s up to {submitter.RETRY_MAX:g} s",
                                   f"after the {submitter.MAX_ATTEMPTS}th attempt"],
        "daemon.stopping": ["`drain_s` seconds"],
        "daemon.store_failed": ["exit status 1"],
    }
    wrong = {event: [c for c in want if c not in rows.get(event, "")] for event, want in claims.items()}
    wrong = {event: missing for event, missing in wrong.items() if missing}
    assert not wrong, f"docs/logs.md states other figures than the code for: {wrong}"
