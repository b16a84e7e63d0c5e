"""No key and no password in any log line of a whole devnet run.

A devnet comes up (three operators with V3 keystores and password files), carries three
transfers in both directions and goes down. Then every log file under DIR/logs and
everything this process printed are searched for the operators' private keys (hex, with
and without 0x, any letter case), their keystore passwords and the users' private keys;
and every line an operator wrote must be one JSON object with an ``event``.
"""

from __future__ import annotations

import contextlib
import io
import json
import stat
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.evm import keys
from relayer.devnet import network
from relayer.devnet.transfer import transfer

pytestmark = pytest.mark.slow

TRANSFERS = [  # (source, destination, asset, amount, user): both directions
    ("alpha", "beta", "native", "2", 0),
    ("beta", "alpha", "token", "5", 1),
    ("beta", "alpha", "wrapped-native", "0.5", 0),
]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A finished devnet run: its folder, and the progress lines ``up``/``down`` reported plus
    whatever was printed to stdout/stderr meanwhile (the last two entries)."""
    root = tmp_path_factory.mktemp("devnet")
    reported: list[str] = []
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            network.up(root)  # the default reporter prints to stderr: captured
            for source, destination, asset, amount, user in TRANSFERS:
                result = transfer(root, source, destination, asset, Decimal(amount), wait=True, timeout=90,
                                  user_index=user)
                assert result.destination_tx, result
                reported.append(json.dumps(result.to_json()))
        finally:
            network.down(root)
    assert "healthy" in err.getvalue() and "stopped operator-1" in err.getvalue()
    yield root, [*reported, out.getvalue(), err.getvalue()]


def secrets_of(root: Path) -> dict[str, str]:
    """{what: secret} for every operator key, keystore password and user key of the devnet."""
    deployment = network.load_deployment(root)
    paths = network.DevnetPaths.of(root)
    found: dict[str, str] = {}
    for index in range(1, len(deployment["operators"]) + 1):
        password = paths.password(index).read_text().rstrip("\n")
        account = keys.load_account(paths.key(index), paths.password(index), env={})
        found[f"operator-{index} key"] = account.key.hex().removeprefix("0x")
        found[f"operator-{index} password"] = password
        assert account.address == deployment["operators"][index - 1]["address"]
    for index, user in enumerate(deployment["users"]):
        found[f"user {index} key"] = user["key"].removeprefix("0x")
    assert all(len(found[k]) == 64 for k in found if k.endswith(" key"))
    return found


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Names of the secrets in ``text``; hex keys in any case, with or without 0x."""
    lowered = text.lower()
    return [what for what, secret in secrets.items()
            if (secret.lower() in lowered if what.endswith(" key") else secret in text)]


def test_keys_stay_private_on_disk(run: tuple[Path, list[str]]) -> None:
    root, _ = run
    secrets = secrets_of(root)
    operator_secrets = {k: v for k, v in secrets.items() if k.startswith("operator-")}
    deployment_text = (root / "deployment.json").read_text()
    assert leaks(deployment_text, operator_secrets) == []
    assert all("key" not in field for op in network.load_deployment(root)["operators"] for field in op)
    for index in (1, 2, 3):
        config = (root / f"operator-{index}.toml").read_text()
        assert leaks(config, secrets) == [] and "password_file" in config
        for path in (network.DevnetPaths.of(root).key(index), network.DevnetPaths.of(root).password(index)):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
        keystore = json.loads(network.DevnetPaths.of(root).key(index).read_text())
        assert keystore["version"] == 3 and leaks(json.dumps(keystore), operator_secrets) == []


def test_no_secret_in_any_log_line(run: tuple[Path, list[str]]) -> None:
    root, printed = run
    secrets = secrets_of(root)
    logs = sorted(p for p in (root / "logs").rglob("*") if p.is_file())
    assert {p.stem for p in logs} >= {"alpha", "beta", "operator-1", "operator-2", "operator-3"}
    for path in logs:
        assert leaks(path.read_text(errors="replace"), secrets) == [], path
    assert leaks("\n".join(printed), secrets) == []


def test_every_operator_log_line_is_a_json_event(run: tuple[Path, list[str]]) -> None:
    root, _ = run
    for index in (1, 2, 3):
        path = root / "logs" / f"operator-{index}.log"
        lines = path.read_text().splitlines()
        assert len(lines) > 5, path
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                pytest.fail(f"{path}:{number} is not JSON: {line[:200]}")
            assert isinstance(record, dict) and "event" in record, f"{path}:{number}: {line[:200]}"
        events = {json.loads(line)["event"] for line in lines}
        assert "daemon.starting" in events
