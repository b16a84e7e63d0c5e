"""A block as the source fetched it (the raw bytes of ``getblock HASH 0``), parsed into its header and
transactions with embit, and the transaction ids recomputed from the transactions' bytes."""

from __future__ import annotations

import io
from dataclasses import dataclass

from embit import compact
from embit.transaction import Transaction

from relayer_litecoin.header import HEADER_SIZE


@dataclass(frozen=True)
class Block:
    """``header``: the 80 bytes; ``txs``: the transactions as embit parsed them (in block order)."""

    header: bytes
    txs: tuple[Transaction, ...]

    @classmethod
    def parse(cls, raw: bytes) -> Block:
        """The block of ``raw``. Raises ValueError when it does not parse or has bytes left over (an
        MWEB extension block, which the relayer does not read, counts as left over)."""
        try:
            stream = io.BytesIO(raw[HEADER_SIZE:])
            count = compact.read_from(stream)
            txs = tuple(Transaction.read_from(stream) for _ in range(count))
        except Exception as exc:  # embit raises many types for malformed bytes
            raise ValueError(f"block does not parse: {exc}") from exc
        if len(raw) < HEADER_SIZE or stream.read(1):
            raise ValueError("block has bytes left over after its transactions")
        return cls(raw[:HEADER_SIZE], txs)

    def txids(self) -> list[bytes]:
        """Each transaction's id in internal order (sha256d of its serialization without witness)."""
        return [tx.hash() for tx in self.txs]  # embit's txid() is this reversed (display order)


def stripped(tx: Transaction) -> bytes:
    """The transaction's serialization without witness: what its id is the sha256d of."""
    buf = io.BytesIO()
    buf.write(tx.version.to_bytes(4, "little"))
    buf.write(compact.to_bytes(len(tx.vin)))
    for vin in tx.vin:
        buf.write(vin.serialize())
    buf.write(compact.to_bytes(len(tx.vout)))
    for vout in tx.vout:
        buf.write(vout.serialize())
    buf.write(tx.locktime.to_bytes(4, "little"))
    return buf.getvalue()


__all__ = ["Block", "stripped"]
