"""QBFT sealing of the devnet proxy: an anvil chain served as a Besu QBFT chain, with validator votes.

**QBFT sealing** (``--seal-qbft KEYS_FILE``, a JSON file of validator private keys): every
block the upstream returns is rewritten so the chain looks like a Besu QBFT chain sealed by
those validators: ``extraData`` = RLP([vanity, validators, no vote, round 0, seals of a
quorum]), ``miner`` = the proposer (validators in turn), ``mixHash`` = the BFT constant,
``difficulty`` 1, ``parentHash`` = the sealed hash of the parent and ``hash`` = Besu's QBFT
block hash of the rewritten header. Block hashes are translated consistently: results carry
sealed hashes (blocks, ``blockHash`` of logs, receipts and transactions, block filters), and
a sealed hash in the parameters (``eth_getBlockByHash``, ``eth_getBlockReceipts``, a
``blockHash`` filter or EIP-1898 block parameter) is translated back for the upstream.
Sealed hashes are computed in order from genesis and cached; anvil's other fields
(``receiptsRoot`` included) are untouched, so receipt proofs against a sealed header verify.
Sealing is deterministic (RFC 6979 signatures), so a restarted proxy serves the same chain
(without the validator votes below: they are kept in memory only).

**Validator votes** (sealing proxies), on the admin endpoint::

    POST /_proxy/validators  {"add": PRIVATE_KEY} | {"drop": ADDRESS}
    GET  /_proxy/validators  {"height", "validators" (in force at height), "changes", "votes"}

From the first block not yet sealed, each proposer in turn (``set[number % n]``) casts the
vote once in the block it proposes (extraData vote ``[recipient, add|drop]``); once more than
half of the set voted, the next block lists the new set (Besu's block-header validator
selection) and is sealed by a quorum of it (an added validator seals with the given key).

"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from adapters.evm import qbft
from light_clients.bft.rules import BFT_MIX_HASH
from light_clients.evm.header import Header, header_from_rpc
from relayer.devnet.proxy.common import UpstreamError, log_event
from relayer.devnet.proxy.upstream import Upstream
from relayer.errors import DevnetError

FETCH_BATCH = 200
ZERO_HASH = "0x" + "00" * 32
CONFLICT_VANITY = keccak(b"relayer devnet proxy: conflicting header")
#: Methods whose first parameter is a block hash (translated back to the upstream's hash).
BLOCK_HASH_FIRST = frozenset({
    "eth_getBlockByHash", "eth_getBlockReceipts", "eth_getBlockTransactionCountByHash",
    "eth_getTransactionByBlockHashAndIndex", "eth_getUncleCountByBlockHash",
    "eth_getUncleByBlockHashAndIndex", "eth_getRawTransactionByBlockHashAndIndex",
})
#: Methods answering a block object (rewritten as a sealed block).


@dataclass(frozen=True)
class Sealed:
    """One block as the sealed chain shows it (what a block answer needs rewritten)."""

    number: int
    upstream_hash: str
    hash: str
    parent: str
    extra: str
    miner: str

def load_validator_keys(path: Path | str) -> list[str]:
    """Validator private keys from a JSON file: a list of 0x-hex keys, ``{"keys": [...]}``, or
    ``{"validators": [{"key": ...}, ...]}`` (the devnet's ``keys/<chain>-validators.json``).
    Raises DevnetError when the file is unreadable or holds no valid key list."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DevnetError(f"cannot read validator keys from {path}: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("keys") or [v.get("key") for v in data.get("validators", []) if isinstance(v, dict)]
    if not isinstance(data, list) or not data:
        raise DevnetError(f"{path} holds no validator keys")
    keys = []
    for item in data:
        text = str(item)
        try:
            if len(bytes.fromhex(text.removeprefix("0x"))) != 32:
                raise ValueError
        except ValueError:
            raise DevnetError(f"{path}: a validator key is not 32 bytes of hex") from None
        keys.append("0x" + text.removeprefix("0x").lower())
    if len(set(keys)) != len(keys):
        raise DevnetError(f"{path} lists a validator key twice")
    return keys

def _key_hex(value: str) -> str:
    """32 bytes of hex (a private key) without 0x; raises ValueError."""
    text = str(value).removeprefix("0x")
    if len(text) != 64:
        raise ValueError("a private key is 32 bytes of hex")
    bytes.fromhex(text)
    return text.lower()

def _checksum(value: str) -> str:
    """A checksummed address; raises ValueError."""
    if not isinstance(value, str) or len(value.removeprefix("0x")) != 40:
        raise ValueError(f"{value!r} is not an address")
    return to_checksum_address(value)

class QbftSealer:
    """Turns the upstream's blocks into a QBFT chain sealed by ``keys`` (cached, in order)."""

    def __init__(self, keys: Sequence[str], upstream: Upstream) -> None:
        self.keys = sorted(keys, key=lambda k: int(qbft.address_of(k), 16))
        self.addresses = [qbft.address_of(k) for k in self.keys]  # the genesis set
        self.quorum = qbft.quorum(len(self.keys))
        self._key_of = {a: k for a, k in zip(self.addresses, self.keys)}
        self._sets: list[tuple[int, tuple[str, ...]]] = [(0, tuple(self.addresses))]  # (from block, set)
        self._votes: dict[int, qbft.Vote] = {}  # block -> the vote its proposer casts
        self.upstream = upstream
        self._chain: list[Sealed] = []
        self._by_sealed: dict[str, int] = {}
        self._by_upstream: dict[str, int] = {}
        self._conflicts: dict[str, int] = {}
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- the chain
    @property
    def height(self) -> int:
        """Highest sealed block so far (-1 before the first)."""
        return len(self._chain) - 1

    def ensure(self, number: int) -> None:
        """Seal every block up to ``number``. Raises UpstreamError."""
        if number < len(self._chain):
            return
        with self._lock:
            rollbacks = 0
            while len(self._chain) <= number:
                first = len(self._chain)
                last = min(number, first + FETCH_BATCH - 1)
                blocks = self.upstream.batch([("eth_getBlockByNumber", [hex(n), False])
                                              for n in range(first, last + 1)])
                for block in blocks:
                    if not isinstance(block, dict):
                        raise UpstreamError(f"upstream has no block {first} .. {last}")
                    if self._chain and str(block.get("parentHash")).lower() != self._chain[-1].upstream_hash:
                        rollbacks += 1  # the upstream chain changed under us (anvil_reset, evm_revert)
                        if rollbacks > 64:
                            raise UpstreamError("upstream chain keeps changing while sealing")
                        self._truncate(max(0, len(self._chain) - 8 * rollbacks))
                        break
                    self._append(block)

    def _append(self, block: Mapping[str, Any]) -> None:
        number = int(block["number"], 16)
        parent = self._chain[-1].hash if self._chain else str(block.get("parentHash", ZERO_HASH)).lower()
        header, block_hash = self.seal(block, parent)
        sealed = Sealed(number, str(block["hash"]).lower(), "0x" + block_hash.hex(), parent,
                        "0x" + header.extra_data.hex(), "0x" + header.coinbase.hex())
        self._chain.append(sealed)
        self._by_sealed[sealed.hash] = number
        self._by_upstream[sealed.upstream_hash] = number

    def _truncate(self, number: int) -> None:
        for dropped in self._chain[number:]:
            self._by_sealed.pop(dropped.hash, None)
            self._by_upstream.pop(dropped.upstream_hash, None)
        del self._chain[number:]
        log_event("proxy.reseal", from_block=number)

    # ---------------------------------------------------------------- validator votes
    def validators_at(self, number: int) -> tuple[str, ...]:
        """The validator set that seals block ``number`` (and that its extraData lists)."""
        return next(members for start, members in reversed(self._sets) if start <= number)

    def schedule(self) -> dict[str, Any]:
        """The sealed height, the set in force there, every set change and every vote."""
        height = self.height
        return {"height": height, "validators": list(self.validators_at(max(height, 0))),
                "changes": [{"from_block": start, "validators": list(members)} for start, members in self._sets],
                "votes": [{"block": n, "recipient": to_checksum_address(v.recipient), "add": v.add}
                          for n, v in sorted(self._votes.items())]}

    def propose(self, *, add_key: str | None = None, drop: str | None = None) -> dict[str, Any]:
        """Have the validators vote ``add_key``'s address in or ``drop`` out, as Besu validators that all
        called ``qbft_proposeValidatorVote`` do: from the first block not yet sealed (or the last
        scheduled change), each proposer in turn casts the vote once when it proposes, and when more
        than half of the set voted the next block lists the new set. Returns the vote blocks and the
        change. Raises ValueError (a malformed key or address, adding a member, dropping a
        non-member or the last one), UpstreamError."""
        if (add_key is None) == (drop is None):
            raise ValueError('give exactly one of "add" (a private key) or "drop" (an address)')
        with self._lock:
            self.ensure(int(self.upstream.call("eth_blockNumber"), 16))
            start = max(self.height + 1, self._sets[-1][0])
            members = self.validators_at(start)
            if add_key is not None:
                key = "0x" + _key_hex(add_key)
                subject = qbft.address_of(key)
                if subject in members:
                    raise ValueError(f"{subject} is a validator already")
                new = tuple(sorted(members + (subject,), key=lambda a: int(a, 16)))
            else:
                subject = _checksum(str(drop))
                if subject not in members or len(members) == 1:
                    raise ValueError(f"{subject} is not a validator that can be dropped")
                new = tuple(a for a in members if a != subject)
            voters: list[str] = []
            number = start
            while len(voters) <= len(members) // 2:
                proposer = members[number % len(members)]
                if proposer not in voters:
                    self._votes[number] = qbft.vote_for(subject, add_key is not None)
                    voters.append(proposer)
                number += 1
            if add_key is not None:
                self._key_of[subject] = key
            self._sets.append((number, new))
        log_event("proxy.validator_vote", recipient=subject, add=add_key is not None,
                  vote_blocks=[start, number - 1], change_at=number, validators=list(new))
        return {"recipient": subject, "add": add_key is not None, "vote_blocks": list(range(start, number)),
                "change_at": number, "validators": list(new)}

    def seal(self, block: Mapping[str, Any], parent: str, *, vanity: bytes = qbft.VANITY,
             keys: Sequence[str] | None = None) -> tuple[Header, bytes]:
        """(sealed header, Besu block hash) of an upstream block whose parent is sealed as ``parent``:
        listing the set in force at its number, carrying its scheduled vote, sealed by a quorum of
        that set (``keys``: by these keys instead)."""
        number = int(block["number"], 16)
        members = self.validators_at(number)
        n = len(members)
        base = header_from_rpc(block).replace(
            parent_hash=bytes.fromhex(parent[2:]), coinbase=bytes.fromhex(members[number % n][2:]),
            mix_hash=BFT_MIX_HASH, difficulty=1)
        own = [self._key_of[a] for a in members]
        signers = list(keys) if keys is not None else [own[(number + i) % n] for i in range(qbft.quorum(n))]
        header = qbft.sealed_header(base, signers, 0, "qbft", vote=self._votes.get(number), listed=members,
                                    vanity=vanity)
        return header, qbft.qbft_block_hash(header)

    def keys_at(self, number: int) -> list[str]:
        """Private keys of the validators that seal block ``number``."""
        return [self._key_of[a] for a in self.validators_at(number)]

    def sealed(self, number: int, upstream_hash: str | None = None) -> Sealed:
        """The sealed form of block ``number``; with ``upstream_hash`` checked to be that block
        (re-sealing once when the upstream changed). Raises UpstreamError."""
        self.ensure(number)
        entry = self._chain[number]
        if upstream_hash is None or entry.upstream_hash == upstream_hash.lower():
            return entry
        with self._lock:
            self._truncate(number)
            self.ensure(number)
            entry = self._chain[number]
        if entry.upstream_hash != upstream_hash.lower():
            raise UpstreamError(f"upstream block {number} changed while it was being sealed")
        return entry

    def upstream_hash(self, sealed_hash: str) -> str | None:
        """The upstream hash of a sealed (or conflicting) hash; catches up with the head once."""
        key = sealed_hash.lower()
        for attempt in range(2):
            number = self._by_sealed.get(key, self._conflicts.get(key))
            if number is not None and number < len(self._chain):
                return self._chain[number].upstream_hash
            if attempt == 0:
                self.ensure(int(self.upstream.call("eth_blockNumber"), 16))
        return None

    def sealed_of_upstream(self, upstream_hash: str) -> str | None:
        number = self._by_upstream.get(upstream_hash.lower())
        return None if number is None else self._chain[number].hash

    # ---------------------------------------------------------------- answers
    def rewrite_block(self, block: dict[str, Any], *, pending: bool = False) -> dict[str, Any]:
        """A block answer as the sealed chain shows it."""
        number = int(block["number"], 16)
        out = dict(block)
        if pending or block.get("hash") is None:
            if number > 0:
                out["parentHash"] = self.sealed(number - 1, str(block.get("parentHash"))).hash
            return out
        entry = self.sealed(number, str(block["hash"]))
        out.update(parentHash=entry.parent, miner=entry.miner, mixHash="0x" + BFT_MIX_HASH.hex(),
                   difficulty="0x1", extraData=entry.extra, hash=entry.hash)
        return out

    def conflicting_block(self, block: dict[str, Any]) -> dict[str, Any]:
        """A sealed block answer replaced by a second, validly sealed header at its height."""
        number = int(block["number"], 16)
        header, block_hash = self.seal(block, block["parentHash"], vanity=CONFLICT_VANITY, keys=self.keys_at(number))
        self._conflicts["0x" + block_hash.hex()] = number
        log_event("proxy.conflict", block=number, hash="0x" + block_hash.hex(), honest=block["hash"])
        return dict(block, extraData="0x" + header.extra_data.hex(), hash="0x" + block_hash.hex())

    def translate_result(self, value: Any) -> Any:
        """Every ``blockHash`` (with its ``blockNumber``) in an answer, as the sealed chain names it."""
        if isinstance(value, list):
            return [self.translate_result(v) for v in value]
        if not isinstance(value, dict):
            return value
        out = {k: self.translate_result(v) for k, v in value.items()}
        block_hash, number = out.get("blockHash"), out.get("blockNumber")
        if isinstance(block_hash, str) and isinstance(number, str) and len(block_hash) == 66:
            out["blockHash"] = self.sealed(int(number, 16), block_hash).hash
        return out

    def translate_params(self, method: str, params: list[Any]) -> list[Any]:
        """Sealed block hashes in the parameters, as the upstream names them."""
        out = list(params)
        if method in BLOCK_HASH_FIRST and out and isinstance(out[0], str) and len(out[0]) == 66:
            out[0] = self.upstream_hash(out[0]) or out[0]
        for index, item in enumerate(out):
            if isinstance(item, dict) and isinstance(item.get("blockHash"), str):
                out[index] = dict(item, blockHash=self.upstream_hash(item["blockHash"]) or item["blockHash"])
        return out


__all__ = ["QbftSealer", "Sealed", "load_validator_keys"]
