"""litecoind's JSON-RPC over httpx (trio): endpoints tried in order, credentials taken from the URL
(``http://USER:PASSWORD@127.0.0.1:9332/``) and never logged, errors translated into the relayer's
(RpcError: unreachable or an error answer, retried; RpcUnanswered: the node lacks the block asked for;
RpcAnswerError: an answer that is not JSON-RPC)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from relayer.errors import RpcAnswerError, RpcError, RpcUnanswered

#: litecoind's error codes for "no such block/height/transaction": a node that lags behind, not a fault
MISSING_CODES = frozenset({-5, -8})
TIMEOUT = 10.0


def redact(url: str) -> str:
    """``url`` without its credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass
class Endpoint:
    """One node's URL and its health, for ``relayer status``."""

    url: str
    requests: int = 0
    errors: int = 0
    last_error: str | None = None

    def health(self) -> dict[str, Any]:
        return {"url": redact(self.url), "state": "failing" if self.last_error else "ok",
                "requests": self.requests, "errors": self.errors}


@dataclass
class LitecoinRpc:
    """A JSON-RPC client of one chain's nodes. ``transport``: an httpx transport (tests pass one that
    alters answers to play a lying node); None: the network."""

    urls: tuple[str, ...]
    transport: httpx.AsyncBaseTransport | None = None
    timeout: float = TIMEOUT
    endpoints: list[Endpoint] = field(init=False)
    _client: httpx.AsyncClient | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("no RPC endpoint")
        self.endpoints = [Endpoint(u) for u in self.urls]

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(transport=self.transport, timeout=self.timeout)
        return self._client

    async def aclose(self) -> None:
        """Close the connections. Raises nothing."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    async def call(self, method: str, *params: Any) -> Any:
        """The result of ``method(params)``. Raises RpcUnanswered (no such block), RpcError (every endpoint
        failed or answered an error), RpcAnswerError (an answer that is not JSON-RPC). Cancelled: no effect."""
        (result,) = await self.batch([(method, list(params))])
        return result

    async def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """The results of several calls in one request, in order. Raises like ``call``."""
        if not calls:
            return []
        payload = [{"jsonrpc": "1.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        failure: RpcError | None = None
        for endpoint in self.endpoints:
            try:
                return self._results(calls, await self._post(endpoint, payload))
            except RpcUnanswered:
                raise
            except RpcError as exc:
                endpoint.errors += 1
                endpoint.last_error = str(exc)
                failure = exc
        assert failure is not None
        raise failure

    async def _post(self, endpoint: Endpoint, payload: list[dict[str, Any]]) -> Any:
        endpoint.requests += 1
        where = redact(endpoint.url)
        try:
            response = await self._http().post(endpoint.url, json=payload)
        except httpx.HTTPError as exc:
            raise RpcError(f"litecoind unreachable: {type(exc).__name__}", url=where) from exc
        if response.status_code in (401, 403):
            raise RpcError("litecoind refused the credentials", url=where, status=response.status_code)
        try:
            body = response.json()
        except ValueError as exc:
            raise RpcError(f"litecoind answered HTTP {response.status_code} without JSON", url=where) from exc
        endpoint.last_error = None
        return body

    @staticmethod
    def _results(calls: list[tuple[str, list[Any]]], body: Any) -> list[Any]:
        if not isinstance(body, list) or len(body) != len(calls):
            raise RpcAnswerError("litecoind answered a batch with something else")
        by_id = {r.get("id"): r for r in body if isinstance(r, dict)}
        results = []
        for i, (method, _) in enumerate(calls):
            reply = by_id.get(i)
            if reply is None:
                raise RpcAnswerError(f"litecoind's batch answer lacks {method}")
            error = reply.get("error")
            if error:
                code = error.get("code") if isinstance(error, dict) else None
                message = error.get("message") if isinstance(error, dict) else str(error)
                if code in MISSING_CODES:
                    raise RpcUnanswered(f"litecoind has no answer to {method}: {message}", code=code)
                raise RpcError(f"litecoind refused {method}: {message}", code=code)
            if "result" not in reply:
                raise RpcAnswerError(f"litecoind's answer to {method} has no result")
            results.append(reply["result"])
        return results


__all__ = ["Endpoint", "LitecoinRpc", "redact"]
