"""relayer.devnet.network without a devnet: TOML, pid bookkeeping, health-wait failures."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from relayer.devnet import network
from relayer.devnet.anvil import free_port
from relayer.errors import DevnetError, UsageError

CHAINS = {
    name: {"name": name, "chain_id": chain_id, "rpc": f"http://127.0.0.1:{8545 + i}",
           "message_layer": "0x" + f"{i + 1:040x}", "start_block": 10 + i}
    for i, (name, chain_id) in enumerate(network.CHAIN_IDS.items())
}
MEMBERS = [{"name": f"operator-{i}", "address": "0x" + f"{i:040x}", "api": f"http://127.0.0.1:{7100 + i}"}
           for i in (1, 2, 3)]


def test_operator_toml_has_the_documented_shape() -> None:
    doc = tomllib.loads(network.operator_toml(2, 7102, MEMBERS, CHAINS, 2))
    assert doc["operator"] == {"name": "operator-2", "key_file": "keys/operator-2.json",
                               "password_file": "keys/operator-2.password",
                               "state_dir": "state/operator-2", "api_listen": "127.0.0.1:7102"}
    assert doc["committee"]["threshold"] == 2 and doc["committee"]["members"] == MEMBERS
    assert doc["chains"]["beta"] == {"chain_id": 1002, "adapter": "evm", "light_client": "evm",
                                     "rpc": ["http://127.0.0.1:8546"],
                                     "confirmations": 2, "poll_interval": 0.5, "start_block": 11,
                                     "evm": {"message_layer": CHAINS["beta"]["message_layer"],
                                             "fees": {"replace_after": 6.0}}}
    assert doc["routes"] == [{"from": "alpha", "to": "beta"}, {"from": "beta", "to": "alpha"}]


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A process whose command line contains "relayer" (the operator marker)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "relayer"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def test_process_alive_checks_the_marker_and_terminate_stops(sleeper: subprocess.Popen[bytes]) -> None:
    assert network.process_alive(sleeper.pid, "relayer")
    assert not network.process_alive(sleeper.pid, "anvil")  # a recycled pid is not ours
    assert network.terminate(sleeper.pid, "relayer", timeout=5)
    assert not network.process_alive(sleeper.pid)
    assert network.terminate(sleeper.pid, "relayer") is False


def _fake_devnet(folder: Path, pid: int | None) -> None:
    (folder / "logs").mkdir()
    (folder / "logs" / "operator-1.log").write_text("".join(f"line {n}\n" for n in range(1, 31)))
    network.save_deployment(folder, {"chains": {}, "users": [], "threshold": 2, "anvil": {},
                                     "operators": [{"name": "operator-1", "address": MEMBERS[0]["address"],
                                                    "api": f"http://127.0.0.1:{free_port()}",
                                                    "config": str(folder / "operator-1.toml"), "pid": pid}]})


def test_unhealthy_operator_fails_with_its_log_tail(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    _fake_devnet(tmp_path, sleeper.pid)
    with pytest.raises(DevnetError) as caught:
        network.wait_healthy(tmp_path, timeout=0.5, report=lambda _: None)
    message = str(caught.value)
    assert "not healthy after" in message and "line 11\n" in message and "line 30" in message
    assert "line 10\n" not in message


def test_exited_operator_fails_at_once(tmp_path: Path) -> None:
    _fake_devnet(tmp_path, None)
    with pytest.raises(DevnetError, match="exited before becoming healthy"):
        network.wait_healthy(tmp_path, timeout=30, report=lambda _: None)


def test_running_devnet_blocks_up_and_bad_input_is_refused(tmp_path: Path,
                                                          sleeper: subprocess.Popen[bytes]) -> None:
    _fake_devnet(tmp_path, sleeper.pid)
    assert network.running_pids(network.load_deployment(tmp_path)) == {"operator-1": sleeper.pid}
    with pytest.raises(DevnetError, match="already runs"):
        network.up(tmp_path, report=lambda _: None)
    with pytest.raises(UsageError):
        network.up(tmp_path, policy="clique", report=lambda _: None)
    with pytest.raises(UsageError):
        network.stop_operator(tmp_path, 0)
    assert (tmp_path / "logs" / "operator-1.log").exists()  # a refused `up` deletes nothing


def test_missing_devnet(tmp_path: Path) -> None:
    with pytest.raises(DevnetError, match="no devnet"):
        network.load_deployment(tmp_path)
    assert network.down(tmp_path, report=lambda _: None) is False


@pytest.mark.parametrize("option,words", [
    (["--hardfork", "nope"], "error: --hardfork 'nope': expected CHAIN=VALUE, e.g. --hardfork alpha=berlin"),
    (["--hardfork", "gamma=berlin"], "error: --hardfork gamma=...: unknown chain 'gamma' (chains: alpha, beta)"),
    (["--hardfork", "alpha=istanbul"], "error: --hardfork alpha: unsupported hardfork 'istanbul'"),
    (["--hardfork", "alpha=berlin", "--policy", "qbft"], "error: --hardfork: policy qbft runs at the nodes'"),
    (["--node", "beta"], "error: --node 'beta': expected CHAIN=VALUE, e.g. --node beta=hardhat"),
])
def test_devnet_up_refuses_a_bad_hardfork_or_node_in_one_line(tmp_path: Path, option: list[str], words: str) -> None:
    result = subprocess.run([sys.executable, "-m", "relayer", "devnet", "up", "--dir", str(tmp_path), *option],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(words) and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert not any(tmp_path.iterdir())  # refused before anything was started or written
