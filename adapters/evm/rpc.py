"""Async JSON-RPC over HTTP (httpx) with batching and failover between endpoints.

Transport failures, HTTP errors and JSON-RPC error objects become ``RpcError``
(retryable); a revert answer from ``eth_call``/``eth_estimateGas`` becomes
``ContractRevert`` carrying the raw revert data. Nothing above this module sees httpx.

Failover: a request goes to the endpoints in configured order, except that an endpoint whose
last request failed rests (exponential backoff: ``RETRY_BASE`` s doubling per consecutive
failure, at most ``RETRY_MAX`` s) and is tried after the others until its rest is over; then
one request probes it again, with a short timeout (``PROBE_TIMEOUT``) while another endpoint
can still take over. A success makes it healthy again (and first again, when configured
first). So a hanging endpoint costs one full timeout, then at most one probe timeout per
rest; and an endpoint that recovered is used again instead of staying at the back for ever.

A method an endpoint answers with "method not found/not supported" is remembered for that
endpoint (``EndpointHealth.unsupported``) and never sent to it again; ``call`` then tries the
other endpoints and raises ``MethodNotSupported`` when none serves it (see ``supports``).

A caller may pass ``check``, which parses the result: an answer it refuses (``RpcAnswerError``:
malformed; ``RpcUnanswered``: a null block, the endpoint lags) counts as that endpoint's failure
(it rests) and the next endpoint is asked. Only when every endpoint answered and every answer
was malformed is the ``RpcAnswerError`` raised (a lie they all agree on); otherwise an
``RpcError`` (retryable). JSON-RPC error objects are returned to the caller as before.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog
import trio

from relayer.errors import ContractRevert, RpcAnswerError, RpcError, RpcUnanswered
from relayer.metrics import Metrics

log = structlog.get_logger("relayer.rpc")

REVERT_CODES = {3, -32000, -32003, -32015}
CONNECT_TIMEOUT = 3.0  # s: a TCP connect never legitimately takes longer
PROBE_TIMEOUT = 2.0  # s: a request to a failing endpoint while another can take over
RETRY_BASE = 2.0  # s: rest after the first failure of an endpoint, doubling per consecutive failure
RETRY_MAX = 30.0


Check = Callable[[Any], Any]  # parses a result; raises RpcAnswerError or RpcUnanswered to refuse it


@dataclass
class EndpointHealth:
    """Per-endpoint counters shown in status and metrics."""

    url: str
    requests: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    last_error: str | None = None
    latency_total: float = 0.0
    retry_at: float = 0.0  # trio clock: tried first again (probed) from then on
    unsupported: set[str] = field(default_factory=set)  # methods it answered "method not found" to

    def resting(self, now: float) -> bool:
        return self.consecutive_errors > 0 and now < self.retry_at

    @property
    def state(self) -> str:
        if self.consecutive_errors == 0:
            return "healthy"
        return "failing" if self.consecutive_errors >= 3 else "degraded"


@dataclass
class RpcClient:
    """JSON-RPC client for one chain; tries its endpoints in order, the healthiest first."""

    chain: str
    urls: tuple[str, ...]
    timeout: float = 10.0
    metrics: Metrics | None = None
    health: dict[str, EndpointHealth] = field(init=False)
    _ids: itertools.count[int] = field(init=False, default_factory=lambda: itertools.count(1))
    _client: httpx.AsyncClient | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.health = {url: EndpointHealth(url) for url in self.urls}

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=httpx.Timeout(
                self.timeout, connect=min(self.timeout, CONNECT_TIMEOUT)))
        return self._client

    async def call(self, method: str, *params: Any, check: Check | None = None) -> Any:
        """One call; ``check`` parses the result (see the module docstring). Raises RpcError
        (retryable), RpcAnswerError (every endpoint answered malformed), MethodNotSupported or
        ContractRevert; cancellation aborts the request."""
        def parse(reply: Any) -> Any:
            result = self._result(method, reply)
            return result if check is None else check(result)

        return await self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                                 "params": list(params)}, parse, method)

    def supports(self, method: str) -> bool:
        """False once every endpoint has answered ``method`` with "method not found"."""
        return any(method not in health.unsupported for health in self.health.values())

    async def batch(self, calls: list[tuple[str, list[Any]]], check: Check | None = None) -> list[Any]:
        """Several calls in one HTTP request; results in call order (``check`` gets the list).
        Raises like ``call``."""
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        payload = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in zip(ids, calls)]

        def parse(replies: Any) -> Any:
            if not isinstance(replies, list):
                raise RpcAnswerError("batch answer is not a list", chain=self.chain)
            by_id = {r.get("id"): r for r in replies if isinstance(r, dict)}
            missing = [i for i in ids if i not in by_id]
            if missing:
                raise RpcUnanswered(f"batch answer lacks {len(missing)} of {len(ids)} replies", chain=self.chain)
            results = [self._result(m, by_id[i]) for i, (m, _) in zip(ids, calls)]
            return results if check is None else check(results)

        result: list[Any] = await self._post(payload, parse)
        return result

    def _ordered_urls(self) -> list[str]:
        """Endpoints not resting in configured order, then the resting ones, fewest consecutive errors first."""
        now = trio.current_time()

        def key(url: str) -> tuple[int, int]:
            health = self.health[url]
            return (1, health.consecutive_errors) if health.resting(now) else (0, 0)

        return sorted(self.urls, key=key)

    async def _post(self, payload: Any, parse: Callable[[Any], Any], method: str | None = None) -> Any:
        """``parse`` of the answer of the first endpoint that answers acceptably; with ``method`` (a
        single call), skip endpoints known not to serve it and learn which do not. Raises RpcError,
        MethodNotSupported, RpcAnswerError (every endpoint answered malformed)."""
        failures: list[RpcError | RpcAnswerError] = []
        urls = [url for url in self._ordered_urls() if method not in self.health[url].unsupported]
        for position, url in enumerate(urls):
            probe = self.health[url].consecutive_errors > 0 and position < len(urls) - 1
            try:
                body = await self._post_one(url, payload, min(self.timeout, PROBE_TIMEOUT) if probe else None)
            except RpcError as exc:
                failures.append(exc)
                continue
            if method is not None and _method_missing(body):
                self.health[url].unsupported.add(method)
                log.info("rpc.method_unsupported", chain=self.chain, endpoint=redact_url(url), method=method)
                failures.append(MethodNotSupported(f"{method}: not served by the endpoint", chain=self.chain,
                                                   endpoint=redact_url(url)))
                continue
            try:
                return parse(body)
            except (RpcAnswerError, RpcUnanswered) as exc:
                self._refused(url, exc)
                failures.append(exc)
        if not failures:
            raise MethodNotSupported(f"{method}: served by none of the endpoints", chain=self.chain)
        if all(isinstance(f, RpcAnswerError) for f in failures):
            raise failures[-1]  # every endpoint answered, and every answer was malformed
        raise next(f for f in reversed(failures) if isinstance(f, RpcError))

    def _refused(self, url: str, exc: RpcAnswerError | RpcUnanswered) -> None:
        """An answer ``check`` refused: the endpoint rests as after a transport failure."""
        health = self.health[url]
        health.errors += 1
        health.consecutive_errors += 1
        health.last_error = type(exc).__name__
        health.retry_at = trio.current_time() + min(RETRY_BASE * 2 ** (health.consecutive_errors - 1), RETRY_MAX)
        if self.metrics is not None:  # the request itself was counted when it was answered
            self.metrics.rpc_up.labels(self.chain, redact_url(url)).set(0)
            self.metrics.rpc_errors.labels(self.chain, redact_url(url)).inc()
        log.warning("rpc.bad_answer", chain=self.chain, endpoint=redact_url(url), error=str(exc),
                    lagging=isinstance(exc, RpcUnanswered))

    async def _post_one(self, url: str, payload: Any, timeout: float | None = None) -> Any:
        health = self.health[url]
        health.requests += 1
        started = trio.current_time()
        try:
            if timeout is None:
                response = await self._http().post(url, json=payload)
            else:
                response = await self._http().post(url, json=payload, timeout=httpx.Timeout(
                    timeout, connect=min(timeout, CONNECT_TIMEOUT)))
            response.raise_for_status()
            body = response.json()
            _raise_if_rate_limited(body)
        except (httpx.HTTPError, ValueError) as exc:
            health.errors += 1
            health.consecutive_errors += 1
            health.last_error = type(exc).__name__
            health.retry_at = trio.current_time() + min(RETRY_BASE * 2 ** (health.consecutive_errors - 1), RETRY_MAX)
            self._observe(url, ok=False, seconds=trio.current_time() - started)
            log.warning("rpc.failed", chain=self.chain, endpoint=redact_url(url), error=str(exc) or type(exc).__name__)
            raise RpcError(f"RPC request failed: {exc or type(exc).__name__}", chain=self.chain,
                           endpoint=redact_url(url)) from exc
        health.consecutive_errors = 0
        health.latency_total += trio.current_time() - started
        self._observe(url, ok=True, seconds=trio.current_time() - started)
        return body

    def _observe(self, url: str, *, ok: bool, seconds: float) -> None:
        if self.metrics is None:
            return
        labels = (self.chain, redact_url(url))
        self.metrics.rpc_requests.labels(*labels).inc()
        self.metrics.rpc_latency.labels(*labels).observe(seconds)
        self.metrics.rpc_up.labels(*labels).set(1 if ok else 0)
        if not ok:
            self.metrics.rpc_errors.labels(*labels).inc()

    def _result(self, method: str, reply: Any) -> Any:
        if not isinstance(reply, dict):
            raise RpcAnswerError(f"{method}: answer is not a JSON object", chain=self.chain)
        error = reply.get("error")
        if error is None:
            if "result" not in reply:
                raise RpcAnswerError(f"{method}: answer has neither result nor error", chain=self.chain)
            return reply["result"]
        message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
        data = error.get("data") if isinstance(error, dict) else None
        if method in ("eth_call", "eth_estimateGas") and _is_revert(error):
            raise ContractRevert(_revert_hex(data) or message, chain=self.chain, method=method)
        raise RpcError(f"{method}: {message}", chain=self.chain, method=method)


def redact_url(url: str) -> str:
    """scheme://host[:port] only: RPC URLs often carry provider API keys in the path or query."""
    parsed = httpx.URL(url)
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{parsed.host}{port}"


RATE_LIMIT_CODES = {-32005, 429}
METHOD_MISSING_CODES = {-32601, -32004}  # JSON-RPC "method not found"; EIP-1474 "method not supported"


class MethodNotSupported(RpcError):
    """No endpoint serves the method (each answered "method not found" once, and is remembered)."""


def _method_missing(body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    return isinstance(error, dict) and error.get("code") in METHOD_MISSING_CODES


class RateLimited(ValueError):
    """A JSON-RPC error object saying the endpoint is rate-limiting us (HTTP 200 all the same)."""


def _raise_if_rate_limited(body: Any) -> None:
    """Treat a rate-limit answer like an HTTP 429, so the endpoint rests and another one answers."""
    for reply in body if isinstance(body, list) else [body]:
        error = reply.get("error") if isinstance(reply, dict) else None
        if isinstance(error, dict) and (error.get("code") in RATE_LIMIT_CODES
                                        or "rate limit" in str(error.get("message", "")).lower()):
            raise RateLimited(f"rate limited: {error.get('message', error.get('code'))}")


def _is_revert(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    message = str(error.get("message", "")).lower()
    return "revert" in message or (error.get("code") in REVERT_CODES and error.get("data") is not None)


def _revert_hex(data: Any) -> str | None:
    if isinstance(data, str) and data.startswith("0x"):
        return data
    if isinstance(data, dict) and isinstance(data.get("data"), str):
        return str(data["data"])
    return None


def hex_int(value: Any, what: str = "quantity") -> int:
    """Parse a JSON-RPC quantity; raises RpcAnswerError naming ``what`` when malformed."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise RpcAnswerError(f"{what} is not a hex quantity: {value!r}")
    try:
        return int(value, 16)
    except ValueError as exc:
        raise RpcAnswerError(f"{what} is not a hex quantity: {value!r}") from exc
