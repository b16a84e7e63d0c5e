"""Evidence of misbehaviour: two validly sealed headers at one height.

For QBFT and IBFT 2.0 (instant finality) this proves that at least a third of the
validators signed two blocks at one height. For Clique it is a signer sealing two blocks at
one height (an equivocation). The daemon halts the chain and stores ``to_json()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from light_clients.bft.common import hex0x
from light_clients.evm.header import Header
from relayer.errors import MisbehaviourError as NeutralMisbehaviourError


@dataclass(frozen=True)
class Misbehaviour:
    """Two headers at ``number``, each validly sealed by the set in force there."""

    kind: str
    chain: str
    number: int
    header_a: Header
    header_b: Header
    hash_a: bytes
    hash_b: bytes
    signers_a: tuple[bytes, ...]
    signers_b: tuple[bytes, ...]
    validators: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        """The evidence as JSON: both headers as RLP (seals included), hashes and signers."""
        return {
            "kind": self.kind,
            "chain": self.chain,
            "number": self.number,
            "validators": [hex0x(v) for v in self.validators],
            "headers": [
                {"hash": hex0x(h), "rlp": hex0x(header.rlp), "signers": [hex0x(s) for s in signers]}
                for h, header, signers in (
                    (self.hash_a, self.header_a, self.signers_a),
                    (self.hash_b, self.header_b, self.signers_b),
                )
            ],
        }


class MisbehaviourError(NeutralMisbehaviourError):
    """Two validly sealed headers at one height; ``evidence`` carries both headers (its JSON is
    ``evidence_json()``, what the core stores)."""

    def __init__(self, evidence: Misbehaviour) -> None:
        super().__init__(
            "misbehaviour: two validly sealed headers at one height",
            number=evidence.number,
            evidence=evidence.to_json(),
            chain=evidence.chain,
            block=evidence.number,
            hash_a=hex0x(evidence.hash_a),
            hash_b=hex0x(evidence.hash_b),
        )
        self.evidence = evidence
        self.header_a = evidence.header_a
        self.header_b = evidence.header_b


__all__ = ["Misbehaviour", "MisbehaviourError"]
