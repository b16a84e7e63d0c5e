"""The whole devnet: ``devnet up`` (anvil + message layers and applications + three relayer
processes), transfers and a traceability record (with its acknowledgement) delivered by the
relayers, an operator crash, ``devnet down``. Slow: real processes."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import pytest

from relayer.config import check_config
from relayer.devnet import demo, network
from relayer.devnet.cli import devnet_down, devnet_up
from relayer.devnet.trace import trace_batch
from relayer.devnet.transfer import transfer
from relayer.errors import DevnetError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("devnet")
    try:
        assert devnet_up(folder, detach=True) == 0
        yield folder
    finally:
        assert devnet_down(folder) == 0


def _deployment(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "deployment.json").read_text())
    return data


def test_deployment_json_describes_the_devnet(devnet: Path) -> None:
    d = _deployment(devnet)
    assert {name: c["chain_id"] for name, c in d["chains"].items()} == {"alpha": 1001, "beta": 1002}
    for chain in d["chains"].values():
        assert set(chain) >= {"name", "chain_id", "rpc", "message_layer", "light_client", "verifier", "token_router",
                              "traceability", "test_token", "wrapped_native", "wrapped_token", "block_time"}
    for key in ("message_layer", "token_router", "traceability", "light_client"):  # a chain mix-up cannot hide
        assert d["chains"]["alpha"][key] != d["chains"]["beta"][key]
    assert d["threshold"] == 2 and len(d["users"]) == 3 and len(d["operators"]) == 3
    assert all(network.process_alive(op["pid"], "relayer") for op in d["operators"])
    assert all(network.process_alive(node["pid"], node["node"]) for node in d["nodes"].values())


def test_operator_files_are_valid_and_keys_private(devnet: Path) -> None:
    for index in (1, 2, 3):
        assert check_config(devnet / f"operator-{index}.toml") == []
        for name in (f"operator-{index}.json", f"operator-{index}.password"):
            assert stat.S_IMODE((devnet / "keys" / name).stat().st_mode) == 0o600


def test_second_up_is_refused(devnet: Path) -> None:
    with pytest.raises(DevnetError, match="already runs"):
        devnet_up(devnet, detach=True)


def test_native_round_trip_with_the_demo_checks(devnet: Path) -> None:
    deployment = network.load_deployment(devnet)
    before = demo.snapshot(deployment)
    there = transfer(devnet, "alpha", "beta", "native", Decimal(2), wait=True, timeout=60, user_index=0)
    back = transfer(devnet, "beta", "alpha", "wrapped-native", Decimal("0.5"), wait=True, timeout=60,
                    user_index=0)
    for result in (there, back):
        assert result.outcome == "delivered"
        assert result.destination_tx and result.destination_gas and result.latency_s
    assert demo.balance_mismatches(demo.expected(before, [there, back]), demo.snapshot(deployment)) == []
    assert demo.supply_mismatches(deployment) == []  # locked in each router == held == wrapped supply


def test_traceability_record_crosses_with_its_provable_origin(devnet: Path) -> None:
    lines: list[str] = []
    assert trace_batch(network.load_deployment(devnet), 60, report=lines.append) == []  # origin checked inside
    assert "its provable origin: chain alpha (1001), registry " in lines[1]
    assert lines[2] == "  acknowledged on alpha: beta accepted the mirror"


def test_two_of_three_deliver_while_one_operator_is_down(devnet: Path) -> None:
    assert network.stop_operator(devnet, 3, signal.SIGKILL)
    assert network.stop_operator(devnet, 3) is False  # already gone
    result = transfer(devnet, "beta", "alpha", "token", Decimal(7), wait=True, timeout=60, user_index=1)
    assert result.destination_tx and result.outcome == "delivered"
    pid = network.start_operator(devnet, 3)
    assert _deployment(devnet)["operators"][2]["pid"] == pid
    network.wait_healthy(devnet, [3], timeout=60, report=lambda _: None)
    with pytest.raises(DevnetError, match="already runs"):
        network.start_operator(devnet, 3)


def test_down_stops_everything(tmp_path: Path, devnet: Path) -> None:
    assert devnet_down(tmp_path) == 0  # nothing there: still fine
    d = _deployment(devnet)
    network.down(devnet, report=lambda _: None)
    assert not network.running_pids(d)
    assert network.down(devnet, report=lambda _: None) is False  # idempotent



def test_foreground_up_stops_everything_on_sigint(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-m", "relayer", "devnet", "up", "--dir", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        ready = any("press Ctrl-C" in line for line in _until(process.stdout, "press Ctrl-C"))
        assert ready, f"devnet up exited early with status {process.poll()}"
        running = network.running_pids(_deployment(tmp_path))
        assert len(running) == 5
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
        assert not network.running_pids(_deployment(tmp_path))
    finally:
        if process.poll() is None:
            process.kill()
        network.down(tmp_path, report=lambda _: None)


def _until(stream: IO[str], marker: str) -> Iterator[str]:
    for line in stream:
        yield line
        if marker in line:
            return
