"""One header fetched from litecoind for ``relayer header verify --kind litecoin --adapter litecoin --rpc URL``.

The block is named by height (the core hands ``0x``-hex) or by tag: ``latest`` (``getbestblockhash``) and
``earliest`` (height 0); Litecoin has no ``safe``, ``finalized`` or ``pending`` block. What is returned
is what :mod:`relayer_litecoin.judging` reads: the 80 bytes of ``getblockheader HASH false`` as ``hex``,
the hash they were asked for as ``hash`` (the judge recomputes the header's own and compares) and the
height (asked for, or the node's for ``latest``)."""

from __future__ import annotations

from typing import Any

import trio

from relayer.errors import RpcAnswerError, RpcUnanswered, UsageError
from relayer_litecoin.rpc import LitecoinRpc

TAGS = {"earliest": 0}


def fetch_block(url: str, tag: str) -> dict[str, Any] | None:
    """``{"hex", "hash", "height"}`` of the block ``tag`` names at ``url`` (credentials in the URL); None
    when the node knows no such block. Blocking (runs its own trio loop: call it outside one). Raises
    UsageError for a tag Litecoin has not, RpcError (unreachable, refused credentials, an error answer),
    RpcAnswerError (an answer that is not a header)."""
    if tag != "latest" and tag not in TAGS and not tag.startswith("0x"):
        raise UsageError(f"--block {tag}: Litecoin has no such block; give a height, latest or earliest")
    return trio.run(_fetch, url, tag)


async def _fetch(url: str, tag: str) -> dict[str, Any] | None:
    rpc = LitecoinRpc((url,))
    try:
        try:
            if tag == "latest":
                height, block_hash = None, await rpc.call("getbestblockhash")
            else:
                height = TAGS[tag] if tag in TAGS else int(tag, 16)
                block_hash = await rpc.call("getblockhash", height)
            raw, verbose = await rpc.batch([("getblockheader", [block_hash, False]),
                                            ("getblockheader", [block_hash, True])])
        except RpcUnanswered:
            return None
    finally:
        await rpc.aclose()
    if not isinstance(raw, str) or not isinstance(verbose, dict):
        raise RpcAnswerError("litecoind's getblockheader answer is not a header")
    return {"hex": raw, "hash": block_hash, "height": verbose.get("height") if height is None else height}


__all__ = ["fetch_block"]
