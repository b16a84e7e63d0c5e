"""The ChainMaker light client (``relayer.light_clients`` entry point ``chainmaker``).

Follows one ChainMaker 2.x chain (TBFT consensus, certificate mode) from its first accepted block:
every block's hash is recomputed from its header, its proposer's signature and its TBFT quorum
certificate are checked against the configured consensus nodes and org CAs (:mod:`verify`), and
accepted blocks must link by ``pre_block_hash``. TBFT blocks are final once committed, so the
confirmations setting does not apply (``lookahead`` 0, every head final).

Options (``[chains.NAME.light_client_options]``): ``consensus_nodes`` (the node ids, ``Qm...``, of
the chain config's consensus nodes), ``trust_roots`` (PEM text of the orgs' CA certificates; an org
without one is warned about in every verdict and in the log) or ``trust_roots_file`` (a file of them:
PEM, or the JSON of the explorer's chain list with ``org_ca_pem`` and ``hash_type``), ``hash_type`` (the chain config's
``crypto.hash``: SHA256, SHA3_256, SM3; default: the ``hash_type`` the trust roots name, else SHA256).

What does not apply: consensus node changes (a chain config transaction) are not followed
(``set_changes`` is always empty: configure the new set and restart); a block's messages are
committed by ``tx_root``, so ``commitment`` is the transaction root.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from relayer.contract import BlockContents, CandidateHeader, SetChange, VerifiedHeader
from relayer.errors import (
    BrokenLinkError,
    ConfigError,
    MisbehaviourError,
    RpcAnswerError,
    UsageError,
    VerificationError,
)
from relayer_chainmaker import messages
from relayer_chainmaker.blockinfo import ChainMakerBlock, parse_block
from relayer_chainmaker.certs import TrustRoots
from relayer_chainmaker.hashing import hasher
from relayer_chainmaker.node_id import format_node_id, parse_node_id
from relayer_chainmaker.proto import ProtoError, decode, encode
from relayer_chainmaker.txroot import check_dag_hash, check_tx_root
from relayer_chainmaker.verify import Trust, Verdict, judge

KIND = "chainmaker"
OPTIONS = frozenset({"consensus_nodes", "trust_roots", "trust_roots_file", "hash_type"})


class ChainMakerLightClient:
    """Implements :class:`relayer.contract.LightClient` for one ChainMaker chain."""

    kind = KIND

    def __init__(self, chain_name: str, chain_id: int, trust: Trust, head: tuple[int, bytes] | None = None) -> None:
        self.chain_name = chain_name
        self.chain_id = chain_id
        self.trust = trust
        self._head = head

    # ----------------------------------------------------------------------- construction

    @classmethod
    def from_options(cls, chain_name: str, chain_id: int, confirmations: int, options: Mapping[str, Any]) -> Self:
        """A client for a first start. Raises ConfigError naming ``chains.NAME.light_client_options.KEY``."""
        def key(name: str) -> str:
            return f"chains.{chain_name}.light_client_options.{name}"
        for name in sorted(set(options) - OPTIONS):
            raise ConfigError(key(name), f"unknown option (known: {', '.join(sorted(OPTIONS))})")
        roots, source = options.get("trust_roots"), key("trust_roots")
        if options.get("trust_roots_file") is not None:
            if roots is not None:
                raise ConfigError(key("trust_roots_file"), "give trust_roots or trust_roots_file, not both")
            roots, source = _read_roots(options["trust_roots_file"], key("trust_roots_file")), key("trust_roots_file")
        try:
            return cls(chain_name, chain_id, make_trust(options.get("consensus_nodes"), roots,
                                                        options.get("hash_type"), source))
        except _OptionError as exc:
            raise ConfigError(source if exc.option == "trust_roots" else key(exc.option), exc.message) from exc

    @classmethod
    def from_trusted_state(cls, chain_name: str, chain_id: int, confirmations: int, state: Mapping[str, Any]) -> Self:
        """The client as ``trusted_state()`` saved it. Raises VerificationError for a malformed state or
        one of another chain or kind."""
        if state.get("kind") != KIND or state.get("chain_id") != chain_id:
            raise VerificationError("trusted state belongs to another chain or light client", chain=chain_name)
        try:
            trust = make_trust(state.get("consensus_nodes"), "".join(state.get("trust_roots") or []) or None,
                               state.get("hash_type", "SHA256"), "trusted state")
            head = None if state.get("number") is None else (int(state["number"]), bytes.fromhex(state["hash"]))
        except (_OptionError, ValueError, TypeError, KeyError) as exc:
            raise VerificationError(f"malformed trusted state: {exc}", chain=chain_name) from exc
        return cls(chain_name, chain_id, trust, head)

    def trusted_state(self) -> dict[str, Any]:
        """The head, the consensus nodes, the CA certificates and the hash type, JSON-able. Raises nothing."""
        number, hash_ = self._head if self._head else (None, None)
        return {
            "kind": KIND, "chain_id": self.chain_id, "number": number, "hash": hash_.hex() if hash_ else None,
            "consensus_nodes": sorted(format_node_id(n) for n in self.trust.nodes),
            "trust_roots": self.trust.roots.pems(), "hash_type": self.trust.hash_type,
        }

    # ----------------------------------------------------------------------- following

    @property
    def head_number(self) -> int | None:
        return None if self._head is None else self._head[0]

    @property
    def lookahead(self) -> int:
        """0: a block TBFT committed is final."""
        return 0

    def final_number(self, head_number: int) -> int:
        """Every committed block is final: ``head_number`` itself."""
        return head_number

    def check_header(self, header: CandidateHeader) -> VerifiedHeader:
        """Verify a block (``header.native``: a BlockInfo/Block mapping or a parsed block) on its own.
        Raises VerificationError with the verdict's reason."""
        block = self._block(header.native)
        verdict = judge(block, self.trust)
        if not verdict.valid:
            raise VerificationError(str(verdict.reason), chain=self.chain_name, block=block.number)
        if header.claimed_hash is not None and header.claimed_hash != verdict.hash:
            raise VerificationError("the source's claimed hash is not the block's", chain=self.chain_name,
                                    block=block.number)
        return _verified(block)

    def set_changes(self, headers: Sequence[VerifiedHeader]) -> list[SetChange]:
        """Always []: consensus node changes are not followed (configure the new set)."""
        return []

    def accept(self, headers: Sequence[VerifiedHeader]) -> None:
        """Accept consecutive headers extending the head (the first becomes the checkpoint when there is
        none). Raises BrokenLinkError when a header's ``pre_block_hash`` is not the previous block's
        hash, VerificationError for a gap; nothing is accepted then."""
        head = self._head
        for header in headers:
            if head is not None:
                if header.number != head[0] + 1:
                    raise VerificationError(f"block {header.number} does not follow {head[0]}", chain=self.chain_name)
                if header.parent_hash != head[1]:
                    raise BrokenLinkError("pre_block_hash is not the accepted block's hash", chain=self.chain_name,
                                          block=header.number, parent_hash=header.parent_hash.hex(),
                                          accepted_hash=head[1].hex())
            head = (header.number, header.hash)
        self._head = head

    def check_contents(self, header: VerifiedHeader, contents: BlockContents) -> None:
        """Check the block's transactions against ``tx_root`` (and its DAG against ``dag_hash``).
        Raises VerificationError when they do not match or the contents hold no transactions."""
        block = self._block(contents.data)
        if block.header["block_hash"] != header.hash or block.txs is None:
            raise VerificationError("the contents are not the transactions of this block", chain=self.chain_name,
                                    block=header.number)
        check_tx_root(block.header, block.txs, self.trust.digest)
        if block.dag is not None:
            check_dag_hash(block.header, block.dag, self.trust.digest)

    def known_header(self, encoded: bytes, hash: bytes) -> VerifiedHeader:
        """Rebuild a header verified before from its proto3 encoding. Raises VerificationError when
        ``encoded`` does not decode or is not the header of ``hash``."""
        try:
            header = decode(messages.BLOCK_HEADER, encoded, "header")
        except ProtoError as exc:
            raise VerificationError(f"stored header does not decode: {exc}", chain=self.chain_name) from exc
        if header["block_hash"] != hash:
            raise VerificationError("stored header is not the block of that hash", chain=self.chain_name)
        return _verified(ChainMakerBlock(header))

    @property
    def proves_equivocation(self) -> bool:
        """True: two blocks at one height, each with a valid quorum certificate, are evidence."""
        return True

    def check_equivocation(self, known: VerifiedHeader, other: CandidateHeader) -> None:
        """Raises MisbehaviourError when ``other`` is a validly certified block at ``known``'s height with
        another hash; returns when it is not valid. Raises VerificationError when it does not parse."""
        block = self._block(other.native)
        verdict = judge(block, self.trust)
        if verdict.valid and block.number == known.number and verdict.hash != known.hash:
            raise MisbehaviourError("two blocks with valid TBFT quorum certificates at one height",
                                    number=known.number, chain=self.chain_name, evidence={
                                        "known": {"hash": known.hash.hex(), "encoded": known.encoded.hex()},
                                        "other": {"hash": verdict.hash.hex(),
                                                  "encoded": encode(messages.BLOCK_HEADER, block.header).hex(),
                                                  "signers": [format_node_id(s) for s in verdict.signers]}})

    def _block(self, native: object) -> ChainMakerBlock:
        if isinstance(native, ChainMakerBlock):
            return native
        try:
            return parse_block(native, self.chain_name)
        except Exception as exc:  # noqa: BLE001 - RpcAnswerError: a malformed block is refused like a bad one
            raise VerificationError(str(exc), chain=self.chain_name) from exc

    # ----------------------------------------------------------------------- relayer header verify

    @classmethod
    def parse_validator(cls, text: str) -> bytes:
        """A consensus node id (``Qm...``) from ``--validators``. Raises ValueError saying what it is not."""
        return parse_node_id(text)

    @classmethod
    def judge_block(cls, block: Mapping[str, Any], validators: tuple[bytes, ...] | None, epoch: int, *,
                    trust_roots: bytes | None = None) -> dict[str, Any]:
        """The verdict on ``block`` (a BlockInfo, Block or BlockHeader object) as JSON against the consensus
        nodes ``validators`` and the CA certificates in ``trust_roots`` (``epoch`` does not apply); the
        hash is the one the trust roots file names (``hash_type``), SHA256 when it names none. Raises
        RpcAnswerError for what is not a ChainMaker block or when no consensus nodes are given (a
        ChainMaker block does not list them), UsageError when ``trust_roots`` are not CA certificates."""
        parsed = parse_block(block, "the block")
        if not validators:
            raise RpcAnswerError("a ChainMaker block does not list its consensus nodes: give them with --validators")
        try:
            roots = TrustRoots.empty() if trust_roots is None else TrustRoots.parse(trust_roots.decode(), "trust roots")
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"--trust-roots: {exc}") from exc
        hash_type = roots.hash_type or "SHA256"
        try:
            trust = Trust(frozenset(validators), roots, hasher(hash_type), hash_type)
        except ValueError as exc:
            raise UsageError(f"--trust-roots: {exc}") from exc
        verdict: Verdict = judge(parsed, trust)
        return verdict.to_json(trust.nodes) | {"hash_type": trust.hash_type}


# --------------------------------------------------------------------------- options


class _OptionError(Exception):
    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option
        self.message = message


def make_trust(nodes: object, roots: object, hash_type: object, roots_source: str) -> Trust:
    """A :class:`Trust` from option values: node ids (a list of ``Qm...`` texts), CA certificates (PEM
    text or None) and the hash type (None: the one the trust roots name, else SHA256). Raises
    _OptionError naming the option."""
    if not isinstance(nodes, list) or not nodes or not all(isinstance(n, str) for n in nodes):
        raise _OptionError("consensus_nodes", "give the consensus nodes' ids as a list of Qm... strings")
    try:
        ids = [parse_node_id(n) for n in nodes]
    except ValueError as exc:
        raise _OptionError("consensus_nodes", f"an entry {exc}") from exc
    if len(set(ids)) != len(ids):
        raise _OptionError("consensus_nodes", "lists a node twice")
    if roots is not None and not isinstance(roots, str):
        raise _OptionError("trust_roots", "give the orgs' CA certificates as PEM text")
    try:
        parsed = TrustRoots.empty() if roots is None else TrustRoots.parse(roots, roots_source)
    except ValueError as exc:
        raise _OptionError("trust_roots", str(exc)) from exc
    if hash_type is None:
        hash_type = parsed.hash_type or "SHA256"
    elif parsed.hash_type and str(hash_type).upper() != parsed.hash_type.upper():
        raise _OptionError("hash_type", f"is {hash_type}, but the trust roots name {parsed.hash_type}")
    try:
        digest = hasher(str(hash_type))
    except ValueError as exc:
        raise _OptionError("hash_type", str(exc)) from exc
    return Trust(frozenset(ids), parsed, digest, str(hash_type).upper())


def _read_roots(path: object, key: str) -> str:
    """The text of the trust roots file ``path``. Raises ConfigError naming ``key``."""
    if not isinstance(path, str) or not path:
        raise ConfigError(key, "give the path of a file of the orgs' CA certificates")
    try:
        return Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key, f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from exc


def _verified(block: ChainMakerBlock) -> VerifiedHeader:
    header = block.header
    return VerifiedHeader(number=header["block_height"], hash=header["block_hash"],
                          parent_hash=header["pre_block_hash"], commitment=header["tx_root"],
                          timestamp=header["block_timestamp"],
                          encoded=encode(messages.BLOCK_HEADER, header), native=block)


__all__ = ["KIND", "ChainMakerLightClient", "make_trust"]
