"""The off-chain SPV light client of a Litecoin chain (``relayer.light_clients`` entry point ``litecoin``).

It follows the 80-byte header chain from a trusted checkpoint (the first header it accepts, whose hash
``light_client_options.checkpoint`` may pin). Every header's id is recomputed (sha256d) and compared with
the hash the node claimed; its scrypt proof of work is checked against the target in its nBits, and its
nBits against the network's difficulty rules (:mod:`relayer_litecoin.difficulty`); it must link to the
accepted head and its time must exceed the median of the 11 before it. Finality is by confirmations. A
block's contents are checked by recomputing the sha256d merkle root of its transactions' ids. Nothing the
node says about a block (``hash``, ``confirmations``, ``merkleroot``, ``chainwork``) is believed.

``relayer header verify --kind litecoin`` judges one header on its own (:mod:`relayer_litecoin.judging`).

What does not apply: Litecoin headers carry no seals and no validator set, so there are no set changes
(``set_changes`` is always empty) and no equivocation (two headers at one height are a fork, which the
most work decides: ``best_branch``); ``check_equivocation`` never raises MisbehaviourError. The rule that
a header's time is at most two hours ahead of the wall clock is not checked (the client is pure).

Imports from the relayer only relayer.contract, relayer.errors and relayer.types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from relayer.contract import BlockContents, CandidateHeader, SetChange, VerifiedHeader
from relayer.errors import BrokenLinkError, ConfigError, VerificationError
from relayer_litecoin.block import Block
from relayer_litecoin.difficulty import check_pow, is_anchor, next_normal_bits, required_bits
from relayer_litecoin.header import HEADER_SIZE, Header
from relayer_litecoin.judging import HeaderJudge
from relayer_litecoin.merkle import merkle_root
from relayer_litecoin.network import NETWORKS, Network

STATE_VERSION = 1
MEDIAN_SPAN = 11  # blocks whose median time a new header's time must exceed


@dataclass(frozen=True)
class Tip:
    """What the client keeps of its chain: the accepted head and the little the rules need below it."""

    height: int
    header: Header
    chainwork: int  # work from the checkpoint (inclusive) to the head
    times: tuple[int, ...]  # times of the last MEDIAN_SPAN accepted headers, oldest first
    anchors: Mapping[int, int]  # height -> time of the blocks a later retarget reads (the last two)
    normal_bits: int  # see difficulty.required_bits


def encode(number: int, header: Header) -> bytes:
    """A header as the relayer keeps it (``CandidateHeader.encoded``, ``VerifiedHeader.encoded``): its 80
    bytes and then its height as 4 bytes little-endian, because a Litecoin header does not carry its
    height (the client counts it from the checkpoint)."""
    return header.serialize() + number.to_bytes(4, "little")


def decode(encoded: bytes) -> tuple[int, Header]:
    """The height and header of ``encode``'s 84 bytes. Raises VerificationError when they are not that."""
    if len(encoded) != HEADER_SIZE + 4:
        raise VerificationError(f"an encoded Litecoin header has 84 bytes, got {len(encoded)}")
    try:
        return int.from_bytes(encoded[HEADER_SIZE:], "little"), Header.parse(encoded[:HEADER_SIZE])
    except ValueError as exc:
        raise VerificationError(str(exc)) from exc


def verified(number: int, header: Header) -> VerifiedHeader:
    """The VerifiedHeader of ``header`` at ``number``: hash and parent in display order, the merkle root as
    ``commitment``, ``encode``'s bytes as ``encoded``."""
    return VerifiedHeader(number, header.hash, header.prev_hash, header.merkle_root, header.time,
                          encode(number, header), header)


class LitecoinLightClient(HeaderJudge):
    """SPV client of one Litecoin chain. Pure and synchronous: no I/O; its state is saved by the follower.
    Judges a lone header for ``relayer header verify`` (``parse_validator``, ``judge_block``: HeaderJudge)."""

    lookahead = 1  # finality by confirmations: a range's last header is taken once its child links to it
    proves_equivocation = False

    def __init__(self, chain_name: str, chain_id: int, confirmations: int, net: Network, *,
                 checkpoint: bytes | None = None, anchor_time: int | None = None,
                 normal_bits: int | None = None, tip: Tip | None = None) -> None:
        self.chain_name, self.chain_id, self.confirmations, self.net = chain_name, chain_id, confirmations, net
        self.checkpoint, self.anchor_time, self.first_normal_bits = checkpoint, anchor_time, normal_bits
        self.tip = tip

    # ------------------------------------------------------------------ factory
    @classmethod
    def from_options(cls, chain_name: str, chain_id: int, confirmations: int,
                     options: Mapping[str, Any]) -> LitecoinLightClient:
        """A client for a first start. Options: ``network`` (main, test, regtest; required),
        ``checkpoint`` (hex hash the first accepted header must have), ``anchor_time`` (main/test: the
        time of the block the first retarget after the checkpoint reads, i.e. the last block of the
        period before the checkpoint's; without it the client refuses to cross that retarget) and
        ``normal_bits`` (testnet: the bits Core's min-difficulty walk finds below the checkpoint; default
        the checkpoint's own). Raises ConfigError naming ``chains.NAME.light_client_options.KEY``."""
        path = f"chains.{chain_name}.light_client_options"
        known = {"network", "checkpoint", "anchor_time", "normal_bits"}
        for key in options:
            if key not in known:
                raise ConfigError(f"{path}.{key}", f"unknown option; known: {', '.join(sorted(known))}")
        name = options.get("network")
        if name not in NETWORKS:
            raise ConfigError(f"{path}.network", f"expected one of {', '.join(NETWORKS)}, got {name!r}")
        checkpoint = None
        if "checkpoint" in options:
            text = options["checkpoint"]
            try:
                checkpoint = bytes.fromhex(text.removeprefix("0x")) if isinstance(text, str) else b""
            except ValueError:
                checkpoint = b""
            if len(checkpoint) != 32:
                raise ConfigError(f"{path}.checkpoint", "expected a block hash: 64 hex digits")
        ints: dict[str, int | None] = {}
        for key in ("anchor_time", "normal_bits"):
            value = options.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise ConfigError(f"{path}.{key}", f"expected a non-negative integer, got {value!r}")
            ints[key] = value
        return cls(chain_name, chain_id, confirmations, NETWORKS[name], checkpoint=checkpoint,
                   anchor_time=ints["anchor_time"], normal_bits=ints["normal_bits"])

    @classmethod
    def from_trusted_state(cls, chain_name: str, chain_id: int, confirmations: int,
                           state: Mapping[str, Any]) -> LitecoinLightClient:
        """The client as ``trusted_state()`` saved it. Raises VerificationError for a malformed state or
        one of another chain (chain id or network)."""
        try:
            if state["version"] != STATE_VERSION:
                raise VerificationError(f"unknown Litecoin light client state version {state['version']!r}")
            if state["chain_id"] != chain_id:
                raise VerificationError("saved light client state is of another chain",
                                        chain=chain_name, saved=state["chain_id"], expected=chain_id)
            net = NETWORKS[state["network"]]
            checkpoint = bytes.fromhex(state["checkpoint"]) if state.get("checkpoint") else None
            client = cls(chain_name, chain_id, confirmations, net, checkpoint=checkpoint,
                         anchor_time=state.get("anchor_time"), normal_bits=state.get("normal_bits"))
            if state.get("tip") is not None:
                tip = state["tip"]
                client.tip = Tip(int(tip["height"]), Header.parse(bytes.fromhex(tip["header"])),
                                 int(tip["chainwork"], 16), tuple(int(t) for t in tip["times"]),
                                 {int(h): int(t) for h, t in tip["anchors"].items()}, int(tip["normal_bits"]))
            return client
        except VerificationError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise VerificationError(f"malformed Litecoin light client state: {exc!r}", chain=chain_name) from exc

    def trusted_state(self) -> dict[str, Any]:
        """A small JSON-able dict (the head header, its height and work, 11 times, two anchors). Raises nothing."""
        tip = None
        if self.tip is not None:
            t = self.tip
            tip = {"height": t.height, "header": t.header.serialize().hex(), "chainwork": f"{t.chainwork:x}",
                   "times": list(t.times), "anchors": {str(h): v for h, v in t.anchors.items()},
                   "normal_bits": t.normal_bits}
        return {"version": STATE_VERSION, "chain_id": self.chain_id, "network": self.net.name,
                "checkpoint": self.checkpoint.hex() if self.checkpoint else None,
                "anchor_time": self.anchor_time, "normal_bits": self.first_normal_bits, "tip": tip}

    # ------------------------------------------------------------------ LightClient
    @property
    def head_number(self) -> int | None:
        """Height of the accepted head; None before the checkpoint is accepted."""
        return None if self.tip is None else self.tip.height

    @property
    def chainwork(self) -> int:
        """Work of the accepted chain from the checkpoint (inclusive); 0 before it."""
        return 0 if self.tip is None else self.tip.chainwork

    def final_number(self, head_number: int) -> int:
        """``confirmations`` below the chain's head (negative: nothing final yet). Raises nothing."""
        return head_number - self.confirmations

    def check_header(self, header: CandidateHeader) -> VerifiedHeader:
        """The header's id recomputed from its 80 bytes (and compared with the hash the node claimed) and
        its scrypt proof of work against the target in its nBits. Raises VerificationError."""
        number, native = decode(header.encoded)
        if number != header.number:
            raise VerificationError("the served header is of another height", chain=self.chain_name,
                                    block=header.number, encoded_height=number)
        if header.native is not None and header.native != native:
            raise VerificationError("the served header object is not its bytes", chain=self.chain_name,
                                    block=header.number)
        if header.claimed_hash is not None and header.claimed_hash != native.hash:
            raise VerificationError("header hash is not the one claimed", chain=self.chain_name, block=header.number,
                                    claimed="0x" + header.claimed_hash.hex(), computed="0x" + native.hash.hex())
        try:
            check_pow(self.net, native)
        except ValueError as exc:
            raise VerificationError(f"bad proof of work: {exc}", chain=self.chain_name, block=header.number) from exc
        return verified(header.number, native)

    def set_changes(self, headers: Sequence[VerifiedHeader]) -> list[SetChange]:
        """Always []: Litecoin has no validator set."""
        return []

    def accept(self, headers: Sequence[VerifiedHeader]) -> None:
        """Accept consecutive verified headers extending the head (the first becomes the checkpoint when
        there is none; it must have ``checkpoint``'s hash when one is configured). Each must link to its
        parent, carry the nBits the difficulty rules require and a time above the median of the 11 before.
        Nothing of the range is accepted when it raises BrokenLinkError (a header not linking: reorg or lie)
        or VerificationError (a gap, wrong bits or time, another checkpoint)."""
        tip = self.tip
        for header in headers:
            tip = self._extend(tip, header)
        self.tip = tip

    def best_branch(self, branches: Sequence[Sequence[VerifiedHeader]]) -> Sequence[VerifiedHeader]:
        """Of competing branches, each extending the accepted head, the one with the most work (the first
        of equal work, as Litecoin Core keeps the branch it saw first). Accepts nothing. Raises
        VerificationError (BrokenLinkError) when a branch is not a valid extension of the head."""
        best: tuple[int, Sequence[VerifiedHeader]] | None = None
        for branch in branches:
            tip = self.tip
            for header in branch:
                tip = self._extend(tip, header)
            work = 0 if tip is None else tip.chainwork
            if best is None or work > best[0]:
                best = (work, branch)
        if best is None:
            raise VerificationError("no branch to choose from", chain=self.chain_name)
        return best[1]

    def check_contents(self, header: VerifiedHeader, contents: BlockContents) -> None:
        """The block's own header bytes are ``header``'s, and the sha256d merkle root of its transactions'
        ids (recomputed from their bytes) is the header's. Raises VerificationError."""
        block = contents.data
        if not isinstance(block, Block):
            raise VerificationError("block contents are not a Litecoin block", chain=self.chain_name,
                                    block=header.number)
        if block.header != header.encoded[:HEADER_SIZE] or contents.block_hash != header.hash:
            raise VerificationError("block contents are of another header", chain=self.chain_name, block=header.number)
        try:
            root = merkle_root(block.txids())[::-1]
        except ValueError as exc:
            raise VerificationError(f"block transactions: {exc}", chain=self.chain_name, block=header.number) from exc
        if root != header.commitment:
            raise VerificationError("transactions do not hash to the header's merkle root", chain=self.chain_name,
                                    block=header.number, computed="0x" + root.hex())

    def known_header(self, encoded: bytes, hash: bytes) -> VerifiedHeader:
        """A header verified before, rebuilt from its 80 bytes. Raises VerificationError when they do not
        decode or are not of ``hash``."""
        number, native = decode(encoded)
        if native.hash != hash:
            raise VerificationError("stored header is not of its hash", chain=self.chain_name, block=number)
        return verified(number, native)

    def check_equivocation(self, known: VerifiedHeader, other: CandidateHeader) -> None:
        """Never raises MisbehaviourError: two proof-of-work headers at one height are a fork, not
        evidence against anyone. Raises VerificationError for a malformed header."""
        decode(other.encoded)

    # ------------------------------------------------------------------ internals
    def _extend(self, tip: Tip | None, header: VerifiedHeader) -> Tip:
        number, native = decode(header.encoded)
        if number != header.number or native.hash != header.hash:
            raise VerificationError("verified header does not match its encoding", chain=self.chain_name,
                                    block=header.number)
        if tip is None:
            if self.checkpoint is not None and native.hash != self.checkpoint:
                raise VerificationError("first header is not the configured checkpoint", chain=self.chain_name,
                                        block=header.number, checkpoint="0x" + self.checkpoint.hex())
            anchors = {header.number: native.time} if is_anchor(self.net, header.number) else {}
            back = self.net.interval - 1 if header.number < self.net.interval else self.net.interval
            next_end = (header.number // self.net.interval + 1) * self.net.interval - 1
            if self.anchor_time is not None and next_end - back < header.number:
                anchors[next_end - back] = self.anchor_time
            normal = self.first_normal_bits if self.first_normal_bits is not None else native.bits
            return Tip(header.number, native, native.work, (native.time,), anchors, normal)
        if header.number != tip.height + 1:
            raise VerificationError("header does not extend the accepted head", chain=self.chain_name,
                                    block=header.number, head=tip.height)
        if native.prev_hash != tip.header.hash:
            raise BrokenLinkError("header does not link to the accepted head (reorg or lying RPC)",
                                  chain=self.chain_name, block=header.number,
                                  parent_hash="0x" + native.prev_hash.hex(), accepted_hash="0x" + tip.header.hash.hex())
        try:
            bits = required_bits(self.net, tip.header, tip.height, native.time, tip.anchors.__getitem__,
                                 tip.normal_bits)
        except KeyError as exc:
            raise VerificationError("the retarget needs the time of a block below the checkpoint: configure "
                                    "light_client_options.anchor_time", chain=self.chain_name,
                                    block=header.number) from exc
        if native.bits != bits:
            raise VerificationError(f"nBits {native.bits:#010x} is not the required {bits:#010x}",
                                    chain=self.chain_name, block=header.number)
        if len(tip.times) >= MEDIAN_SPAN and native.time <= sorted(tip.times)[MEDIAN_SPAN // 2]:
            raise VerificationError("header time is not above the median of the 11 before it",
                                    chain=self.chain_name, block=header.number)
        anchors = dict(tip.anchors)
        if is_anchor(self.net, header.number):
            anchors[header.number] = native.time
            anchors = dict(sorted(anchors.items())[-2:])
        return replace(tip, height=header.number, header=native, chainwork=tip.chainwork + native.work,
                       times=(tip.times + (native.time,))[-MEDIAN_SPAN:], anchors=anchors,
                       normal_bits=next_normal_bits(self.net, native, header.number, tip.normal_bits))


__all__ = ["LitecoinLightClient", "Tip", "decode", "encode", "verified"]
