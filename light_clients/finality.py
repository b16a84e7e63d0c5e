"""Finality by confirmations, shared by every light client whose chain has no stronger rule
to offer off-chain (and by BFT chains, whose blocks are final when sealed: confirmations 0)."""

from __future__ import annotations


class ConfirmationsFinality:
    """``final_number``/``is_final`` for a client with a ``confirmations`` attribute."""

    confirmations: int

    def final_number(self, head_number: int) -> int:
        """Highest final block for a chain head: ``confirmations`` deep (negative: nothing final yet)."""
        return head_number - self.confirmations

    def is_final(self, number: int, head: int) -> bool:
        """Whether block ``number`` is final when the chain head is ``head``."""
        return number <= self.final_number(head)
