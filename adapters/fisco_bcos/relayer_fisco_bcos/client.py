"""The FISCO BCOS 3.x light client (``relayer.light_clients`` entry point ``fisco-bcos``): a pure
verifier of one group's headers from a trusted checkpoint.

Trust starts from the sealer set in force at a checkpoint (``sealers``: node ids, ``weights``, and
optionally ``checkpoint_number`` with ``checkpoint_hash``), given by the operator. Each header must
hash to its claim by the 3.x rule with the chain's hash (``crypto``: keccak256 or SM3), link to
its parent, carry only valid signatures of sealers in its ``sealerList`` and reach the weighted
quorum T − ⌊(T−1)/3⌋ of its own ``consensusWeights``.

Sealer-set changes: FISCO BCOS applies a change of the consensus node list made in block N from
block N+1 on, whose header lists (and is sealed by) the new set. A header cannot prove by itself
that its new list was voted in (that is in the parent's state, which a header-only client does not
read), so the client follows a change only when the header is sealed both by a quorum of its new
set and by a quorum (by weight) of the set in force before it: the same overlap rule as a
skipping light client. A header whose list differs from the set in force without the old set's
quorum is refused; so is a header sealed by the old set once a change was accepted. A change that
leaves no old quorum among the new set's signers (more than a third replaced at once) cannot be
followed: the operator starts again from a new trusted checkpoint. This rule is ours: FISCO BCOS
publishes no light-client rule.

PBFT blocks are final once sealed: ``lookahead`` 0, ``final_number(head) == head``. What the
contract asks and does not apply here: nothing of the EVM (no logs bloom; ``check_contents`` checks
the receipts against ``receiptsRoot``); ``VerifiedHeader.timestamp`` is in seconds (the header
carries milliseconds).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar, Self

from relayer.contract import BlockContents, CandidateHeader, SetChange, VerifiedHeader
from relayer.errors import BrokenLinkError, ConfigError, MisbehaviourError, RpcAnswerError, VerificationError
from relayer_fisco_bcos.contents import ContentsFormatError, receipt_hash
from relayer_fisco_bcos.hashing import Crypto
from relayer_fisco_bcos.header import (
    NODE_ID_BYTES,
    BlockHeader,
    HeaderFormatError,
    decode_header,
    encode_header,
    hash_input,
    header_hash,
    header_json,
    legacy_rc_hash,
    parse_header,
)
from relayer_fisco_bcos.merkle import merkle_root
from relayer_fisco_bcos.proofs import transactions_problem
from relayer_fisco_bcos.seals import SealerSet, judge_seals

KIND = "fisco-bcos"
OPTIONS = frozenset({"crypto", "sealers", "weights", "checkpoint_number", "checkpoint_hash"})


class FiscoBcosLightClient:
    """Follows one FISCO BCOS 3.x group from a trusted sealer set."""

    kind: ClassVar[str] = KIND
    WINDOW: ClassVar[int] = 256  # checked and accepted headers remembered (sets, equivocation)

    def __init__(self, chain_name: str, chain_id: int, crypto: Crypto, sealers: SealerSet,
                 head: tuple[int, bytes] | None = None) -> None:
        """``sealers``: the set in force after ``head`` (number, hash), the trusted checkpoint; None:
        the first accepted header becomes the checkpoint (checked against ``sealers``)."""
        if not sealers.node_ids:
            raise ValueError("the trusted sealer set is empty")
        self.chain_name, self.chain_id, self.crypto = chain_name, chain_id, crypto
        self._set = sealers
        self._head = head
        self._checked: OrderedDict[bytes, SealerSet] = OrderedDict()  # hash -> the set its children face
        self._accepted: OrderedDict[int, VerifiedHeader] = OrderedDict()

    # ----------------------------------------------------------------- construction

    @classmethod
    def from_options(cls, chain_name: str, chain_id: int, confirmations: int, options: Mapping[str, Any]) -> Self:
        """A client from ``chains.NAME.light_client_options``: ``crypto`` (secp256k1 | sm, default
        secp256k1), ``sealers`` (node ids, 0x-hex of 64 bytes), ``weights`` (default 1 each),
        ``checkpoint_number`` with ``checkpoint_hash`` (optional). Raises ConfigError naming the key."""
        key = f"chains.{chain_name}.light_client_options"
        unknown = sorted(set(options) - OPTIONS)
        if unknown:
            raise ConfigError(f"{key}.{unknown[0]}", f"unknown option (known: {', '.join(sorted(OPTIONS))})")
        try:
            crypto = Crypto.parse(str(options.get("crypto", "secp256k1")))
        except ValueError as exc:
            raise ConfigError(f"{key}.crypto", str(exc)) from exc
        raw = options.get("sealers")
        if not isinstance(raw, list) or not raw:
            raise ConfigError(f"{key}.sealers", "give the trusted sealer node ids (a non-empty list)")
        nodes = []
        for index, text in enumerate(raw):
            try:
                nodes.append(cls.parse_validator(str(text)))
            except ValueError as exc:
                raise ConfigError(f"{key}.sealers[{index}]", f"{text!r} {exc}") from exc
        if len(set(nodes)) != len(nodes):
            raise ConfigError(f"{key}.sealers", "lists a node id twice")
        weights = options.get("weights", [1] * len(nodes))
        if (not isinstance(weights, list) or len(weights) != len(nodes)
                or not all(isinstance(w, int) and not isinstance(w, bool) and w > 0 for w in weights)):
            raise ConfigError(f"{key}.weights", f"give {len(nodes)} positive integers, one per sealer")
        head = None
        if "checkpoint_number" in options or "checkpoint_hash" in options:
            number, hash_text = options.get("checkpoint_number"), options.get("checkpoint_hash")
            if not isinstance(number, int) or number < 0:
                raise ConfigError(f"{key}.checkpoint_number", "give the trusted block's number")
            try:
                hash_ = bytes.fromhex(str(hash_text).removeprefix("0x"))
            except ValueError:
                hash_ = b""
            if len(hash_) != 32:
                raise ConfigError(f"{key}.checkpoint_hash", "give the trusted block's 0x-hex hash (32 bytes)")
            head = (number, hash_)
        return cls(chain_name, chain_id, crypto, SealerSet(tuple(nodes), tuple(weights)), head)

    @classmethod
    def from_trusted_state(cls, chain_name: str, chain_id: int, confirmations: int,
                           state: Mapping[str, Any]) -> Self:
        """The client as ``trusted_state()`` saved it. Raises VerificationError for a malformed state
        or one of another chain."""
        try:
            if state.get("kind") != KIND or state.get("chain_id") != chain_id:
                raise VerificationError(f"trusted state is not of {KIND} chain {chain_id}", chain=chain_name)
            sealers = SealerSet(tuple(bytes.fromhex(n[2:]) for n in state["sealers"]), tuple(state["weights"]))
            head = None if state.get("head") is None else (int(state["head"]["number"]),
                                                           bytes.fromhex(state["head"]["hash"][2:]))
            return cls(chain_name, chain_id, Crypto(state["crypto"]), sealers, head)
        except (KeyError, TypeError, ValueError) as exc:
            raise VerificationError(f"malformed {KIND} trusted state: {exc}", chain=chain_name) from exc

    def trusted_state(self) -> dict[str, Any]:
        """The checkpoint as JSON: crypto, the set in force, the head (number, hash) or None."""
        head = None if self._head is None else {"number": self._head[0], "hash": "0x" + self._head[1].hex()}
        return {"kind": KIND, "chain_id": self.chain_id, "crypto": self.crypto.value, "head": head,
                **self._set.to_json()}

    # ----------------------------------------------------------------- the LightClient role

    @property
    def head_number(self) -> int | None:
        return None if self._head is None else self._head[0]

    @property
    def lookahead(self) -> int:
        return 0

    def final_number(self, head_number: int) -> int:
        return head_number

    @property
    def sealers(self) -> SealerSet:
        """The sealer set in force after the head."""
        return self._set

    def check_header(self, header: CandidateHeader) -> VerifiedHeader:
        """Check a header's hash, link-independent seals and sealer set (see the module docstring).
        Raises VerificationError with the reason; MisbehaviourError when another validly sealed
        header was accepted at its height."""
        parsed = self._parse(header.native if header.native is not None else header.encoded)
        if header.claimed_hash is not None:
            if parsed.claimed_hash not in (None, header.claimed_hash):
                raise VerificationError(f"block {parsed.number}: the source's hash is not the header's",
                                        chain=self.chain_name, block=parsed.number)
            parsed = replace(parsed, claimed_hash=header.claimed_hash)  # checked against the computed hash
        verified = self._verify(parsed, self._set_facing(parsed))
        if isinstance(header.native, Mapping):
            problem = transactions_problem(header.native, parsed.txs_root, self.crypto.hasher)
            if problem is not None:
                raise VerificationError(f"block {parsed.number}: {problem}", chain=self.chain_name,
                                        block=parsed.number)
        known = self._accepted.get(parsed.number)
        if known is not None and known.hash != verified.hash:
            raise MisbehaviourError(f"block {parsed.number}: two validly sealed headers",
                                    number=parsed.number, evidence=self._evidence(known, verified))
        return verified

    def set_changes(self, headers: Sequence[VerifiedHeader]) -> list[SetChange]:
        """The headers whose sealer set differs from their parent's (or the set in force for the first)."""
        changes = []
        previous = self._set
        for header in headers:
            now = SealerSet.of(self._native(header))
            if now != previous:
                changes.append(SetChange(header.number, len(now.node_ids)))
            previous = now
        return changes

    def accept(self, headers: Sequence[VerifiedHeader]) -> None:
        """Accept consecutive headers extending the head; the set in force follows each header.
        Raises BrokenLinkError (``fields['block']``) for a header that does not link, VerificationError
        for a gap or a set change not sealed by the set in force."""
        head, current = self._head, self._set
        for header in headers:
            if head is not None:
                if header.number != head[0] + 1:
                    raise VerificationError(f"block {header.number} does not follow the head {head[0]}",
                                            chain=self.chain_name, block=header.number)
                if header.parent_hash != head[1]:
                    raise BrokenLinkError(f"block {header.number}'s parent is not the accepted block {head[0]}",
                                          chain=self.chain_name, block=header.number)
            now = SealerSet.of(self._native(header))
            self._check_set(now, current, self._signers_of(header))
            head, current = (header.number, header.hash), now
        self._head, self._set = head, current
        for header in headers:
            self._remember(self._accepted, header.number, header)

    def check_contents(self, header: VerifiedHeader, contents: BlockContents) -> None:
        """Check the receipts (``contents.data``: a list of receipt objects, or a mapping with
        ``receipts``) against ``receiptsRoot``. Raises VerificationError."""
        data = contents.data
        receipts = data.get("receipts") if isinstance(data, Mapping) else data
        if not isinstance(receipts, list):
            raise VerificationError(f"block {header.number}: no receipts list in the contents", chain=self.chain_name)
        try:
            leaves = [receipt_hash(receipt, self.crypto.hasher) for receipt in receipts]
        except ContentsFormatError as exc:
            raise VerificationError(f"block {header.number}: {exc}", chain=self.chain_name) from exc
        if merkle_root(leaves, self.crypto.hasher) != header.commitment:
            raise VerificationError(f"block {header.number}: the receipts do not rebuild receiptsRoot",
                                    chain=self.chain_name)

    def known_header(self, encoded: bytes, hash: bytes) -> VerifiedHeader:
        """A stored header rebuilt without checking it again. Raises VerificationError when it does
        not decode."""
        try:
            parsed = decode_header(encoded)
        except HeaderFormatError as exc:
            raise VerificationError(f"stored header does not decode: {exc}", chain=self.chain_name) from exc
        return self._verified(parsed, hash)

    @property
    def proves_equivocation(self) -> bool:
        return True

    def check_equivocation(self, known: VerifiedHeader, other: CandidateHeader) -> None:
        """MisbehaviourError when ``other`` is validly sealed by the set ``known`` was checked against
        and differs from it at the same height; returns otherwise."""
        parsed = self._parse(other.native if other.native is not None else other.encoded)
        if parsed.number != known.number:
            return
        try:
            verified = self._verify(parsed, SealerSet.of(self._native(known)))
        except VerificationError:
            return
        if verified.hash != known.hash:
            raise MisbehaviourError(f"block {known.number}: two validly sealed headers",
                                    number=known.number, evidence=self._evidence(known, verified))

    # ----------------------------------------------------------------- relayer header verify

    @classmethod
    def parse_validator(cls, text: str) -> bytes:
        """A sealer node id (0x-hex of 64 bytes, the uncompressed public key without its 04 prefix).
        Raises ValueError saying what it is not."""
        body = text.strip().removeprefix("0x")
        try:
            node = bytes.fromhex(body)
        except ValueError as exc:
            raise ValueError("is not a hex node id") from exc
        if len(node) == 65 and node[0] == 4:
            node = node[1:]
        if len(node) != NODE_ID_BYTES:
            raise ValueError(f"is not a node id of {NODE_ID_BYTES} bytes ({len(node)} bytes)")
        return node

    @classmethod
    def judge_block(cls, block: Mapping[str, Any], validators: tuple[bytes, ...] | None,
                    epoch: int) -> dict[str, Any]:
        """The verdict on a block or header as ``getBlockByNumber`` / ``getBlockHeaderByNumber`` return
        it: ``number``, ``hash``, ``valid``, ``signers`` (node ids with a valid signature),
        ``validators`` (the set judged against), ``quorum``, ``signed_weight``, ``crypto`` and, when
        invalid, ``reason``. ``validators`` None: the block's own sealerList. The crypto is the one
        whose hash reproduces the block's ``hash`` (keccak256, else SM3). ``epoch`` does not apply.
        Raises RpcAnswerError when ``block`` is not a FISCO BCOS header."""
        try:
            header = parse_header(block)
        except HeaderFormatError as exc:
            raise RpcAnswerError(f"not a FISCO BCOS 3.x header: {exc}") from exc
        crypto, hash_ = _crypto_and_hash(header)
        seals = judge_seals(header, hash_, crypto)
        trusted = validators if validators is not None else tuple(sorted(header.sealer_list))
        verdict: dict[str, Any] = {
            "number": header.number, "hash": "0x" + hash_.hex(), "crypto": crypto.value,
            "signers": ["0x" + node.hex() for node in seals.signers],
            "validators": ["0x" + node.hex() for node in trusted],
            "quorum": seals.quorum, "signed_weight": seals.signed_weight,
        }
        reason = _hash_problem(header, hash_) or transactions_problem(block, header.txs_root, crypto.hasher)
        if reason is None and set(trusted) != set(header.sealer_list):
            reason = "the block's sealerList is not the trusted sealer set (--validators)"
        reason = reason or seals.problem
        verdict["valid"] = reason is None
        if reason is not None:
            verdict["reason"] = reason
        return verdict

    # ----------------------------------------------------------------- internals

    def _parse(self, native: Any) -> BlockHeader:
        if isinstance(native, BlockHeader):
            return native
        try:
            return decode_header(bytes(native)) if isinstance(native, bytes | bytearray) else parse_header(native)
        except HeaderFormatError as exc:
            raise VerificationError(f"not a FISCO BCOS 3.x header: {exc}", chain=self.chain_name) from exc

    def _set_facing(self, header: BlockHeader) -> SealerSet:
        """The set in force for ``header``: its parent's when that was checked, else the head's."""
        return self._checked.get(header.parent_hash, self._set)

    def _verify(self, header: BlockHeader, in_force: SealerSet) -> VerifiedHeader:
        hash_ = header_hash(header, self.crypto.hasher)
        problem = _hash_problem(header, hash_)
        seals = judge_seals(header, hash_, self.crypto)
        problem = problem or seals.problem
        now = SealerSet.of(header)
        if problem is None:
            try:
                self._check_set(now, in_force, seals.signers)
            except VerificationError as exc:
                problem = exc.message
        if problem is not None:
            raise VerificationError(f"block {header.number}: {problem}", chain=self.chain_name, block=header.number)
        self._remember(self._checked, hash_, now)
        return self._verified(header, hash_, seals.signers)

    def _check_set(self, now: SealerSet, in_force: SealerSet, signers: tuple[bytes, ...]) -> None:
        """Raises VerificationError when ``now`` (a header's set) differs from ``in_force`` and
        ``signers`` do not reach the quorum of ``in_force``."""
        if now == in_force:
            return
        weight = in_force.weight(signers)
        if weight < in_force.quorum:
            raise VerificationError(
                f"its sealer list differs from the set in force and the set in force signed only weight {weight} "
                f"of the {in_force.quorum} needed to follow the change", chain=self.chain_name)

    def _verified(self, header: BlockHeader, hash_: bytes, signers: tuple[bytes, ...] = ()) -> VerifiedHeader:
        native = {"header": header, "signers": signers}
        return VerifiedHeader(number=header.number, hash=hash_, parent_hash=header.parent_hash,
                              commitment=header.receipts_root, timestamp=header.timestamp // 1000,
                              encoded=encode_header(header), native=native)

    def _native(self, header: VerifiedHeader) -> BlockHeader:
        if isinstance(header.native, Mapping) and isinstance(header.native.get("header"), BlockHeader):
            found: BlockHeader = header.native["header"]
            return found
        return self._parse(header.encoded)

    def _signers_of(self, header: VerifiedHeader) -> tuple[bytes, ...]:
        if isinstance(header.native, Mapping) and "signers" in header.native and header.native["signers"]:
            return tuple(header.native["signers"])
        return judge_seals(self._native(header), header.hash, self.crypto).signers

    def _evidence(self, known: VerifiedHeader, other: VerifiedHeader) -> dict[str, object]:
        return {"kind": KIND, "chain": self.chain_name, "number": known.number,
                "headers": [header_json(self._native(known)), header_json(self._native(other))],
                "hashes": ["0x" + known.hash.hex(), "0x" + other.hash.hex()],
                "signers": [["0x" + node.hex() for node in self._signers_of(h)] for h in (known, other)]}

    @classmethod
    def _remember(cls, table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > cls.WINDOW:
            table.popitem(last=False)


def _crypto_and_hash(header: BlockHeader) -> tuple[Crypto, bytes]:
    """The crypto whose hash reproduces the header's claimed hash (without a claim, or when none
    does, the one its signature sizes suggest; 65 bytes: secp256k1) and the header's hash by it.
    The hash input is encoded once. Raises HeaderFormatError like ``header_hash``."""
    data = hash_input(header)
    if header.claimed_hash is not None:
        for crypto in Crypto:
            if crypto.hasher(data) == header.claimed_hash:
                return crypto, header.claimed_hash
    sm = bool(header.signatures) and all(len(s.signature) in (64, 128) for s in header.signatures)
    crypto = Crypto.SM if sm else Crypto.SECP256K1
    return crypto, crypto.hasher(data)


def _hash_problem(header: BlockHeader, hash_: bytes) -> str | None:
    if header.claimed_hash is None or header.claimed_hash == hash_:
        return None
    for crypto in Crypto:
        if legacy_rc_hash(header, crypto.hasher) == header.claimed_hash:
            return ("the claimed hash reproduces only with the FISCO BCOS 3.0.0-rc legacy rule "
                    "(header version 4), not the 3.x rule")
    return f"the claimed hash 0x{header.claimed_hash.hex()} is not the header's hash 0x{hash_.hex()}"


__all__ = ["KIND", "FiscoBcosLightClient"]
