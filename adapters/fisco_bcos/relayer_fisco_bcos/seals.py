"""Judging a FISCO BCOS 3.x header's seals: every signature of ``signatureList`` checked against the
recomputed hash and the sealer it names, and the signed weight against the PBFT quorum.

A header is sealed when every signature is valid (one invalid signature refuses the header: a node
serves only signatures it checked), no sealer signs twice and the signers' weight reaches
T − ⌊(T−1)/3⌋ of the header's own ``consensusWeights``. Whether the header's sealer list is the
trusted one is the caller's question (``SealerSet``, ``client``).
"""

from __future__ import annotations

from dataclasses import dataclass

from relayer_fisco_bcos.hashing import Crypto
from relayer_fisco_bcos.header import BlockHeader
from relayer_fisco_bcos.quorum import quorum
from relayer_fisco_bcos.signatures import SignatureError, check_signature


@dataclass(frozen=True)
class SealerSet:
    """Consensus nodes (64-byte node ids) and their weights, in ``sealerList`` order."""

    node_ids: tuple[bytes, ...]
    weights: tuple[int, ...]

    @classmethod
    def of(cls, header: BlockHeader) -> SealerSet:
        return cls(header.sealer_list, header.consensus_weights)

    @property
    def quorum(self) -> int:
        return quorum(self.weights)

    def weight(self, signers: tuple[bytes, ...]) -> int:
        """The weight of those of ``signers`` that are members (each counted once)."""
        by_node = dict(zip(self.node_ids, self.weights))
        return sum(by_node.get(node, 0) for node in set(signers))

    def to_json(self) -> dict[str, list[str] | list[int]]:
        return {"sealers": ["0x" + node.hex() for node in self.node_ids], "weights": list(self.weights)}


@dataclass(frozen=True)
class Seals:
    """What a header's signatures show: the sealers with a valid signature (in ``signatureList``
    order), their weight, the quorum, and the first problem (None when sealed)."""

    signers: tuple[bytes, ...]
    signed_weight: int
    quorum: int
    problem: str | None

    @property
    def sealed(self) -> bool:
        return self.problem is None


def judge_seals(header: BlockHeader, block_hash: bytes, crypto: Crypto) -> Seals:
    """Check every signature of ``header`` over ``block_hash`` (the recomputed hash) and the quorum
    of its own sealer set. Raises nothing: a problem is in ``Seals.problem``."""
    own = SealerSet.of(header)
    signers: list[bytes] = []
    problem: str | None = None
    if not header.signatures:
        problem = "signatureList is empty"
    for position, entry in enumerate(header.signatures):
        where = f"signatureList[{position}]"
        if not 0 <= entry.sealer_index < len(header.sealer_list):
            problem = problem or f"{where}: sealerIndex {entry.sealer_index} is outside sealerList " \
                                 f"({len(header.sealer_list)} sealers)"
            continue
        node = header.sealer_list[entry.sealer_index]
        if node in signers:
            problem = problem or f"{where}: sealer {entry.sealer_index} signed twice"
            continue
        try:
            check_signature(crypto, node, block_hash, entry.signature)
        except SignatureError as exc:
            problem = problem or f"{where} (sealer {entry.sealer_index}): invalid signature: {exc}"
            continue
        signers.append(node)
    weight = own.weight(tuple(signers))
    if problem is None and weight < own.quorum:
        problem = f"signed weight {weight} is below the quorum {own.quorum} of total weight {sum(own.weights)}"
    return Seals(tuple(signers), weight, own.quorum, problem)


__all__ = ["SealerSet", "Seals", "judge_seals"]
