"""sha256d merkle trees of transaction ids, as Litecoin blocks commit to them (Bitcoin's: an odd level
repeats its last hash). Hashes here are in internal byte order (as hashed), txids of the RPC reversed."""

from __future__ import annotations

from relayer_litecoin.header import sha256d


def merkle_root(leaves: list[bytes]) -> bytes:
    """The root over ``leaves`` (internal order). Raises ValueError for no leaf. The duplicated-last-pair
    weakness (CVE-2012-2459) is refused: a level whose last two distinct positions hold equal hashes."""
    if not leaves:
        raise ValueError("a block has at least one transaction")
    level = list(leaves)
    while len(level) > 1:
        for i in range(0, len(level) - 1, 2):
            if level[i] == level[i + 1] and i + 2 == len(level):
                raise ValueError("duplicate transaction hashes at the end of a merkle level (CVE-2012-2459)")
        if len(level) % 2:
            level.append(level[-1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def merkle_branch(leaves: list[bytes], index: int) -> list[bytes]:
    """The sibling hashes from leaf ``index`` up to the root. Raises IndexError for an index out of range."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"no leaf {index} among {len(leaves)}")
    branch, level = [], list(leaves)
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        branch.append(level[index ^ 1])
        level = [sha256d(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
        index //= 2
    return branch


def root_from_branch(leaf: bytes, branch: list[bytes], index: int) -> bytes:
    """The root a ``branch`` of leaf ``leaf`` at ``index`` leads to. A leaf at an index with bits above
    the branch's depth is refused (ValueError), so one branch proves one position only."""
    if index >> len(branch):
        raise ValueError(f"index {index} is deeper than a branch of {len(branch)} hashes")
    node = leaf
    for sibling in branch:
        node = sha256d(sibling + node) if index & 1 else sha256d(node + sibling)
        index >>= 1
    return node


__all__ = ["merkle_branch", "merkle_root", "root_from_branch"]
