"""``relayer header verify``: vector files in, one JSON verdict out (exit 0 / 1 / 2)."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from light_clients.bft.codec import QBFT, decode_extra
from light_clients.bft.testing import header_to_rpc, with_extra
from light_clients.evm.header import Header, decode_header, header_from_fixture
from relayer import header_verify
from relayer.errors import UsageError

REPO = Path(__file__).resolve().parents[1]
ELC = "besu-qbft-elc/qbft_header_vectors.json"
GOERLI = Path("ethereumjs/packages/block/test/testdata")
GOERLI_SIGNER = "0xe0a2bd4258d2768837baa26a28fe71dc079f84c7"


def _hex(value: str) -> bytes:
    return bytes.fromhex(value[2:])


@pytest.fixture(scope="module")
def elc(vectors: Path) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((vectors / ELC).read_text())["qbft_header"]
    return vector


@pytest.fixture(scope="module")
def qbft_header(elc: dict[str, Any]) -> Header:
    return decode_header(_hex(elc["header_rlp_with_seals"]))


@pytest.fixture
def qbft_file(tmp_path: Path, qbft_header: Header, elc: dict[str, Any]) -> Path:
    path = tmp_path / "block-7528.json"
    path.write_text(json.dumps(header_to_rpc(qbft_header, _hex(elc["derived"]["onchain_block_hash"]))))
    return path


def _args(kind: str, header: Path | None = None, **more: Any) -> argparse.Namespace:
    values = {"kind": kind, "header": header, "validators": None, "rpc": None, "block": None, "epoch": None,
              "trust_roots": None}
    return argparse.Namespace(**(values | more))


def _run(capsys: pytest.CaptureFixture[str], args: argparse.Namespace) -> tuple[int, dict[str, Any]]:
    code = header_verify.main(args)
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "one JSON object on one line"
    return code, json.loads(out)


# --------------------------------------------------------------------------- qbft


def test_qbft_vector_is_valid_with_its_signers(
    capsys: pytest.CaptureFixture[str], qbft_file: Path, elc: dict[str, Any]
) -> None:
    code, out = _run(capsys, _args("qbft", qbft_file))
    assert code == 0 and out["valid"] is True and "reason" not in out
    assert out["signers"] == elc["derived"]["seal_signers_in_order"]
    assert out["validators"] == elc["upstream_asserted"]["validators"] and out["quorum"] == 3
    assert out["hash"] == elc["derived"]["onchain_block_hash"] and out["number"] == 7528


def test_qbft_vector_with_the_trusted_validators_given(
    capsys: pytest.CaptureFixture[str], qbft_file: Path, elc: dict[str, Any]
) -> None:
    validators = ",".join(reversed(elc["upstream_asserted"]["validators"]))  # order does not matter
    code, out = _run(capsys, _args("qbft", qbft_file, validators=validators))
    assert code == 0 and out["valid"] is True


def test_altered_qbft_field_is_invalid_with_a_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, qbft_header: Header, elc: dict[str, Any]
) -> None:
    block = header_to_rpc(qbft_header.replace(state_root=b"\x01" * 32), _hex(elc["derived"]["onchain_block_hash"]))
    path = tmp_path / "altered.json"
    path.write_text(json.dumps(block))
    code, out = _run(capsys, _args("qbft", path))
    assert code == 1 and out["valid"] is False and "hash mismatch" in out["reason"]
    assert out["hash"] != elc["derived"]["onchain_block_hash"]


def test_altered_qbft_seal_is_invalid_with_a_reason(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, qbft_header: Header, elc: dict[str, Any]
) -> None:
    seals = decode_extra(QBFT, qbft_header.extra_data).seals
    altered = with_extra(QBFT, qbft_header, seals=(seals[0], seals[1], seals[2][:5] + b"\x00" + seals[2][6:]))
    path = tmp_path / "seal.json"
    path.write_text(json.dumps({"jsonrpc": "2.0", "id": 1, "result": header_to_rpc(altered, None) | {"hash": None}}))
    code, out = _run(capsys, _args("qbft", path, validators=",".join(elc["upstream_asserted"]["validators"])))
    assert code == 1 and out["valid"] is False and out["reason"]
    assert out["signers"][:2] == elc["derived"]["seal_signers_in_order"][:2]


def test_wrong_kind_says_why(capsys: pytest.CaptureFixture[str], qbft_file: Path) -> None:
    code, out = _run(capsys, _args("ibft2", qbft_file))
    assert code == 1 and "extraData" in out["reason"]


# --------------------------------------------------------------------------- clique


def test_goerli_block_is_valid_with_its_signer(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                               vectors: Path) -> None:
    fixture = json.loads((vectors / GOERLI / "blocks_goerli.json").read_text())[0]["header"]
    header = header_from_fixture(fixture)
    path = tmp_path / "goerli-1.json"
    path.write_text(json.dumps(header_to_rpc(header)))
    code, out = _run(capsys, _args("clique", path, validators=GOERLI_SIGNER))
    assert code == 0 and out["valid"] is True and out["signers"] == [GOERLI_SIGNER] and out["quorum"] == 1
    assert out["hash"].startswith("0x8f5bab21")


def test_goerli_rpc_file_is_read_as_is(capsys: pytest.CaptureFixture[str], vectors: Path) -> None:
    path = vectors / GOERLI / "testdata-from-rpc-goerli.json"
    signer = "0x8b24eb4e6aae906058242d83e51fb077370c4720"
    code, out = _run(capsys, _args("clique", path, validators=f"0x{'00' * 19}01,{signer}"))  # signer out of turn
    assert code == 0 and out["signers"] == [signer] and out["hash"] == json.loads(path.read_text())["hash"]


def test_altered_goerli_block_is_invalid(capsys: pytest.CaptureFixture[str], tmp_path: Path, vectors: Path) -> None:
    block = json.loads((vectors / GOERLI / "testdata-from-rpc-goerli.json").read_text())
    block["gasUsed"] = "0x1"
    path = tmp_path / "altered.json"
    path.write_text(json.dumps(block))
    code, out = _run(capsys, _args("clique", path, validators="0x8b24eb4e6aae906058242d83e51fb077370c4720"))
    assert code == 1 and out["valid"] is False and "hash mismatch" in out["reason"]


def test_clique_block_without_a_set_names_what_is_missing(capsys: pytest.CaptureFixture[str], vectors: Path) -> None:
    code, out = _run(capsys, _args("clique", vectors / GOERLI / "testdata-from-rpc-goerli.json"))
    assert code == 1 and "not an epoch block" in out["reason"]
    assert out["signers"] == ["0x8b24eb4e6aae906058242d83e51fb077370c4720"]


# --------------------------------------------------------------------------- --rpc


@pytest.fixture
def rpc_server(qbft_header: Header, elc: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    block = header_to_rpc(qbft_header, _hex(elc["derived"]["onchain_block_hash"]))
    seen: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append(request["params"])
            result = block if request["params"][0] in ("0x1d68", "latest") else None
            body = json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def test_rpc_fetches_the_block_itself(capsys: pytest.CaptureFixture[str], rpc_server: tuple[str, list[Any]]) -> None:
    url, seen = rpc_server
    code, out = _run(capsys, _args("qbft", rpc=url, block="7528"))
    assert code == 0 and out["valid"] is True and seen == [["0x1d68", False]]
    with pytest.raises(UsageError, match="knows no block"):
        header_verify.main(_args("qbft", rpc=url, block="7529"))


# --------------------------------------------------------------------------- bad arguments


@pytest.mark.parametrize(
    ("more", "message"),
    [
        ({}, "give --header FILE"),
        ({"header": Path("/nonexistent/block.json")}, "cannot read"),
        ({"header": Path("x.json"), "rpc": "http://127.0.0.1:1"}, "not both"),
        ({"header": Path("x.json"), "block": "5"}, "--block goes with --rpc"),
        ({"rpc": "http://127.0.0.1:1", "block": "five"}, "--block must be a number"),
        ({"header": Path("x.json"), "validators": "0x12"}, "not a 0x-hex address"),
        ({"header": Path("x.json"), "epoch": 0}, "--epoch"),
    ],
)
def test_bad_arguments_are_usage_errors(more: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        header_verify.main(_args("qbft", **more))


def test_a_file_that_is_not_a_block_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"number": "0x1"}')
    with pytest.raises(UsageError, match="bad.json"):
        header_verify.main(_args("qbft", path))
    path.write_text("not json")
    with pytest.raises(UsageError, match="not JSON"):
        header_verify.main(_args("qbft", path))


def test_python_dash_m_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "relayer.header_verify", "--kind", "qbft", "--header", str(tmp_path / "missing.json")],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: cannot read") and done.stderr.count("\n") == 1


def test_python_dash_m_on_a_vector_exits_0(qbft_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "relayer.header_verify", "--kind", "qbft", "--header", str(qbft_file)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)["valid"] is True


def test_relayer_header_verify_subcommand(qbft_file: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "relayer", "header", "verify", "--kind", "qbft", "--header", str(qbft_file)],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0 and json.loads(done.stdout)["valid"] is True
    missing = subprocess.run(
        [sys.executable, "-m", "relayer", "header", "verify", "--kind", "qbft", "--header", "/nonexistent.json"],
        capture_output=True, text=True, cwd=REPO, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 2 and "Traceback" not in missing.stderr


# --------------------------------------------------------------------------- plugins


def _install_plugin(root: Path, name: str, target: str) -> None:
    """A distribution on sys.path that registers light client ``name`` as ``target``
    (what a chain vendor's package does with its pyproject entry points)."""
    info = root / "vendor_light_client-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: vendor-light-client\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[relayer.light_clients]\n{name} = {target}\n")


def test_kinds_load_through_the_plugin_entry_points(
    capsys: pytest.CaptureFixture[str], qbft_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_plugin(tmp_path / "site", "vendorbft", "light_clients.qbft.client:QbftLightClient")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert "vendorbft" in header_verify.judging_kinds()
    code, out = _run(capsys, _args("vendorbft", qbft_file))
    assert code == 0 and out["valid"] is True and out["kind"] == "vendorbft"


# the lists name every installed plugin (vendor packages such as relayer-fisco-bcos too), so only the
# first-party kinds are checked in them
@pytest.mark.parametrize(("kind", "words", "listed"), [
    ("nosuch", "no relayer.light_clients plugin named 'nosuch' is installed (installed: ",
     ("clique", "evm", "ibft2", "qbft")),
    ("evm", "light client 'evm' does not judge seals on its own (kinds that do: ", ("clique", "ibft2", "qbft")),
])
def test_a_kind_that_cannot_judge_is_a_usage_error(qbft_file: Path, kind: str, words: str,
                                                   listed: tuple[str, ...]) -> None:
    with pytest.raises(UsageError, match=re.escape(words)):
        header_verify.main(_args(kind, qbft_file))
    done = subprocess.run([sys.executable, "-m", "relayer", "header", "verify", "--kind", kind, "--header",
                           str(qbft_file)], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr and words in done.stderr
    named = done.stderr.split(words, 1)[1].split(")", 1)[0].split(", ")
    assert set(listed) <= set(named) and named == sorted(named)


# --------------------------------------------------------------------------- --trust-roots

VENDOR_JUDGE = """
class Judge:
    @classmethod
    def parse_validator(cls, text):
        return text.encode()

    @classmethod
    def judge_block(cls, block, validators, epoch, **more):
        roots = more.get("trust_roots")
        return {"valid": True, "keywords": sorted(more), "roots": None if roots is None else roots.hex()}
"""


@pytest.fixture
def vendor_judge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A vendor light client ``vendorjudge`` whose judge_block reports the keywords it was given."""
    site = tmp_path / "site"
    _install_plugin(site, "vendorjudge", "vendor_judge:Judge")
    (site / "vendor_judge.py").write_text(VENDOR_JUDGE)
    monkeypatch.syspath_prepend(str(site))
    return "vendorjudge"


def test_trust_roots_reach_the_plugin_as_the_files_bytes(
    capsys: pytest.CaptureFixture[str], vendor_judge: str, qbft_file: Path, tmp_path: Path
) -> None:
    roots = tmp_path / "roots.bin"
    roots.write_bytes(b"\x00any bytes\n\xff")
    code, out = _run(capsys, _args(vendor_judge, qbft_file, trust_roots=roots))
    assert code == 0 and out["keywords"] == ["trust_roots"] and out["roots"] == roots.read_bytes().hex()
    code, out = _run(capsys, _args(vendor_judge, qbft_file))
    assert code == 0 and out["keywords"] == [] and out["roots"] is None  # not given: not passed


def test_trust_roots_for_a_plugin_that_takes_none_is_a_usage_error(qbft_file: Path, tmp_path: Path) -> None:
    roots = tmp_path / "roots.pem"
    roots.write_text("anything")
    with pytest.raises(UsageError, match=re.escape("--trust-roots: light client 'qbft' takes no trust roots")):
        header_verify.main(_args("qbft", qbft_file, trust_roots=roots))
    done = subprocess.run([sys.executable, "-m", "relayer", "header", "verify", "--kind", "qbft", "--header",
                           str(qbft_file), "--trust-roots", str(roots)], capture_output=True, text=True, cwd=REPO,
                          timeout=60)
    assert done.returncode == 2 and done.stdout == "" and done.stderr.count("\n") == 1
    assert "takes no trust roots" in done.stderr


def test_unreadable_trust_roots_are_a_usage_error(vendor_judge: str, qbft_file: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read .*missing.pem"):
        header_verify.main(_args(vendor_judge, qbft_file, trust_roots=tmp_path / "missing.pem"))
