"""The operator's HTTP API, served inside the trio daemon by hypercorn.

    GET /health                                  200 while the process runs
    GET /ready                                   200 once every route runs, else 503
    GET /v1/status                               the data of `relayer status --json`
    GET /v1/attestations/{src}/{dst}/{number}    this operator's signature of a verified header
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from relayer.store import Store

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Api:
    """A tiny ASGI application over the daemon's live state."""

    def __init__(self, store: Store, status: Callable[[], dict[str, Any]],
                 ready: Callable[[], bool]) -> None:
        self.store = store
        self.status = status
        self.ready = ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        code, body = self.route(scope["method"], scope["path"], scope.get("query_string", b""))
        await _respond(send, code, body)

    def route(self, method: str, path: str, query: bytes) -> tuple[int, Any]:
        if method != "GET":
            return 405, {"error": "only GET is served"}
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


async def _respond(send: Send, code: int, body: Any) -> None:
    payload = json.dumps(body, default=str).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


async def serve_api(app: Api, host: str, port: int, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; ``task_status.started()`` once the socket listens."""
    config = HypercornConfig()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.errorlog = None
    config.graceful_timeout = 1.0
    await serve(app, config, task_status=task_status)  # type: ignore[arg-type]
