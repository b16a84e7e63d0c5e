"""The consortium's custody on Litecoin: a P2WSH M-of-N multisig of the operators' public keys, keys
sorted (as BIP 67 sorts them, so every operator derives the same script from the same set), built with
embit's script helpers and written as a Litecoin bech32 address; the digest an operator signs to spend
a custody output and the witness that spends it with M signatures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from embit import script
from embit.ec import PublicKey
from embit.transaction import Transaction

from relayer_litecoin.network import Network

SIGHASH_ALL = 1


@dataclass(frozen=True)
class Custody:
    """The custody of ``threshold`` of the operators' compressed public keys ``keys`` (sorted)."""

    threshold: int
    keys: tuple[bytes, ...]

    @classmethod
    def of(cls, threshold: int, keys: Sequence[bytes]) -> Custody:
        """The custody of these keys (any order). Raises ValueError for a key that is not a compressed
        secp256k1 point, a repeated key, or a threshold outside 1..len(keys) (at most 16 keys)."""
        parsed = []
        for key in keys:
            if len(key) != 33:
                raise ValueError(f"custody key {key.hex()} is not a 33-byte compressed public key")
            try:
                parsed.append(PublicKey.parse(key).sec())
            except Exception as exc:  # embit raises its own error types for a point off the curve
                raise ValueError(f"custody key {key.hex()} is not a secp256k1 point") from exc
        if len(set(parsed)) != len(parsed):
            raise ValueError("a custody key is repeated")
        if not 1 <= len(parsed) <= 16 or not 1 <= threshold <= len(parsed):
            raise ValueError(f"threshold {threshold} of {len(parsed)} keys; need 1 <= threshold <= keys <= 16")
        return cls(threshold, tuple(sorted(parsed)))

    @property
    def witness_script(self) -> bytes:
        """OP_M <key>... OP_N OP_CHECKMULTISIG over the sorted keys."""
        return bytes(script.multisig(self.threshold, [PublicKey.parse(k) for k in self.keys]).data)

    @property
    def script_pubkey(self) -> bytes:
        """OP_0 <sha256(witness script)>: what a deposit's output pays."""
        return bytes(script.p2wsh(script.Script(self.witness_script)).data)

    def sighash(self, tx: Transaction, index: int, amount: int) -> bytes:
        """The BIP 143 digest (SIGHASH_ALL) an operator signs to spend custody output ``amount`` (litoshis)
        as input ``index`` of ``tx`` (an embit Transaction). Raises ValueError for an index out of range."""
        if not 0 <= index < len(tx.vin):
            raise ValueError(f"no input {index} in a transaction of {len(tx.vin)}")
        return bytes(tx.sighash_segwit(index, script.Script(self.witness_script), amount, SIGHASH_ALL))

    def witness(self, signatures: Mapping[bytes, bytes]) -> list[bytes]:
        """The witness spending a custody output from operators' DER signatures (``public key -> signature``,
        without the sighash byte): OP_CHECKMULTISIG's extra empty item, ``threshold`` signatures each with
        SIGHASH_ALL appended, in the order of their keys in the script, then the witness script. Raises
        ValueError when fewer than ``threshold`` of the signatures are by custody keys."""
        signed = [signatures[k] + bytes([SIGHASH_ALL]) for k in self.keys if k in signatures]
        if len(signed) < self.threshold:
            raise ValueError(f"{len(signed)} custody signatures; {self.threshold} needed")
        return [b"", *signed[:self.threshold], self.witness_script]

    def address(self, net: Network) -> str:
        """The custody's bech32 address on ``net`` (rltc1..., tltc1..., ltc1...)."""
        return str(script.Script(self.script_pubkey).address(net.embit))


__all__ = ["Custody"]
