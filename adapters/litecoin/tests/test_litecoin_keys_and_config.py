"""The operators' Litecoin keys (keystore, Signer, custody from public keys), the [chains.NAME.litecoin]
table with key-path errors, and the plugin's distribution and entry points."""

from __future__ import annotations

import hashlib
import json
import socket
from importlib.metadata import distribution
from pathlib import Path

import pytest
import structlog

from relayer.config_schema import ConfigProblems
from relayer.contract import KeyType, LightClient, Signer
from relayer.errors import ConfigError, DevnetError
from relayer.plugins import ADAPTER_GROUP, LIGHT_CLIENT_GROUP, load
from relayer_litecoin import regtest
from relayer_litecoin.adapter import LitecoinAdapter
from relayer_litecoin.custody import Custody
from relayer_litecoin.keys import KeystoreError, LitecoinSigner, load_signer, read_public_key, write_keystore
from relayer_litecoin.network import MAIN, REGTEST
from relayer_litecoin.testing import CUSTODY, OPERATORS

SECRET = hashlib.sha256(b"operator one").digest()
FAST = 1 << 10  # scrypt cost for tests


def test_keystore_round_trip_without_the_secret_in_sight(tmp_path: Path) -> None:
    path = tmp_path / "op1.json"
    with structlog.testing.capture_logs() as logs:
        public = write_keystore(path, SECRET, b"pw", n=FAST)
        signer = load_signer(path, b"pw", REGTEST)
    assert isinstance(signer, Signer) and signer.key_type == KeyType.SECP256K1
    assert signer.public_key == public == read_public_key(path)
    assert signer.address.startswith("rltc1q") and LitecoinSigner(SECRET, MAIN).address.startswith("ltc1q")
    text = path.read_text() + repr(signer) + json.dumps(logs)
    assert SECRET.hex() not in text and SECRET.hex()[:16] not in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    digest = hashlib.sha256(b"release").digest()
    signature = signer.sign_digest(digest)
    assert signature[0] == 0x30 and signer.verify(digest, signature) and not signer.verify(bytes(32), signature)
    s = int.from_bytes(signature[-32:], "big")  # low s (DER's last integer, 32 bytes when no padding)
    assert s <= 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0 or signature[-33] == 0
    with pytest.raises(ValueError):
        signer.sign_digest(bytes(31))
    with pytest.raises(KeystoreError, match="wrong password") as wrong:
        load_signer(path, b"not it", REGTEST)
    assert SECRET.hex() not in str(wrong.value)
    with pytest.raises(KeystoreError, match="exists"):
        write_keystore(path, SECRET, b"pw", n=FAST)


def test_custody_is_the_same_for_every_order_of_keys() -> None:
    keys = [s.public_key for s in OPERATORS]
    assert Custody.of(2, keys[::-1]) == CUSTODY == Custody.of(2, [keys[1], keys[0], keys[2]])
    script = CUSTODY.witness_script
    assert script[0] == 0x52 and script[-2:] == b"\x53\xae"  # OP_2 ... OP_3 OP_CHECKMULTISIG
    with pytest.raises(ValueError, match="repeated"):
        Custody.of(2, [keys[0], keys[0], keys[1]])
    with pytest.raises(ValueError, match="threshold"):
        Custody.of(4, keys)
    with pytest.raises(ValueError, match="point"):
        Custody.of(1, [b"\x02" + b"\xff" * 32])


def test_the_family_table_is_validated_with_key_paths() -> None:
    keys = [s.public_key.hex() for s in OPERATORS]
    config = LitecoinAdapter.parse_config({"network": "regtest", "custody": {"threshold": 2, "keys": keys}},
                                          "chains.ltc.litecoin")
    assert config.network is REGTEST and config.custody == CUSTODY
    with pytest.raises(ConfigProblems) as refused:
        LitecoinAdapter.parse_config({"network": "mars", "custody": {"threshold": 0, "keys": [keys[0], "02ab"]},
                                      "extra": 1}, "chains.ltc.litecoin")
    found = {e.key for e in refused.value.errors}
    assert found == {"chains.ltc.litecoin.network", "chains.ltc.litecoin.custody.threshold",
                     "chains.ltc.litecoin.custody.keys[1]", "chains.ltc.litecoin.extra"}
    with pytest.raises(ConfigProblems) as missing:
        LitecoinAdapter.parse_config({"network": "main"}, "chains.ltc.litecoin")
    assert missing.value.key == "chains.ltc.litecoin.custody"
    with pytest.raises(ConfigProblems) as repeated:
        LitecoinAdapter.parse_config({"network": "main", "custody": {"threshold": 1, "keys": [keys[0], keys[0]]}},
                                     "chains.ltc.litecoin")
    assert repeated.value.key == "chains.ltc.litecoin.custody.keys"


class Alpha:
    """A source chain's adapter as resolve_route sees it (its name)."""

    name = "alpha"


APP = "0x" + "ab" * 20


def release_config(tmp_path: Path, **changes: object) -> dict[str, object]:
    """The table of a Litecoin destination with operator 0's keystore (password file mode 0600)."""
    keystore, password = tmp_path / "key.json", tmp_path / "password"
    if not keystore.exists():
        write_keystore(keystore, bytes([1]) * 32, b"pw", n=FAST)
        password.write_text("pw\n")
        password.chmod(0o600)
    release: dict[str, object] = {"keystore": str(keystore), "password_file": str(password),
                                  "journal": str(tmp_path / "releases.json")}
    release.update(changes)
    return {"network": "regtest", "custody": {"threshold": 2, "keys": [s.public_key.hex() for s in OPERATORS]},
            "release": {k: v for k, v in release.items() if v is not None}, "burns": {"alpha": APP}}


async def test_a_route_into_litecoin_needs_the_release_keys_and_the_source_application(tmp_path: Path) -> None:
    table = release_config(tmp_path)
    config = LitecoinAdapter.parse_config(table, "chains.ltc.litecoin")
    setup = config.setup
    assert setup.burns == {"alpha": bytes(12) + bytes.fromhex("ab" * 20)}
    assert setup.journal == tmp_path / "releases.json"
    assert (setup.confirmations, setup.start_block) == (6, 1)
    adapter = LitecoinAdapter.connect("ltc", 7001, ("http://127.0.0.1:1/",), config)
    try:
        assert await adapter.resolve_route(Alpha(), "routes[alpha->ltc]") == ("operators", "custody")
        assert adapter.signer is not None and adapter.signer.public_key == OPERATORS[0].public_key
        assert adapter.burn_sources["alpha"].name == "alpha"
    finally:
        await adapter.aclose()
    # each missing piece is named by its full key path
    changed: list[tuple[dict[str, object], str]] = [
        ({"burns": {}}, "chains.ltc.litecoin.burns.alpha"),
        ({"release": {}}, "chains.ltc.litecoin.release.keystore"),
        ({"release": {"keystore": "/k", "password_file": "/p"}}, "chains.ltc.litecoin.release.journal")]
    for changes, key in changed:
        adapter = LitecoinAdapter.connect("ltc", 7001, ("http://127.0.0.1:1/",),
                                          LitecoinAdapter.parse_config({**table, **changes}, "chains.ltc.litecoin"))
        with pytest.raises(ConfigError) as refused:
            await adapter.resolve_route(Alpha(), "routes[alpha->ltc]")
        assert refused.value.key == key, refused.value
    for mode, table, key, words in [
            (0o644, release_config(tmp_path), "password_file", "chmod 600"),
            (0o600, release_config(tmp_path, password_file=str(tmp_path / "none")), "password_file", "cannot read"),
            (0o600, release_config(tmp_path, keystore=str(tmp_path / "none")), "keystore", "cannot read")]:
        (tmp_path / "password").chmod(mode)
        adapter = LitecoinAdapter.connect("ltc", 7001, ("http://127.0.0.1:1/",),
                                          LitecoinAdapter.parse_config(table, "chains.ltc.litecoin"))
        with pytest.raises(ConfigError, match=words) as refused:
            await adapter.resolve_route(Alpha(), "routes[alpha->ltc]")
        assert refused.value.key == f"chains.ltc.litecoin.release.{key}"
    (tmp_path / "password").write_text("wrong\n")
    adapter = LitecoinAdapter.connect("ltc", 7001, ("http://127.0.0.1:1/",),
                                      LitecoinAdapter.parse_config(release_config(tmp_path), "chains.ltc.litecoin"))
    with pytest.raises(ConfigError, match="wrong password") as refused:
        await adapter.resolve_route(Alpha(), "routes[alpha->ltc]")
    assert refused.value.key == "chains.ltc.litecoin.release.keystore"
    other = tmp_path / "other"
    other.mkdir()
    write_keystore(other / "key.json", bytes([9]) * 32, b"pw", n=FAST)
    (tmp_path / "password").write_text("pw")
    adapter = LitecoinAdapter.connect("ltc", 7001, ("http://127.0.0.1:1/",), LitecoinAdapter.parse_config(
        release_config(tmp_path, keystore=str(other / "key.json")), "chains.ltc.litecoin"))
    with pytest.raises(ConfigError, match="not one of chains.ltc.litecoin.custody.keys"):
        await adapter.resolve_route(Alpha(), "routes[alpha->ltc]")


def test_the_release_keys_and_burns_are_validated_with_key_paths(tmp_path: Path) -> None:
    table = release_config(tmp_path, keystore="relative/key.json", journal=7, confirmations=0, start_block="1")
    table["burns"] = {"alpha": "0x1234", "beta": "ab" * 20, "gamma": "0x" + "cd" * 32, "delta": "ef" * 32,
                      "eps": 5}
    with pytest.raises(ConfigProblems) as refused:
        LitecoinAdapter.parse_config(table, "chains.ltc.litecoin")
    found = {e.key for e in refused.value.errors}
    base = "chains.ltc.litecoin"
    assert found == {f"{base}.release.keystore", f"{base}.release.journal", f"{base}.release.confirmations",
                     f"{base}.release.start_block", f"{base}.burns.alpha", f"{base}.burns.beta", f"{base}.burns.eps"}
    table["release"] = {"fee_rate": 10}
    table["burns"] = {"gamma": "0x" + "cd" * 32, "delta": "ef" * 32}
    setup = LitecoinAdapter.parse_config(table, base).setup
    assert setup.burns == {"gamma": bytes.fromhex("cd" * 32), "delta": bytes.fromhex("ef" * 32)}
    assert setup.keystore is None and setup.journal is None
    table["burns"] = "alpha"
    with pytest.raises(ConfigProblems) as wrong:
        LitecoinAdapter.parse_config(table, base)
    assert wrong.value.key == f"{base}.burns"


def test_the_plugin_is_its_own_distribution_found_by_its_entry_points() -> None:
    assert load(ADAPTER_GROUP, "litecoin", key="chains.ltc.adapter") is LitecoinAdapter
    client_class = load(LIGHT_CLIENT_GROUP, "litecoin", key="chains.ltc.light_client")
    assert isinstance(client_class.from_options("ltc", 1, 6, {"network": "main"}), LightClient)
    dist = distribution("relayer-litecoin")
    assert {(ep.group, ep.name) for ep in dist.entry_points} >= {(ADAPTER_GROUP, "litecoin"),
                                                                 (LIGHT_CLIENT_GROUP, "litecoin")}
    assert all(ep.name != "litecoin" for ep in distribution("relayer").entry_points)
    assert not (Path(__file__).parents[1] / "__init__.py").exists()


def test_the_launcher_says_what_to_install_and_why_a_node_did_not_start(tmp_path: Path) -> None:
    with pytest.raises(DevnetError, match="apt-get install litecoind"):
        regtest.start(binary="litecoind-not-installed")
    (tmp_path / "litecoin.conf").write_text("this is not a setting\n")  # litecoind refuses to start
    with pytest.raises(DevnetError, match="litecoind exited with code") as failed:
        regtest.start(tmp_path, timeout=30)
    assert "configuration file" in str(failed.value)  # litecoind's own reason, in one line


def test_the_launcher_retries_a_port_another_process_took(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = iter([busy, busy])  # the first launch gets a taken RPC and P2P port, the next free ones
        real = regtest.free_port
        monkeypatch.setattr(regtest, "free_port", lambda: next(ports, None) or real())
        node = regtest.start()
        try:
            assert busy not in (node.rpc_port, node.p2p_port) and node.call("getblockcount") == 0
        finally:
            node.stop()
    assert not node.datadir.exists()
