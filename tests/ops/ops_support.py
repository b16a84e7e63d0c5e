"""Helpers of the operations tests (tests/ops): the metric list, PromQL metric names and the
static scan of log events. Imported by the test modules beside it."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
METRICS_FILE = DEPLOY / "metrics.txt"
ALERTS_FILE = DEPLOY / "prometheus" / "relayer-alerts.yml"
ALERT_TESTS_FILE = DEPLOY / "prometheus" / "relayer-alerts.test.yml"
DASHBOARD_FILE = DEPLOY / "grafana" / "relayer-dashboard.json"
UNIT_FILE = DEPLOY / "relayer.service"
RUNBOOK = DEPLOY / "README.md"
LOG_CATALOGUE = ROOT / "docs" / "logs.md"

# Source trees whose log events the catalogue covers (the daemon, the plug-ins, the
# devnet and the demo, which live under relayer/).
LOG_SOURCE_DIRS = ("relayer", "adapters", "light_clients")


def require_tool(name: str, package: str) -> str:
    """The path of ``name``; fails the test, saying what to install, when it is missing
    (`make setup` installs it as root through .ci/ensure-tools.sh)."""
    path = shutil.which(name)
    if path:
        return path
    pytest.fail(f"{name} is not installed: install the Debian package {package!r} "
                f"(as root: `apt-get install {package}`, or `make setup` / `bash .ci/ensure-tools.sh`)",
                pytrace=False)


def run(args: list[str], cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


# ---------------------------------------------------------------- metrics


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    labels: tuple[str, ...]
    help: str

    def series_names(self) -> set[str]:
        """Names under which the metric's samples appear in Prometheus."""
        if self.type == "histogram":
            return {f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count"}
        return {self.name}


_METRIC_LINE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\s+(?P<type>counter|gauge|histogram|summary)\s+"
                          r"\{(?P<labels>[a-zA-Z0-9_,\s]*)\}\s+(?P<help>\S.*)$")


def load_metrics(path: Path = METRICS_FILE) -> dict[str, Metric]:
    """deploy/metrics.txt as {name: Metric}; raises ValueError naming a malformed line."""
    metrics: dict[str, Metric] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _METRIC_LINE.match(line.strip())
        if m is None:
            raise ValueError(f"{path.name}:{number}: expected 'NAME TYPE {{LABELS}} HELP', got {line!r}")
        labels = tuple(x.strip() for x in m["labels"].split(",") if x.strip())
        if m["name"] in metrics:
            raise ValueError(f"{path.name}:{number}: {m['name']} listed twice")
        metrics[m["name"]] = Metric(m["name"], m["type"], labels, m["help"])
    return metrics


def known_series(metrics: dict[str, Metric]) -> set[str]:
    return {s for m in metrics.values() for s in m.series_names()}


# Metric names a PromQL expression may use besides the relayer's own.
FOREIGN_METRICS = {"up"}
_PROMQL_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_PROMQL_IDENT = re.compile(r"(?<![\w$.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?=\s*(?:\{|\[|\)|$|\s|[-+*/%^<>=!]|,|offset\b))")


def promql_metric_names(expr: str) -> set[str]:
    """Metric-looking names in a PromQL expression: every relayer_* identifier, plus
    the foreign metrics it uses (``up``). Label names inside braces are not metrics."""
    text = _PROMQL_STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", "{}", text)  # drop label matchers
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set(re.findall(r"\brelayer_[a-zA-Z0-9_]+\b", text))
    names |= {n for n in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", text) if n in FOREIGN_METRICS}
    return names


# ---------------------------------------------------------------- log events

LOG_METHODS = {"debug": "debug", "info": "info", "msg": "info", "warning": "warning", "warn": "warning",
               "error": "error", "exception": "error", "critical": "critical", "fatal": "critical"}
_LOGGER_NAME = re.compile(r"^_*(log|logger|[a-z0-9_]*_log|[a-z0-9_]*_logger)$", re.IGNORECASE)


@dataclass
class Emission:
    event: str
    level: str
    fields: set[str]
    where: str


@dataclass
class ScanResult:
    emissions: list[Emission] = field(default_factory=list)
    non_literal: list[str] = field(default_factory=list)  # "file:line" of events that are not literals

    def events(self) -> dict[str, list[Emission]]:
        out: dict[str, list[Emission]] = {}
        for e in self.emissions:
            out.setdefault(e.event, []).append(e)
        return out


def _receiver_name(node: ast.expr) -> str | None:
    """The identifier a logger call is made on: ``log`` in log.info, self.log.info,
    log.bind(x=1).info, structlog.get_logger().bind().info -> None."""
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Attribute):
            return node.attr
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {"bind", "new"}:
            node = node.func.value
            continue
        return None


def _bound_fields(node: ast.expr) -> set[str]:
    fields: set[str] = set()
    while isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in {"bind", "new"}:
        fields |= {k.arg for k in node.keywords if k.arg}
        node = node.func.value
    return fields


def scan_file(path: Path, result: ScanResult, root: Path = ROOT) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    rel = path.relative_to(root).as_posix()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        level = LOG_METHODS.get(node.func.attr)
        if level is None:
            continue
        receiver = _receiver_name(node.func.value)
        if receiver is None or not _LOGGER_NAME.match(receiver):
            continue
        where = f"{rel}:{node.lineno}"
        event = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "event"), None)
        if not (isinstance(event, ast.Constant) and isinstance(event.value, str)):
            result.non_literal.append(where)
            continue
        fields = {k.arg for k in node.keywords if k.arg and k.arg != "event"} | _bound_fields(node.func.value)
        if node.func.attr == "exception":
            fields.add("exception")
        result.emissions.append(Emission(event.value, level, fields, where))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            _scan_dict_line(node, result, rel)


# keys every JSON log line has; a dict literal with a literal "event" is a line written by hand
_LINE_KEYS = {"timestamp", "level", "event", "logger"}


def _scan_dict_line(node: ast.Dict, result: ScanResult, rel: str) -> None:
    """A log line built as a dict literal (``{"event": "fault.injected", "level": ...}``,
    written raw where structlog cannot be used, e.g. right before a SIGKILL)."""
    items = {k.value: v for k, v in zip(node.keys, node.values)
             if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    event, level = items.get("event"), items.get("level")
    if not (isinstance(event, ast.Constant) and isinstance(event.value, str) and "logger" in items):
        return
    lvl = level.value if isinstance(level, ast.Constant) and isinstance(level.value, str) else "info"
    result.emissions.append(Emission(event.value, lvl, set(items) - _LINE_KEYS, f"{rel}:{node.lineno}"))


def python_files(dirs: Iterable[str] = LOG_SOURCE_DIRS, root: Path = ROOT) -> Iterator[Path]:
    for d in dirs:
        for path in sorted((root / d).rglob("*.py")):
            if "__pycache__" not in path.parts:
                yield path


def scan_sources(dirs: Iterable[str] = LOG_SOURCE_DIRS, root: Path = ROOT) -> ScanResult:
    result = ScanResult()
    for path in python_files(dirs, root):
        scan_file(path, result, root)
    return result


# Documents whose `area.what` names must be catalogued events (the runbook, the docs, the README).
CITING_DOCS = ("deploy/README.md", "docs/*.md", "README.md")
_CITED = re.compile(r"[`\"]([a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+)[`\"]")


def cited_events(areas: set[str], docs: Iterable[str] = CITING_DOCS, root: Path = ROOT) -> dict[str, list[str]]:
    """Names in backticks or double quotes in ``docs`` that look like log events of one of
    ``areas`` (``tx.reverted``: area ``tx``), as {name: ["file:line", ...]}. Config keys
    (``operator.name``), modules (``relayer.daemon``) and files (``relayer.toml``) have other
    first segments and are not picked up."""
    found: dict[str, list[str]] = {}
    for pattern in docs:
        for path in sorted(root.glob(pattern)):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                for name in _CITED.findall(line):
                    if name.split(".", 1)[0] in areas:
                        found.setdefault(name, []).append(f"{path.relative_to(root).as_posix()}:{number}")
    return found


@dataclass
class CatalogueEntry:
    event: str
    levels: set[str]
    fields: set[str]
    line: int


@dataclass
class _Row:
    cells: list[str]
    line: int


def catalogue_rows(path: Path = LOG_CATALOGUE) -> list[_Row]:
    """Table rows of docs/logs.md with five cells whose first cell is a `code` name."""
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped.startswith("| `"):
            continue
        cells = [c.strip() for c in stripped.strip("|").split("|")]
        if len(cells) == 5:
            rows.append(_Row(cells, number))
    return rows


def load_catalogue(path: Path = LOG_CATALOGUE) -> dict[str, CatalogueEntry]:
    """The event rows of docs/logs.md: | `event` | level(s) | `field`, ... | meaning | what to do |"""
    entries: dict[str, CatalogueEntry] = {}
    for row in catalogue_rows(path):
        m = re.fullmatch(r"`([^`]+)`", row.cells[0])
        if m is None:
            raise ValueError(f"{path.name}:{row.line}: the first cell must be the event name in backticks")
        event = m[1]
        if event in entries:
            raise ValueError(f"{path.name}:{row.line}: {event} catalogued twice (line {entries[event].line})")
        levels = {x.strip().lower() for x in row.cells[1].split(",") if x.strip()}
        fields = set(re.findall(r"`([^`]+)`", row.cells[2]))
        entries[event] = CatalogueEntry(event, levels, fields, row.line)
    return entries


# ---------------------------------------------------------------- YAML (the subset our rule files use)


def load_yaml(text: str) -> object:
    """Parse the YAML subset of deploy/prometheus/*.yml: block mappings and sequences,
    plain, quoted and literal-block (``|``) scalars, comments. PyYAML is not a dependency
    of the project; when it is installed a test checks this parser agrees with it."""
    return _Yaml(text).document()


class _Yaml:
    def __init__(self, text: str) -> None:
        self.lines = text.expandtabs(8).splitlines()
        self.i = 0

    def document(self) -> object:
        self._skip()
        if self.i >= len(self.lines):
            return None
        value = self._node(self._indent(self.lines[self.i]))
        self._skip()
        if self.i < len(self.lines):
            raise ValueError(f"line {self.i + 1}: unexpected {self.lines[self.i].strip()!r}")
        return value

    @staticmethod
    def _indent(line: str) -> int:
        return len(line) - len(line.lstrip(" "))

    def _skip(self) -> None:
        while self.i < len(self.lines) and (not self.lines[self.i].strip()
                                             or self.lines[self.i].lstrip().startswith("#")):
            self.i += 1

    def _node(self, indent: int) -> object:
        content = self.lines[self.i].strip()
        if content == "-" or content.startswith("- "):
            return self._sequence(indent)
        return self._mapping(indent)

    def _sequence(self, indent: int) -> list[object]:
        items: list[object] = []
        while True:
            self._skip()
            if self.i >= len(self.lines):
                return items
            line = self.lines[self.i]
            content = line.strip()
            if self._indent(line) != indent or not (content == "-" or content.startswith("- ")):
                return items
            rest = content[1:].lstrip()
            if not rest:
                self.i += 1
                self._skip()
                items.append(self._node(self._indent(self.lines[self.i])))
            elif _KEY.match(rest):
                column = indent + len(content) - len(rest)
                self.lines[self.i] = " " * column + rest  # the item's mapping starts at `rest`
                items.append(self._mapping(column))
            else:
                self.i += 1
                items.append(_scalar(rest))

    def _mapping(self, indent: int) -> dict[str, object]:
        out: dict[str, object] = {}
        while True:
            self._skip()
            if self.i >= len(self.lines):
                return out
            line = self.lines[self.i]
            if self._indent(line) < indent or line.strip().startswith("- "):
                return out
            if self._indent(line) > indent:
                raise ValueError(f"line {self.i + 1}: unexpected indentation")
            m = _KEY.match(line.strip())
            if m is None:
                raise ValueError(f"line {self.i + 1}: expected 'key: value', got {line.strip()!r}")
            key, rest = m["key"], _strip_comment(m["rest"]).strip()
            if key in out:
                raise ValueError(f"line {self.i + 1}: duplicate key {key!r}")
            self.i += 1
            if rest in ("|", "|-", "|+"):
                out[key] = self._literal(indent, rest)
            elif rest:
                out[key] = _scalar(rest)
            else:
                self._skip()
                nxt = self.lines[self.i] if self.i < len(self.lines) else ""
                nested = self._indent(nxt)
                if nxt and (nested > indent or (nested == indent and nxt.strip().startswith("- "))):
                    out[key] = self._node(nested)
                else:
                    out[key] = None

    def _literal(self, indent: int, style: str) -> str:
        body: list[str] = []
        block_indent = None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() and self._indent(line) <= indent:
                break
            if line.strip() and block_indent is None:
                block_indent = self._indent(line)
            body.append(line[block_indent:] if block_indent is not None else "")
            self.i += 1
        while body and not body[-1].strip():
            body.pop()
        text = "\n".join(body)
        return text if style == "|-" else text + "\n"


_KEY = re.compile(r"^(?P<key>[A-Za-z_][\w.-]*):(?:\s+(?P<rest>.*))?$")


def _strip_comment(text: str | None) -> str:
    text = text or ""
    if text.startswith(('"', "'")):
        return text
    return re.split(r"\s+#", text, maxsplit=1)[0]


def _scalar(text: str) -> object:
    import json

    text = _strip_comment(text).strip()
    if text.startswith('"'):
        return json.loads(text)
    if text.startswith("'"):
        return text[1:-1].replace("''", "'")
    if text in ("true", "True"):
        return True
    if text in ("false", "False"):
        return False
    if text in ("null", "~"):
        return None
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text
