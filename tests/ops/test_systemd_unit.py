"""deploy/relayer.service: hardened (systemd-analyze security --offline=true reports an
exposure of 1.5 or less), clean for systemd-analyze verify, and consistent with what the
daemon does (notify protocol, watchdog, drain bound, exit statuses, credentials).

Skips when systemd-analyze is missing (fails under CI=true, where .ci/ensure-tools.sh
installs it).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from ops_support import UNIT_FILE, require_tool, run

MAX_EXPOSURE = 1.5
EXEC_START = "/opt/relayer/venv/bin/relayer run --config /etc/relayer/relayer.toml"


def _settings(path: Path = UNIT_FILE) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> values in order (systemd keys may repeat)."""
    out: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key.strip()), []).append(value.strip())
    return out


def _one(settings: dict[tuple[str, str], list[str]], key: str, section: str = "Service") -> str:
    values = settings.get((section, key))
    assert values, f"{section}.{key} is not set"
    return values[-1]


def _seconds(value: str) -> float:
    total = 0.0
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]*)", value):
        total += float(number) * units[unit or "s"]
    return total


def _verify_copy(tmp_path: Path) -> Path:
    """The unit as installed, but with ExecStart= pointing at an executable that exists here."""
    true = shutil.which("true")
    assert true, "no `true` executable"
    text = UNIT_FILE.read_text()
    assert f"ExecStart={EXEC_START}" in text
    unit = tmp_path / "relayer.service"
    unit.write_text(text.replace(f"ExecStart={EXEC_START}", f"ExecStart={true} run --config /etc/relayer/relayer.toml"))
    return unit


def test_security_exposure_is_at_most_1_5() -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    result = run([analyze, "security", "--offline=true", "--no-pager", str(UNIT_FILE)])
    out = result.stdout + result.stderr
    m = re.search(r"Overall exposure level for relayer\.service:\s*([0-9.]+)", out)
    assert m, f"no overall exposure in the output of systemd-analyze security (exit {result.returncode}):\n{out}"
    exposure = float(m[1])
    print(f"systemd-analyze security --offline=true: exposure {exposure}")
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{out}"


def test_verify_reports_nothing_for_the_unit(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    unit = _verify_copy(tmp_path)
    result = run([analyze, "verify", "--man=no", str(unit)], cwd=tmp_path)
    out = (result.stdout + result.stderr).strip()
    own = [line for line in out.splitlines() if "relayer.service" in line or str(unit) in line]
    assert not own, f"systemd-analyze verify complains about the unit:\n{out}"
    assert result.returncode == 0, f"systemd-analyze verify exited {result.returncode}:\n{out}"


def test_verify_of_the_shipped_unit_only_misses_the_installed_binary() -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    result = run([analyze, "verify", "--man=no", str(UNIT_FILE)])
    out = (result.stdout + result.stderr).strip()
    allowed = re.compile(r"relayer\.service: Command /opt/relayer/\S+ is not executable: No such file or directory")
    unexpected = [line for line in out.splitlines() if line.strip() and not allowed.search(line)]
    if Path(EXEC_START.split()[0]).exists():
        assert result.returncode == 0, out
    assert not unexpected, f"systemd-analyze verify:\n{out}"


def test_lifecycle_settings_match_the_daemon() -> None:
    s = _settings()
    assert _one(s, "Type") == "notify"
    assert _one(s, "NotifyAccess") == "main"
    assert _one(s, "ExecStart") == EXEC_START
    assert _one(s, "Restart") == "on-failure"
    assert "2" in _one(s, "RestartPreventExitStatus").split(), "exit status 2 (bad configuration) must not restart"
    watchdog = _seconds(_one(s, "WatchdogSec"))
    stop = _seconds(_one(s, "TimeoutStopSec"))
    assert watchdog == 60
    assert stop == 30
    from relayer import daemon

    drain = float(getattr(daemon, "DRAIN_SECONDS", 20.0))
    assert drain + 5 <= stop, f"the drain bound ({drain} s) must end well before TimeoutStopSec ({stop} s)"


def test_identity_state_configuration_and_credentials() -> None:
    s = _settings()
    assert _one(s, "DynamicUser") == "yes"
    assert _one(s, "StateDirectory") == "relayer"
    assert _one(s, "ConfigurationDirectory") == "relayer"
    assert _one(s, "UMask") == "0077"
    credentials = dict(v.split(":", 1) for v in s.get(("Service", "LoadCredential"), []))
    assert credentials == {"keystore": "/etc/relayer/keystore.json",
                           "keystore-password": "/etc/relayer/keystore.password"}
    assert _one(s, "LimitCORE") == "0", "a core dump would hold the decrypted key"


def test_sandbox_settings() -> None:
    s = _settings()
    expected = {"ProtectSystem": "strict", "PrivateUsers": "yes", "CapabilityBoundingSet": "",
                "ProtectProc": "invisible", "ProcSubset": "pid", "RestrictNamespaces": "yes",
                "NoNewPrivileges": "yes", "MemoryDenyWriteExecute": "yes", "SystemCallArchitectures": "native"}
    for key, value in expected.items():
        assert _one(s, key) == value, key
    filters = s[("Service", "SystemCallFilter")]
    assert "@system-service" in filters and "~@privileged @resources" in filters
    assert set(_one(s, "RestrictAddressFamilies").split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert _one(s, "WantedBy", "Install") == "multi-user.target"


@pytest.mark.parametrize(("text", "seconds"), [("60", 60), ("30s", 30), ("1min 30s", 90), ("500ms", 0.5)])
def test_time_spans(text: str, seconds: float) -> None:
    assert _seconds(text) == seconds


TEMPLATE = UNIT_FILE.with_name("relayer@.service")
TEMPLATE_CHANGES = {  # (section, key) -> what the fleet template has instead of relayer.service's value
    ("Unit", "Description"): ["Cross-chain relayer, fleet instance %i (proof-backed lock/mint, burn/unlock)"],
    ("Unit", "After"): ["network-online.target time-sync.target postgresql.service"],
    ("Service", "ExecStart"): ["/opt/relayer/venv/bin/relayer run --config /etc/relayer/%i.toml"],
    ("Service", "StateDirectory"): ["relayer-%i"],
    ("Service", "WorkingDirectory"): ["/var/lib/relayer-%i"],
}


def test_the_fleet_template_is_the_unit_with_one_config_and_state_per_instance() -> None:
    single, template = _settings(), _settings(TEMPLATE)
    assert {k: v for k, v in template.items() if k not in TEMPLATE_CHANGES} == \
        {k: v for k, v in single.items() if k not in TEMPLATE_CHANGES}
    assert {k: template[k] for k in TEMPLATE_CHANGES} == TEMPLATE_CHANGES


def test_verify_reports_nothing_for_an_instance_of_the_template(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze", "systemd")
    true = shutil.which("true")
    assert true, "no `true` executable"
    unit = tmp_path / "relayer@a.service"
    unit.write_text(TEMPLATE.read_text().replace("ExecStart=/opt/relayer/venv/bin/relayer", f"ExecStart={true}"))
    result = run([analyze, "verify", "--man=no", str(unit)], cwd=tmp_path)
    out = (result.stdout + result.stderr).strip()
    own = [line for line in out.splitlines() if "relayer@a.service" in line or str(unit) in line]
    assert not own, f"systemd-analyze verify complains about the template:\n{out}"
    assert result.returncode == 0, f"systemd-analyze verify exited {result.returncode}:\n{out}"
