"""Co-signing between operators (relayer.cosign): a peer's request is answered only for messages this
operator verified itself, over the real HTTP API and with the example family's chain (examples/memchain)."""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import trio

from relayer.api import Api, serve_api
from relayer.attester import Member
from relayer.contract import Batch, BlockContents, LightClientUpdate, RouteRef, VerifiedHeader
from relayer.cosign import CoSignRoute, CoSignService, PeerCoSigners
from relayer.errors import ContractRevert
from relayer.metrics import Metrics
from relayer.store import Message, Store, StoredHeader
from relayer.types import Envelope

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "memchain"))
from memchain import Devnet, MemSource, _verified  # noqa: E402

ROUTE = RouteRef("sun->moon", "sun", "moon", 71, 72, "moon-client-of-sun")


class Recorder:
    """A destination's cosign: signs when the request says so, records what the core handed it."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, list[str], Mapping[str, Any]]] = []

    async def cosign(self, route: RouteRef, header: VerifiedHeader, envelopes: Sequence[Envelope],
                     request: Mapping[str, Any]) -> dict[str, Any]:
        self.seen.append((header.number, [e.id for e in envelopes], request))
        if request.get("refuse"):
            raise ContractRevert("not the transaction my rules build")
        return {"signature": "sig-of-" + str(request["what"])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _setup(tmp_path: Path, *, record_message: bool = True) -> tuple[Store, Batch, Recorder, Devnet]:
    devnet = Devnet()
    sun = devnet.sun
    number, _ = sun.send(72, b"release 5 to someone")
    header = sun.blocks[number][0]
    source = MemSource(sun)
    verified = _verified(header)
    store = Store(str(tmp_path / "state.sqlite"))
    contents = list(sun.blocks[header.number][1])
    block = BlockContents(verified.number, verified.hash, contents)
    envelopes = source.messages(verified, block, {72: "moon"})
    proofs = source.prove(verified, block, envelopes)
    stored = StoredHeader("sun", verified.number, "0x" + verified.hash.hex(), "0x" + verified.parent_hash.hex(),
                          "0x" + verified.commitment.hex(), verified.timestamp, "0x" + verified.encoded.hex())
    messages = [Message.from_envelope(e, final_at=1.0) for e in envelopes] if record_message else []
    store.record_scan("sun", verified.number + 1, [stored], messages, [])
    batch = Batch(ROUTE, verified, tuple(envelopes), tuple(proofs), LightClientUpdate("sealed", verified.number))
    return store, batch, Recorder(), devnet


def _service(store: Store, devnet: Devnet, recorder: Recorder) -> CoSignService:
    route = CoSignRoute(ROUTE, MemSource(devnet.sun), {72: "moon"})
    return CoSignService(store, lambda: [route], lambda name: recorder)  # type: ignore[arg-type,return-value]


async def _ask_over_http(service: CoSignService, batch: Batch,
                         request: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    port = _free_port()
    api = Api(Store.__new__(Store), lambda: {}, lambda: True, Metrics(), service)
    async with trio.open_nursery() as nursery:
        await nursery.start(serve_api, api, "127.0.0.1", port)
        peers = PeerCoSigners([Member("me", "0xaa", "http://127.0.0.1:1"),
                               Member("peer", "0xbb", f"http://127.0.0.1:{port}")], own_address="0xAA")
        answers = await peers.ask(batch, request)
        nursery.cancel_scope.cancel()
    return answers


def test_a_peer_signs_what_it_verified_itself_over_http(tmp_path: Path) -> None:
    store, batch, recorder, devnet = _setup(tmp_path)
    answers = trio.run(_ask_over_http, _service(store, devnet, recorder), batch, {"what": "psbt-1"})
    assert answers == [("peer", {"signature": "sig-of-psbt-1"})]
    assert recorder.seen == [(batch.header.number, [batch.messages[0].id], {"what": "psbt-1"})]


def test_a_refusal_or_a_forged_proof_gets_no_signature(tmp_path: Path) -> None:
    store, batch, recorder, devnet = _setup(tmp_path)
    service = _service(store, devnet, recorder)
    assert trio.run(_ask_over_http, service, batch, {"what": "x", "refuse": True}) == []
    forged = replace(batch.proofs[0], data=batch.proofs[0].data.replace(b"release 5".hex().encode(),
                                                                          b"release 9".hex().encode()))
    assert forged != batch.proofs[0]
    assert trio.run(_ask_over_http, service, replace(batch, proofs=(forged,)), {"what": "y"}) == []
    assert [r[2]["what"] for r in recorder.seen] == ["x"], "the forged proof reached the destination"


def test_each_check_answers_with_its_own_status(tmp_path: Path) -> None:
    store, batch, recorder, devnet = _setup(tmp_path)
    service = _service(store, devnet, recorder)
    proof = {"message_id": batch.proofs[0].message_id, "data": "0x" + batch.proofs[0].data.hex()}
    number = batch.header.number

    async def ask(src: int, body: Any) -> tuple[int, dict[str, Any]]:
        return await service.handle(src, 72, body)

    assert trio.run(ask, 99, {"block": number, "proofs": [proof], "request": {}})[0] == 404
    assert trio.run(ask, 71, {"block": number, "proofs": [], "request": {}})[0] == 400
    assert trio.run(ask, 71, {"block": number + 5, "proofs": [proof], "request": {}})[0] == 409
    other_id = dict(proof, message_id="0x" + "11" * 32)
    code, answer = trio.run(ask, 71, {"block": number, "proofs": [other_id], "request": {}})
    assert code == 422 and "another message" in answer["error"]
    assert trio.run(ask, 71, {"block": number, "proofs": [proof], "request": {"what": 1}}) == \
        (200, {"signature": "sig-of-1"})


def test_a_message_this_operator_has_not_recorded_is_not_signed_yet(tmp_path: Path) -> None:
    store, batch, recorder, devnet = _setup(tmp_path, record_message=False)
    proof = {"message_id": batch.proofs[0].message_id, "data": "0x" + batch.proofs[0].data.hex()}
    code, answer = trio.run(_service(store, devnet, recorder).handle, 71, 72,
                            {"block": batch.header.number, "proofs": [proof], "request": {}})
    assert code == 409 and "not recorded final" in answer["error"]
    assert recorder.seen == []
