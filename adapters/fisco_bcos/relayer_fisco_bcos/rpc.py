"""The FISCO BCOS 3.x JSON-RPC interface as far as the relayer needs it: requests (every 3.x method
takes the group id and a node name, "" for any node, as its first two parameters) and the parsing of
the answers into checked values.

Methods: ``getBlockNumber [group, node]``, ``getBlockByNumber [group, node, number, onlyHeader,
onlyTxHash]`` (``getBlockHeaderByNumber`` in the SDKs is this with onlyHeader true),
``getBlockByHash [group, node, hash, onlyHeader, onlyTxHash]``, ``getTransactionReceipt [group, node,
txHash, withProof]``, ``getTransaction [group, node, txHash, withProof]``, ``getSealerList [group,
node]`` (parameter order as in FISCO-BCOS java-sdk v3 ``ClientImpl``).

Verified against recorded data of FISCO BCOS 3.2 (the shared vectors' ``getBlockByNumber`` and
receipt/transaction results, wrapped as the responses carry them); ``HttpTransport`` is not yet run
against a live node.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from relayer.errors import RpcAnswerError, RpcError
from relayer_fisco_bcos.header import BlockHeader, HeaderFormatError, parse_header
from relayer_fisco_bcos.seals import SealerSet

DEFAULT_GROUP = "group0"


@dataclass(frozen=True)
class Endpoint:
    """Where requests go: the group and the node name ("" lets the RPC service pick a node)."""

    group: str = DEFAULT_GROUP
    node: str = ""


_ids = itertools.count(1)


def request(method: str, params: Sequence[Any]) -> dict[str, Any]:
    """A JSON-RPC 2.0 request object with a fresh id."""
    return {"jsonrpc": "2.0", "id": next(_ids), "method": method, "params": list(params)}


def block_number_request(at: Endpoint) -> dict[str, Any]:
    return request("getBlockNumber", [at.group, at.node])


def block_by_number_request(at: Endpoint, number: int, *, only_header: bool = False,
                            only_tx_hash: bool = True) -> dict[str, Any]:
    """``getBlockByNumber``; ``only_header`` is what the SDKs call ``getBlockHeaderByNumber``."""
    return request("getBlockByNumber", [at.group, at.node, number, only_header, only_tx_hash])


def block_by_hash_request(at: Endpoint, block_hash: str, *, only_header: bool = False,
                          only_tx_hash: bool = True) -> dict[str, Any]:
    return request("getBlockByHash", [at.group, at.node, block_hash, only_header, only_tx_hash])


def receipt_request(at: Endpoint, tx_hash: str, *, with_proof: bool = True) -> dict[str, Any]:
    return request("getTransactionReceipt", [at.group, at.node, tx_hash, with_proof])


def transaction_request(at: Endpoint, tx_hash: str, *, with_proof: bool = True) -> dict[str, Any]:
    return request("getTransaction", [at.group, at.node, tx_hash, with_proof])


def sealer_list_request(at: Endpoint) -> dict[str, Any]:
    return request("getSealerList", [at.group, at.node])


# --------------------------------------------------------------------------- answers


def result_of(response: Any, method: str) -> Any:
    """The ``result`` of a JSON-RPC response. Raises RpcAnswerError for an error object, a missing
    result or something that is no response."""
    if not isinstance(response, Mapping):
        raise RpcAnswerError(f"{method}: the answer is not a JSON-RPC response object")
    error = response.get("error")
    if error is not None:
        message = error.get("message") if isinstance(error, Mapping) else error
        code = error.get("code") if isinstance(error, Mapping) else None
        raise RpcAnswerError(f"{method}: the node answered error {code}: {message}")
    if "result" not in response:
        raise RpcAnswerError(f"{method}: the response has no result")
    return response["result"]


@dataclass(frozen=True)
class Block:
    """A ``getBlockByNumber`` / ``getBlockByHash`` result: the header (unchecked: the light client
    checks it) and the transactions as served (hashes with onlyTxHash, objects otherwise)."""

    header: BlockHeader
    transactions: tuple[Any, ...]
    raw: Mapping[str, Any]

    @property
    def transaction_hashes(self) -> list[bytes]:
        """The transaction hashes in block order (objects' ``hash``). Raises RpcAnswerError."""
        out = []
        for index, item in enumerate(self.transactions):
            text = item.get("hash") if isinstance(item, Mapping) else item
            try:
                value = bytes.fromhex(str(text).removeprefix("0x"))
            except ValueError:
                value = b""
            if len(value) != 32:
                raise RpcAnswerError(f"transactions[{index}] is not a 32-byte hash")
            out.append(value)
        return out


def parse_block(response: Any, method: str = "getBlockByNumber") -> Block | None:
    """The block of a response (None when the node has no such block). Raises RpcAnswerError naming
    the key at fault."""
    result = result_of(response, method)
    if result is None:
        return None
    if not isinstance(result, Mapping):
        raise RpcAnswerError(f"{method}: the result is not a block object")
    try:
        header = parse_header(result)
    except HeaderFormatError as exc:
        raise RpcAnswerError(f"{method}: {exc}") from exc
    transactions = result.get("transactions") or []
    if not isinstance(transactions, list):
        raise RpcAnswerError(f"{method}: transactions is not a list")
    return Block(header, tuple(transactions), result)


def parse_block_number(response: Any) -> int:
    """The number of ``getBlockNumber``. Raises RpcAnswerError."""
    result = result_of(response, "getBlockNumber")
    if isinstance(result, bool) or not isinstance(result, int | str):
        raise RpcAnswerError(f"getBlockNumber: {result!r} is not a block number")
    try:
        number = int(result, 0) if isinstance(result, str) else result
    except ValueError as exc:
        raise RpcAnswerError(f"getBlockNumber: {result!r} is not a block number") from exc
    if number < 0:
        raise RpcAnswerError(f"getBlockNumber: {number} is negative")
    return number


def parse_object(response: Any, method: str) -> dict[str, Any] | None:
    """A receipt or transaction object (``getTransactionReceipt``, ``getTransaction``), None when the
    node has none. Raises RpcAnswerError."""
    result = result_of(response, method)
    if result is None:
        return None
    if not isinstance(result, Mapping):
        raise RpcAnswerError(f"{method}: the result is not an object")
    return dict(result)


def parse_sealer_list(response: Any) -> SealerSet:
    """The sealers of ``getSealerList`` (``[{nodeID, weight}]``; a bare list of node ids: weight 1).
    Raises RpcAnswerError."""
    result = result_of(response, "getSealerList")
    if not isinstance(result, list) or not result:
        raise RpcAnswerError("getSealerList: the result is not a non-empty list")
    nodes, weights = [], []
    for index, item in enumerate(result):
        text, weight = (item.get("nodeID"), item.get("weight", 1)) if isinstance(item, Mapping) else (item, 1)
        try:
            node = bytes.fromhex(str(text).removeprefix("0x"))
        except ValueError:
            node = b""
        if len(node) != 64 or isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
            raise RpcAnswerError(f"getSealerList: entry {index} is not a node id of 64 bytes with a weight")
        nodes.append(node)
        weights.append(weight)
    return SealerSet(tuple(nodes), tuple(weights))


# --------------------------------------------------------------------------- transport


class HttpTransport:
    """Blocking JSON-RPC over HTTP to a FISCO BCOS 3.x RPC service (``http://host:20200``). Not yet
    run against a live node: no FISCO BCOS node runs in this project's tests."""

    def __init__(self, url: str, at: Endpoint = Endpoint(), timeout: float = 10.0) -> None:
        self.url, self.at = url, at
        self._client = httpx.Client(timeout=timeout)

    def call(self, payload: Mapping[str, Any]) -> Any:
        """POST ``payload``, return the decoded response. Raises RpcError (transport, HTTP status),
        RpcAnswerError (not JSON)."""
        try:
            answer = self._client.post(self.url, json=payload)
            answer.raise_for_status()
        except httpx.HTTPError as exc:
            raise RpcError(f"{payload.get('method')}: {self.url}: {exc}") from exc
        try:
            return answer.json()
        except ValueError as exc:
            raise RpcAnswerError(f"{payload.get('method')}: {self.url} answered no JSON") from exc

    def block(self, number: int, *, only_header: bool = False) -> Block | None:
        return parse_block(self.call(block_by_number_request(self.at, number, only_header=only_header)))

    def head_number(self) -> int:
        return parse_block_number(self.call(block_number_request(self.at)))

    def close(self) -> None:
        self._client.close()


__all__ = [
    "Block", "Endpoint", "HttpTransport", "block_by_hash_request", "block_by_number_request", "block_number_request",
    "parse_block", "parse_block_number", "parse_object", "parse_sealer_list", "receipt_request", "request",
    "result_of", "sealer_list_request", "transaction_request",
]
