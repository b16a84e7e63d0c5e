"""The Litecoin family's ``relayer.chain_history`` hook (relayer.contract.ChainHistory): which blocks a
chain has, read over litecoind's JSON-RPC with a blocking httpx client, for operator commands run outside
the daemon (``relayer evidence resolve`` asks whether the history the relayer accepted is still the
chain's). The Litecoin light client keeps more than a checkpoint (the median-time window, the retarget
anchors), so it is no RewindableLightClientFactory: for a replaced final block the command asks the
operator to restore a backup of the state database."""

from __future__ import annotations

from typing import Any

import httpx

from relayer.errors import RpcAnswerError, RpcError
from relayer_litecoin.rpc import MISSING_CODES, TIMEOUT, redact


class LitecoinHistory:
    """``ChainHistory`` of one litecoind endpoint (blocking; credentials in the URL, never shown)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._http = httpx.Client(timeout=TIMEOUT)

    def _call(self, method: str, *params: Any) -> Any:
        where = redact(self.url)
        try:
            response = self._http.post(self.url, json={"jsonrpc": "1.0", "id": 0, "method": method,
                                                       "params": list(params)})
            body = response.json()
        except httpx.HTTPError as exc:
            raise RpcError(f"litecoind unreachable: {type(exc).__name__}", url=where) from exc
        except ValueError as exc:
            raise RpcError(f"litecoind answered HTTP {response.status_code} without JSON", url=where) from exc
        if not isinstance(body, dict):
            raise RpcAnswerError(f"litecoind answered {method} with something else", url=where)
        error = body.get("error")
        if error:
            code = error.get("code") if isinstance(error, dict) else None
            if code in MISSING_CODES:
                return None
            raise RpcError(f"litecoind refused {method}: {error}", url=where)
        return body.get("result")

    def head_number(self) -> int:
        """``getblockcount``. Raises RpcError (unreachable, refused), RpcAnswerError (no height)."""
        count = self._call("getblockcount")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise RpcAnswerError("getblockcount answered no height", url=redact(self.url))
        return count

    def block_hash(self, number: int) -> str | None:
        """The ``0x``-hex hash of the chain's block ``number`` (as the store writes hashes: the display
        order of ``VerifiedHeader.hash``); None when the chain has no block there. Raises like ``head_number``."""
        found = self._call("getblockhash", number)
        if found is None:
            return None
        if not isinstance(found, str) or len(found) != 64:
            raise RpcAnswerError("getblockhash answered no hash", url=redact(self.url), block=number)
        return "0x" + found.lower()

    def close(self) -> None:
        """Close the connection; never raises."""
        self._http.close()


def open_history(url: str) -> LitecoinHistory:
    """The ``relayer.chain_history`` entry point of family ``litecoin``."""
    return LitecoinHistory(url)


__all__ = ["LitecoinHistory", "open_history"]
