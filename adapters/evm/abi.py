"""Contract ABIs from the compiled artifacts in ``adapters/evm/artifacts``.

``Contract.load("MessageLayer")`` gives calldata encoding, result and log decoding, and revert
decoding (custom errors of every artifact, ``Error(string)`` and ``Panic(uint256)``).
Addresses come back checksummed; ``bytesN``/``bytes`` come back as ``bytes``.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import eth_abi
from eth_abi.exceptions import DecodingError, EncodingError
from eth_utils import keccak, to_checksum_address

from relayer.errors import FatalError

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")
PANIC_SELECTOR = bytes.fromhex("4e487b71")


class AbiError(FatalError):
    """An artifact, function, event or error is unknown, or values do not fit the ABI types."""


def abi_type(param: dict[str, Any]) -> str:
    """The canonical type string of an ABI parameter, expanding tuples: ``(uint256,bytes,bytes[],uint256)[]``."""
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(abi_type(c) for c in param.get("components", []))
        return f"({inner}){typ[len('tuple'):]}"
    return typ


def signature(item: dict[str, Any]) -> str:
    """``name(type,...)`` of an ABI function, event or error."""
    return f"{item['name']}({','.join(abi_type(p) for p in item.get('inputs', []))})"


class Contract:
    """One compiled contract: its ABI and bytecode."""

    def __init__(self, name: str, artifact: dict[str, Any]) -> None:
        self.name = name
        self.abi: list[dict[str, Any]] = list(artifact["abi"])
        self.bytecode: bytes = bytes.fromhex(str(artifact.get("bytecode", "0x"))[2:])
        self.deployed_bytecode: bytes = bytes.fromhex(str(artifact.get("deployedBytecode", "0x"))[2:])
        self.functions: dict[str, dict[str, Any]] = {}
        self.events: dict[str, dict[str, Any]] = {}
        self._events_by_topic: dict[bytes, dict[str, Any]] = {}
        self.errors: dict[bytes, dict[str, Any]] = {}
        for item in self.abi:
            kind = item.get("type")
            if kind == "function":
                self.functions.setdefault(item["name"], item)
            elif kind == "event":
                self.events[item["name"]] = item
                if not item.get("anonymous"):
                    self._events_by_topic[keccak(text=signature(item))] = item
            elif kind == "error":
                self.errors[keccak(text=signature(item))[:4]] = item

    @classmethod
    def load(cls, name: str) -> Contract:
        """The contract ``name`` from ``artifacts/<name>.json`` (cached). Raises AbiError if absent."""
        return _load(name)

    # ------------------------------------------------------------------ calls
    def selector(self, fn_name: str) -> bytes:
        """The 4-byte selector of function ``fn_name``. Raises AbiError."""
        return keccak(text=signature(self._function(fn_name)))[:4]

    def encode_call(self, fn_name: str, *args: Any) -> bytes:
        """Selector + ABI-encoded arguments. Tuples accept sequences, dicts or objects with the
        component names as attributes. Raises AbiError on unknown function or unencodable values."""
        fn = self._function(fn_name)
        return self.selector(fn_name) + _encode(fn.get("inputs", []), args, f"{self.name}.{fn_name}")

    def encode_constructor(self, *args: Any) -> bytes:
        """Creation code: bytecode + ABI-encoded constructor arguments. Raises AbiError."""
        if not self.bytecode:
            raise AbiError(f"{self.name} has no bytecode (interface or library)")
        ctor: dict[str, Any] = next((i for i in self.abi if i.get("type") == "constructor"), {"inputs": []})
        return self.bytecode + _encode(ctor.get("inputs", []), args, f"{self.name}.constructor")

    def decode_result(self, fn_name: str, data: bytes) -> Any:
        """Decoded return data: None for no outputs, the value for one, a tuple for several. Raises AbiError."""
        outputs = self._function(fn_name).get("outputs", [])
        if not outputs:
            return None
        values = _decode(outputs, data, f"{self.name}.{fn_name}")
        return values[0] if len(values) == 1 else tuple(values)

    # ------------------------------------------------------------------ events
    def event_topic(self, name: str) -> bytes:
        """topic0 (keccak of the signature) of event ``name``. Raises AbiError."""
        event = self.events.get(name)
        if event is None:
            raise AbiError(f"{self.name} has no event {name!r}")
        return keccak(text=signature(event))

    def decode_log(self, log: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(event name, fields) of an RPC log object, or None if topic0 is not one of this contract's
        events. Indexed dynamic values come back as their 32-byte hash. Raises AbiError when the
        topics/data do not decode as the event says."""
        topics = [_to_bytes(t) for t in log.get("topics") or []]
        if not topics:
            return None
        event = self._events_by_topic.get(topics[0])
        if event is None:
            return None
        inputs = event.get("inputs", [])
        indexed = [p for p in inputs if p.get("indexed")]
        plain = [p for p in inputs if not p.get("indexed")]
        if len(topics) != 1 + len(indexed):
            raise AbiError(f"log of {event['name']} has {len(topics)} topics, expected {1 + len(indexed)}")
        plain_values = iter(_decode(plain, _to_bytes(log.get("data") or "0x"), event["name"]))
        topic_values = iter(topics[1:])
        fields: dict[str, Any] = {}
        for param in inputs:
            if param.get("indexed"):
                fields[param["name"]] = _decode_topic(param, next(topic_values))
            else:
                fields[param["name"]] = next(plain_values)
        return event["name"], fields

    def logs_of(self, receipt: dict[str, Any], address: str, name: str) -> list[dict[str, Any]]:
        """Fields of every ``name`` event this contract at ``address`` emitted in ``receipt`` (an RPC
        receipt), in log order. Raises AbiError for an unknown event or a log that does not decode."""
        topic = self.event_topic(name)
        out = []
        for log in receipt.get("logs") or []:
            topics = log.get("topics") or []
            if str(log.get("address", "")).lower() != address.lower() or not topics or _to_bytes(topics[0]) != topic:
                continue
            decoded = self.decode_log(log)
            if decoded is not None:
                out.append(decoded[1])
        return out

    # ------------------------------------------------------------------ errors
    def decode_revert(self, data: bytes | str) -> str:
        """Readable revert reason; see the module-level ``decode_revert``. Never raises."""
        return decode_revert(data, self)

    def _function(self, fn_name: str) -> dict[str, Any]:
        fn = self.functions.get(fn_name)
        if fn is None:
            raise AbiError(f"{self.name} has no function {fn_name!r}")
        return fn


@cache
def _load(name: str) -> Contract:
    path = ARTIFACTS_DIR / f"{name}.json"
    try:
        artifact = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise AbiError(f"no artifact {path.name}; run `make contracts`", artifact=str(path)) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise AbiError(f"unreadable artifact {path.name}: {exc}", artifact=str(path)) from exc
    return Contract(name, artifact)


@cache
def _all_errors() -> dict[bytes, dict[str, Any]]:
    """Custom errors of every artifact by selector."""
    errors: dict[bytes, dict[str, Any]] = {}
    for path in sorted(ARTIFACTS_DIR.glob("*.json")):
        errors.update(_load(path.stem).errors)
    return errors


def decode_revert(data: bytes | str, contract: Contract | None = None) -> str:
    """Readable revert reason: ``AlreadyDelivered(0x12..)`` for custom errors of any artifact,
    the message of ``Error(string)``, ``Panic(0x11)``, ``no revert data`` for empty data and
    ``unknown error 0x…`` otherwise. Never raises."""
    if isinstance(data, str):
        try:
            raw = _to_bytes(data)
        except AbiError:
            return f"unknown error {data[:80]!r}"
    else:
        raw = bytes(data)
    if not raw:
        return "no revert data"
    selector, body = raw[:4], raw[4:]
    try:
        if selector == ERROR_STRING_SELECTOR:
            return str(eth_abi.decode(["string"], body)[0])
        if selector == PANIC_SELECTOR:
            return f"Panic({hex(eth_abi.decode(['uint256'], body)[0])})"
        error = (contract.errors.get(selector) if contract else None) or _all_errors().get(selector)
        if error is not None:
            values = _decode(error.get("inputs", []), body, error["name"])
            return f"{error['name']}({', '.join(_show(v) for v in values)})"
    except (AbiError, DecodingError, OverflowError, ValueError):
        pass
    return f"unknown error 0x{raw.hex()}"


# ---------------------------------------------------------------------- helpers
def _encode(params: list[dict[str, Any]], args: tuple[Any, ...], what: str) -> bytes:
    if len(args) != len(params):
        raise AbiError(f"{what} takes {len(params)} arguments, got {len(args)}")
    types = [abi_type(p) for p in params]
    try:
        return eth_abi.encode(types, [_normalize(p, a) for p, a in zip(params, args)])
    except (EncodingError, TypeError, ValueError, OverflowError) as exc:
        raise AbiError(f"cannot encode arguments of {what}: {exc}") from exc


def _normalize(param: dict[str, Any], value: Any) -> Any:
    """Turn Python-friendly values into what eth_abi expects for ``param``."""
    typ = str(param["type"])
    if typ.endswith("]"):
        element = dict(param, type=typ[: typ.rindex("[")])
        return [_normalize(element, v) for v in value]
    if typ == "tuple":
        comps = param.get("components", [])
        if isinstance(value, dict):
            items = [value[c["name"]] for c in comps]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [getattr(value, c["name"]) for c in comps]
        if len(items) != len(comps):
            raise AbiError(f"tuple needs {len(comps)} components, got {len(items)}")
        return tuple(_normalize(c, v) for c, v in zip(comps, items))
    if typ == "address" and isinstance(value, str):
        return to_checksum_address(value)
    if typ == "address" and isinstance(value, (bytes, bytearray)):
        return to_checksum_address(bytes(value))
    if typ.startswith("bytes") and isinstance(value, str):
        return _to_bytes(value)
    if typ.startswith("bytes") and isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    return value


def _decode(params: list[dict[str, Any]], data: bytes, what: str) -> list[Any]:
    try:
        values = eth_abi.decode([abi_type(p) for p in params], bytes(data))
    except (DecodingError, OverflowError, ValueError) as exc:
        raise AbiError(f"cannot decode {what}: {exc}") from exc
    return [_denormalize(p, v) for p, v in zip(params, values)]


def _denormalize(param: dict[str, Any], value: Any) -> Any:
    typ = str(param["type"])
    if typ.endswith("]"):
        element = dict(param, type=typ[: typ.rindex("[")])
        return [_denormalize(element, v) for v in value]
    if typ == "tuple":
        return tuple(_denormalize(c, v) for c, v in zip(param.get("components", []), value))
    if typ == "address":
        return to_checksum_address(value)
    return value


def _decode_topic(param: dict[str, Any], topic: bytes) -> Any:
    typ = abi_type(param)
    if typ in ("string", "bytes") or typ.endswith("]") or typ.startswith("("):
        return topic  # dynamic values are indexed by their hash
    return _decode([param], topic, f"topic {param.get('name')}")[0]


def _to_bytes(value: str | bytes) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    text = value[2:] if value.startswith(("0x", "0X")) else value
    try:
        return bytes.fromhex(text)
    except ValueError as exc:
        raise AbiError(f"not hex: {value[:20]!r}") from exc


def _show(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)
