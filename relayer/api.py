"""The operator's HTTP API, served inside the trio daemon by hypercorn.

    GET /health                                  200 while the process runs
    GET /ready                                   200 once every route runs, else 503
    GET /v1/status                               the data of `relayer status --json`
    GET /metrics                                 Prometheus exposition
    GET /v1/attestations/{src}/{dst}/{number}    this operator's signature of a verified header
    POST /v1/log-level  {"level": "debug"}       change the log level without a restart
    POST /v1/cosign/{src}/{dst}                  a peer operator's co-sign request (relayer.cosign)
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from relayer.cosign import CoSignService
from relayer.logging import set_level
from relayer.metrics import Metrics
from relayer.store import Store

log = structlog.get_logger("relayer.api")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
COSIGN_LIMIT = 1 << 20  # bytes of a co-sign request (proofs and the family's request)


class Api:
    """A tiny ASGI application over the daemon's live state."""

    def __init__(self, store: Store, status: Callable[[], dict[str, Any]],
                 ready: Callable[[], bool], metrics: Metrics, cosign: CoSignService | None = None) -> None:
        self.cosign = cosign
        self.store = store
        self.status = status
        self.ready = ready
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/metrics":
            await _respond_raw(send, 200, self.metrics.exposition(), b"text/plain; version=0.0.4; charset=utf-8")
            return
        try:
            if scope["method"] == "POST" and scope["path"].startswith("/v1/cosign/"):
                code, body = await self._cosign(scope["path"], await _read_body(receive, COSIGN_LIMIT))
            elif scope["method"] == "POST":
                code, body = self.post(scope["path"], await _read_body(receive))
            else:
                code, body = self.route(scope["method"], scope["path"], scope.get("query_string", b""))
        except Exception as exc:  # a bug in one handler must not take the API down
            log.exception("api.error", path=scope["path"])
            code, body = 500, {"error": f"internal error: {type(exc).__name__}"}
        await _respond(send, code, body)

    def post(self, path: str, body: bytes) -> tuple[int, Any]:
        if path.rstrip("/") != "/v1/log-level":
            return 405, {"error": f"POST is not served on {path}"}
        try:
            level = json.loads(body or b"{}")["level"]
            set_level(str(level))
        except (ValueError, KeyError, TypeError) as exc:
            return 400, {"error": f"expected {{\"level\": \"debug|info|warning|error\"}}: {exc}"}
        return 200, {"level": str(level).lower()}

    async def _cosign(self, path: str, body: bytes) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if self.cosign is None:
            return 404, {"error": "this operator co-signs nothing"}
        try:
            src, dst = (int(p) for p in parts[2:])
            request = json.loads(body)
        except ValueError:
            return 400, {"error": "expected POST /v1/cosign/<src chain id>/<dst chain id> with a JSON body"}
        return await self.cosign.handle(src, dst, request)

    def route(self, method: str, path: str, query: bytes) -> tuple[int, Any]:
        if method != "GET":
            return 405, {"error": "only GET and POST /v1/log-level are served"}
        parts = [p for p in path.split("/") if p]
        if parts == ["health"]:
            return 200, {"status": "alive"}
        if parts == ["ready"]:
            ok = self.ready()
            return (200 if ok else 503), {"ready": ok}
        if parts == ["v1", "status"]:
            return 200, self.status()
        if len(parts) == 5 and parts[:2] == ["v1", "attestations"]:
            return self._attestation(parts[2:], query)
        return 404, {"error": f"no such endpoint: {path}"}

    def _attestation(self, parts: list[str], query: bytes) -> tuple[int, Any]:
        try:
            src, dst, number = (int(p) for p in parts)
            epoch = int(dict(kv.split("=", 1) for kv in query.decode().split("&") if "=" in kv).get("epoch", 0))
        except ValueError:
            return 400, {"error": "expected /v1/attestations/<src chain id>/<dst chain id>/<number>?epoch=N"}
        record = self.store.attestation(src, dst, number, epoch)
        if record is None:
            return 404, {"error": "not attested (yet)"}
        return 200, record


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_body(receive: Receive, limit: int = 4096) -> bytes:
    body = b""
    while True:
        message = await receive()
        chunk: bytes = message.get("body", b"")
        body += chunk
        if not message.get("more_body") or len(body) > limit:
            return body[:limit]


async def _respond(send: Send, code: int, body: Any) -> None:
    await _respond_raw(send, code, json.dumps(body, default=str).encode(), b"application/json")


async def _respond_raw(send: Send, code: int, payload: bytes, content_type: bytes) -> None:
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


async def serve_api(app: Api, host: str, port: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; ``task_status.started()`` once the socket listens."""
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1.0
    await serve(app, config, task_status=task_status)  # type: ignore[arg-type]
