"""The fee policy of releases (``[chains.NAME.litecoin.release]``) and who submits a release."""

from __future__ import annotations

from dataclasses import dataclass

from relayer_litecoin.custody import Custody
from relayer_litecoin.marker import Marker


@dataclass(frozen=True)
class ReleasePolicy:
    """``fee_rate``: litoshis per virtual byte of a new release; ``max_fee_rate``: the highest rate a
    replacement may reach (the fee a recipient can be charged at most is this rate times the size);
    ``bump_after``: blocks a release may wait unconfirmed before it is replaced; ``bump_factor``: percent of
    the old rate a replacement pays (at least one litoshi per vbyte more)."""

    fee_rate: int = 10
    max_fee_rate: int = 100
    bump_after: int = 3
    bump_factor: int = 150

    def next_rate(self, current: int) -> int | None:
        """The rate of the next replacement; None when ``max_fee_rate`` is reached."""
        if current >= self.max_fee_rate:
            return None
        return min(self.max_fee_rate, max(current + 1, current * self.bump_factor // 100))


def submitters(custody: Custody, marker: Marker) -> list[bytes]:
    """The operators' public keys in the order they submit the spend of ``marker``: the first is the
    designated submitter (the custody's keys rotated by the marker's id modulo their number); the next take
    over when it is down."""
    start = int.from_bytes(marker.id, "big") % len(custody.keys)
    return list(custody.keys[start:] + custody.keys[:start])


__all__ = ["ReleasePolicy", "submitters"]
