"""The devnet proxy's server: JSON-RPC over HTTP forwarded upstream, faults applied, answers sealed and lied.

    python -m relayer.devnet.proxy --upstream URL --port P [--admin-port A] [--seal-qbft KEYS_FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from relayer.devnet.proxy.common import ADMIN_PATH, HEALTH_PATH, VALIDATORS_PATH, UpstreamError, log_event
from relayer.devnet.proxy.faults import GARBAGE, REJECTION, TRANSPORT_FAULTS, Faults, revert_reply
from relayer.devnet.proxy.lies import LIES
from relayer.devnet.proxy.sealing import QbftSealer, load_validator_keys
from relayer.devnet.proxy.upstream import Upstream
from relayer.errors import DevnetError

MAX_BODY = 32 * 1024 * 1024
BLOCK_RESULTS = frozenset({"eth_getBlockByNumber", "eth_getBlockByHash"})


@dataclass
class Proxy:
    """Answers JSON-RPC requests: forward, seal, lie."""

    upstream: Upstream
    sealer: QbftSealer | None = None
    faults: Faults = field(init=False)

    def __post_init__(self) -> None:
        self.faults = Faults(sealing=self.sealer is not None, lies=LIES)

    def answer(self, body: bytes, request: Any) -> tuple[int, bytes, str]:
        """(status, body, content type) for one HTTP request body. Raises UpstreamError."""
        if self.sealer is None and self.faults.plan.mode not in LIES:
            return self.upstream.forward(body)
        if isinstance(request, dict):
            calls, single = [request], True
        elif isinstance(request, list) and request:
            calls, single = request, False
        else:
            return self.upstream.forward(body)
        sent = [self._outgoing(c) for c in calls]
        replies = self.upstream.post_json(sent[0] if single else sent)
        if single:
            replies = [replies]
        if not isinstance(replies, list) or not all(isinstance(r, dict) for r in replies):
            return 200, json.dumps(replies[0] if single else replies).encode(), "application/json"
        by_id = {json.dumps(c.get("id")): c for c in calls if isinstance(c, dict)}
        out = []
        for position, reply in enumerate(replies):
            call = by_id.get(json.dumps(reply.get("id")))
            if call is None and position < len(calls) and isinstance(calls[position], dict):
                call = calls[position]
            out.append(self._incoming(call, reply))
        return 200, json.dumps(out[0] if single else out).encode(), "application/json"

    def _outgoing(self, call: Any) -> Any:
        if not isinstance(call, dict) or self.sealer is None:
            return call
        params = call.get("params")
        if not isinstance(params, list):
            return call
        try:
            return dict(call, params=self.sealer.translate_params(str(call.get("method")), params))
        except UpstreamError:
            return call

    def _incoming(self, call: dict[str, Any] | None, reply: dict[str, Any]) -> dict[str, Any]:
        if call is None or reply.get("error") is not None or reply.get("result") is None:
            return reply
        method = str(call.get("method"))
        params = call.get("params") if isinstance(call.get("params"), list) else []
        try:
            result = self._rewrite(method, params, reply["result"])
        except (UpstreamError, KeyError, ValueError, TypeError) as exc:
            log_event("proxy.rewrite_failed", method=method, error=str(exc))
            return {"jsonrpc": "2.0", "id": reply.get("id"),
                    "error": {"code": -32603, "message": f"proxy could not seal the answer: {exc}"}}
        return dict(reply, result=result)

    def _rewrite(self, method: str, params: list[Any], result: Any) -> Any:
        sealer = self.sealer
        if sealer is not None:
            if method in BLOCK_RESULTS and isinstance(result, dict):
                result = sealer.rewrite_block(result, pending=bool(params) and params[0] == "pending")
                asked = params[0] if params and isinstance(params[0], str) else ""
                if method == "eth_getBlockByHash" and sealer._conflicts.get(asked.lower()) is not None:
                    result = sealer.conflicting_block(result)  # asked for the conflicting header by its hash
            elif method == "eth_getFilterChanges" and isinstance(result, list) \
                    and all(isinstance(h, str) for h in result):
                sealer.ensure(int(self.upstream.call("eth_blockNumber"), 16))
                result = [sealer.sealed_of_upstream(h) or h for h in result]
            result = sealer.translate_result(result)
        lie_mode = self.faults.plan.mode
        if lie_mode in LIES:
            lie = LIES[lie_mode]
            plan = self.faults.take((lie_mode,), [method], block=lie.block_of(method, params))
            if plan is not None:
                result = lie(plan).tell(self.sealer, method, params, result)
        return result

def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset (no FIN, no answer)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass

class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], proxy: Proxy, *, admin_only: bool) -> None:
        self.proxy = proxy
        self.admin_only = admin_only
        super().__init__(address, _Handler)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if not self.admin_only and self.proxy.faults.take(("refuse",), connect=True) is not None:
            try:
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            return False
        return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, (ConnectionError, OSError)):
            log_event("proxy.handler_error", error=repr(exc))

class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # headers and body go separately

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json",
              extra: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, json.dumps(value).encode())

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_BODY:
            self._json(411, {"error": "a Content-Length (at most 32 MiB) is required"})
            self.close_connection = True
            return None
        return self.rfile.read(int(length))

    def _reset(self) -> None:
        self.close_connection = True
        _reset(self.connection)

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        path = self.path.split("?")[0].rstrip("/")
        proxy = self.server.proxy
        if path == ADMIN_PATH:
            self._json(200, proxy.faults.plan.to_json() | {"sealing": proxy.sealer is not None})
        elif path == HEALTH_PATH:
            sealer = proxy.sealer
            self._json(200, {"upstream": proxy.upstream.url, "sealing": sealer is not None,
                             "sealed_height": sealer.height if sealer else None,
                             "validators": list(sealer.validators_at(max(sealer.height, 0))) if sealer else None})
        elif path == VALIDATORS_PATH and proxy.sealer is not None:
            self._json(200, proxy.sealer.schedule())
        else:
            self._json(405, {"error": "JSON-RPC is served by POST; GET serves /_proxy/faults and /_proxy/health"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        body = self._body()
        if body is None:
            return
        path = self.path.split("?")[0].rstrip("/")
        if path == ADMIN_PATH:
            self._admin(body)
        elif path == VALIDATORS_PATH:
            self._propose(body)
        elif self.server.admin_only:
            self._json(404, {"error": f"the admin port serves {ADMIN_PATH} only"})
        else:
            self._rpc(body)

    def _admin(self, body: bytes) -> None:
        try:
            plan = self.server.proxy.faults.set(json.loads(body or b"{}"))
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
            return
        self._json(200, plan.to_json())

    def _propose(self, body: bytes) -> None:
        sealer = self.server.proxy.sealer
        if sealer is None:
            self._json(404, {"error": "validator votes need a sealing proxy (--seal-qbft)"})
            return
        try:
            spec = json.loads(body or b"{}")
            if not isinstance(spec, dict) or set(spec) - {"add", "drop"}:
                raise ValueError('expected {"add": PRIVATE_KEY} or {"drop": ADDRESS}')
            self._json(200, sealer.propose(add_key=spec.get("add"), drop=spec.get("drop")))
        except ValueError as exc:
            self._json(400, {"error": str(exc)})
        except UpstreamError as exc:
            self._json(502, {"error": str(exc)})

    def _rpc(self, body: bytes) -> None:
        proxy = self.server.proxy
        try:
            request = json.loads(body)
        except ValueError:
            request = None
        methods = _methods(request)
        fault = proxy.faults.take(TRANSPORT_FAULTS, methods, body=body)
        mode = fault.mode if fault is not None else None
        if mode == "refuse":
            self._reset()
            return
        if mode == "hang":
            assert fault is not None
            proxy.faults.wait_change(fault.seconds)
            self._reset()
            return
        if mode == "429":
            self._send(429, b'{"jsonrpc":"2.0","id":null,"error":{"code":-32005,"message":"rate limited"}}',
                       extra={"Retry-After": "1"})
            return
        if mode == "500":
            self._send(500, b"internal server error", "text/plain")
            return
        if mode == "garbage":
            self._send(200, GARBAGE)
            return
        if mode == "revert":
            self._send(200, revert_reply(request.get("id") if isinstance(request, dict) else None))
            return
        if mode == "reject":
            calls = request if isinstance(request, list) else [request]
            errors = [{"jsonrpc": "2.0", "id": c.get("id") if isinstance(c, dict) else None, "error": REJECTION}
                      for c in calls]
            self._send(200, json.dumps(errors if isinstance(request, list) else errors[0]).encode())
            return
        try:
            status, answer, content_type = proxy.answer(body, request)
        except UpstreamError as exc:
            log_event("proxy.upstream_failed", error=str(exc))
            self._send(502, json.dumps({"jsonrpc": "2.0", "id": None,
                                        "error": {"code": -32603, "message": str(exc)}}).encode())
            return
        if mode == "truncate":
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer[: max(1, len(answer) // 2)])
            self.wfile.flush()
            self._reset()
            return
        self._send(status, answer, content_type)

def _methods(request: Any) -> list[str]:
    calls = request if isinstance(request, list) else [request]
    return [str(c.get("method")) for c in calls if isinstance(c, dict)]

def serve(upstream: str, port: int, *, host: str = "127.0.0.1", admin_port: int = 0,
          seal_keys: Sequence[str] | None = None, stop: threading.Event | None = None,
          ready: threading.Event | None = None) -> None:
    """Run the proxy until ``stop`` is set (or SIGTERM/SIGINT in the main thread)."""
    up = Upstream(upstream)
    proxy = Proxy(up, QbftSealer(seal_keys, up) if seal_keys else None)
    rpc = _Server((host, port), proxy, admin_only=False)
    admin = _Server((host, admin_port), proxy, admin_only=True)
    stop = stop or threading.Event()
    threads = [threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
               for s in (rpc, admin)]
    for thread in threads:
        thread.start()
    sealer = proxy.sealer
    log_event("proxy.started", upstream=upstream, url=f"http://{host}:{rpc.server_address[1]}",
              admin_url=f"http://{host}:{admin.server_address[1]}", pid=os.getpid(),
              validators=sealer.addresses if sealer else None)
    if ready is not None:
        ready.set()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        proxy.faults.wake()
        for server in (rpc, admin):
            server.shutdown()
            server.server_close()
        log_event("proxy.stopped")

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m relayer.devnet.proxy",
                                     description="JSON-RPC proxy with injected faults and QBFT sealing.")
    parser.add_argument("--upstream", required=True, help="JSON-RPC URL of the node behind the proxy")
    parser.add_argument("--port", required=True, type=int, help="port to serve JSON-RPC on (0: any free port)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--admin-port", type=int, default=0, help="port of the admin endpoint (default: any free)")
    parser.add_argument("--seal-qbft", type=Path, default=None, metavar="KEYS_FILE",
                        help="JSON file of validator private keys: serve the chain as a QBFT chain they seal")
    args = parser.parse_args(argv)
    try:
        keys = load_validator_keys(args.seal_qbft) if args.seal_qbft else None
    except DevnetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve(args.upstream, args.port, host=args.host, admin_port=args.admin_port, seal_keys=keys, stop=stop)
    except OSError as exc:
        print(f"error: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["Proxy", "main", "serve"]
