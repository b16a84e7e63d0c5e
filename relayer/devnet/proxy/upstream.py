"""The node behind the devnet proxy, as the sealer and the server reach it."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

from relayer.devnet.proxy.common import UpstreamError

UPSTREAM_TIMEOUT = 30.0


class Upstream:
    """The node behind the proxy: one httpx client per thread."""

    def __init__(self, url: str, timeout: float = UPSTREAM_TIMEOUT) -> None:
        self.url = url
        self.timeout = timeout
        self._local = threading.local()
        self._ids = iter(range(1, 1 << 62))
        self._id_lock = threading.Lock()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=self.timeout)
        return client

    def forward(self, body: bytes) -> tuple[int, bytes, str]:
        """POST ``body`` as is; (status, body, content type). Raises UpstreamError."""
        try:
            response = self._client().post(self.url, content=body, headers={"content-type": "application/json"})
        except httpx.HTTPError as exc:
            raise UpstreamError(f"upstream {self.url} failed: {exc or type(exc).__name__}") from exc
        return response.status_code, response.content, response.headers.get("content-type", "application/json")

    def post_json(self, payload: Any) -> Any:
        status, body, _ = self.forward(json.dumps(payload).encode())
        try:
            return json.loads(body)
        except ValueError as exc:
            raise UpstreamError(f"upstream answered HTTP {status} without JSON") from exc

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Results of several calls in order; raises UpstreamError on any error answer."""
        with self._id_lock:
            ids = [next(self._ids) for _ in calls]
        replies = self.post_json([{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                                  for i, (m, p) in zip(ids, calls)])
        if not isinstance(replies, list):
            raise UpstreamError(f"upstream answered a batch with {type(replies).__name__}")
        by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
        out = []
        for i, (method, _) in zip(ids, calls):
            reply = by_id.get(i)
            if reply is None or reply.get("error") is not None or "result" not in reply:
                raise UpstreamError(f"upstream {method} failed: {reply and reply.get('error')}")
            out.append(reply["result"])
        return out

    def call(self, method: str, *params: Any) -> Any:
        return self.batch([(method, list(params))])[0]


__all__ = ["UPSTREAM_TIMEOUT", "Upstream"]
