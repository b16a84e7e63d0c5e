"""The PBFT quorum of FISCO BCOS 3.x (``bcos-pbft`` ``PBFTConfig.cpp``): with T the sum of the
consensus weights and f = (T - 1) // 3 the weight that may be faulty, a block needs signatures
of at least T - f weight."""

from __future__ import annotations

from collections.abc import Sequence


def max_faulty(total_weight: int) -> int:
    """f = ⌊(T − 1)/3⌋ for total weight T (0 for T = 0)."""
    return max(total_weight - 1, 0) // 3


def quorum(weights: Sequence[int]) -> int:
    """The signed weight a block needs: T − ⌊(T − 1)/3⌋ with T = sum(weights)."""
    total = sum(weights)
    return total - max_faulty(total)


__all__ = ["max_faulty", "quorum"]
