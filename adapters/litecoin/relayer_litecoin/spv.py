"""The verified header chain a release is checked against: the SPV light client (:mod:`client`) following
the node's headers from a first height up to the final head (``confirmations`` below the tip), keeping
every verified header by height so that a transaction's merkle proof can be checked against the header
of its block. A reorg deeper than finality (a header that does not link) stops it: BrokenLinkError."""

from __future__ import annotations

import trio

from relayer.contract import VerifiedHeader
from relayer.errors import VerificationError
from relayer_litecoin.client import LitecoinLightClient
from relayer_litecoin.source import LitecoinSource

BATCH = 500  # headers per request


class HeaderChain:
    """Verified headers ``first..final`` of ``source``'s chain through ``client`` (a fresh client whose
    checkpoint becomes the header at ``first``, or one already following from there)."""

    def __init__(self, source: LitecoinSource, client: LitecoinLightClient, first: int) -> None:
        self.source, self.client, self.first = source, client, first
        self.headers: dict[int, VerifiedHeader] = {}
        self._syncing = trio.Lock()  # one sync at a time: tasks of a process share an operator's chain

    @property
    def final(self) -> int:
        """The last verified (final) height; ``first - 1`` before any."""
        return self.first - 1 if self.client.head_number is None else self.client.head_number

    async def sync(self) -> int:
        """Follow the node up to its final head; returns it. Raises VerificationError (BrokenLinkError: a
        reorg deeper than finality, or a node that lies), RpcError, RpcAnswerError. Cancelled: the headers
        accepted before stay accepted."""
        async with self._syncing:
            final = self.client.final_number(await self.source.head_number())
            while self.final < final:
                start = self.final + 1
                last = min(final, start + BATCH - 1)
                verified = [self.client.check_header(c) for c in await self.source.headers(start, last)]
                self.client.accept(verified)
                self.headers.update((v.number, v) for v in verified)
            return self.final

    def at(self, height: int) -> VerifiedHeader:
        """The verified header at ``height``. Raises VerificationError when it is not final or below the
        first height followed."""
        header = self.headers.get(height)
        if header is None:
            raise VerificationError("no final verified header at this height", chain=self.source.name,
                                    block=height, first=self.first, final=self.final)
        return header


__all__ = ["HeaderChain"]
