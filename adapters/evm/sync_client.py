"""A blocking JSON-RPC client for deploy scripts, the devnet and tests.

``SyncEvm(url)`` deploys artifacts, sends signed transactions (EIP-1559 when the chain has a
base fee, legacy otherwise) and waits for their receipts, and makes decoded ``eth_call``s.
httpx failures become ``RpcError``; reverts become ``ContractRevert`` with the decoded reason.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import httpx
from eth_account import Account
from eth_utils import to_checksum_address

from adapters.evm.abi import Contract, decode_revert
from relayer.errors import ContractRevert, RpcAnswerError, RpcError

GAS_MARGIN_NUM, GAS_MARGIN_DEN = 6, 5  # estimate x 1.2
GAS_MARGIN_MIN = 10_000


class SyncEvm:
    """Blocking JSON-RPC access to one EVM node."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)
        self._chain_id: int | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SyncEvm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call's result. Raises RpcError (transport or error answer; a revert
        answer raises ContractRevert with the decoded reason)."""
        reply = self._post({"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": list(params)})
        if not isinstance(reply, dict):
            raise RpcAnswerError("JSON-RPC answer is not an object", method=method, url=self.url)
        return _result(reply, method)

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one JSON-RPC batch, results in order. Raises like ``rpc`` on the first failure."""
        if not calls:
            return []
        first = next(self._ids)
        for _ in calls[1:]:
            next(self._ids)
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
        reply = self._post(payload)
        if not isinstance(reply, list):
            raise RpcAnswerError("JSON-RPC batch answer is not a list", url=self.url)
        by_id = {r.get("id"): r for r in reply if isinstance(r, dict)}
        out = []
        for i, (method, _) in enumerate(calls):
            if first + i not in by_id:
                raise RpcAnswerError("JSON-RPC batch answer lacks an id", method=method, url=self.url)
            out.append(_result(by_id[first + i], method))
        return out

    def _post(self, payload: Any) -> Any:
        try:
            response = self._http.post(self.url, json=payload)
            response.raise_for_status()
            return response.json()
        except httpx.HTTPError as exc:
            raise RpcError(f"RPC transport failed: {exc.__class__.__name__}: {exc}", url=self.url) from exc
        except ValueError as exc:
            raise RpcAnswerError("RPC answer is not JSON", url=self.url) from exc

    # ------------------------------------------------------------------ reads
    @property
    def chain_id(self) -> int:
        """eth_chainId (cached). Raises RpcError."""
        if self._chain_id is None:
            self._chain_id = int(self.rpc("eth_chainId"), 16)
        return self._chain_id

    def block_number(self) -> int:
        return int(self.rpc("eth_blockNumber"), 16)

    def balance(self, address: str, block: str = "latest") -> int:
        """Native balance in wei. Raises RpcError."""
        return int(self.rpc("eth_getBalance", to_checksum_address(address), block), 16)

    def nonce(self, address: str, block: str = "pending") -> int:
        return int(self.rpc("eth_getTransactionCount", to_checksum_address(address), block), 16)

    def call(self, to: str, contract_name: str, fn_name: str, *args: Any,
             sender: str | None = None, block: str = "latest") -> Any:
        """eth_call of ``fn_name``, decoded. Raises ContractRevert, RpcError, AbiError."""
        contract = Contract.load(contract_name)
        tx: dict[str, Any] = {"to": to_checksum_address(to), "data": "0x" + contract.encode_call(fn_name, *args).hex()}
        if sender:
            tx["from"] = to_checksum_address(sender)
        result = self.rpc("eth_call", tx, block)
        return contract.decode_result(fn_name, bytes.fromhex(result[2:]))

    # ------------------------------------------------------------------ writes
    def deploy(self, key_hex: str, contract_name: str, *ctor_args: Any, gas: int | None = None) -> str:
        """Deploy ``contract_name`` and return its checksummed address. Raises ContractRevert, RpcError."""
        data = Contract.load(contract_name).encode_constructor(*ctor_args)
        receipt = self.send_and_wait(key_hex, None, data, gas=gas)
        address = receipt.get("contractAddress")
        if not address:
            raise RpcAnswerError("deployment receipt has no contractAddress", tx=receipt.get("transactionHash"))
        return to_checksum_address(address)

    def transact(self, key_hex: str, to: str, contract_name: str, fn_name: str, *args: Any,
                 value: int = 0, gas: int | None = None) -> dict[str, Any]:
        """Send ``fn_name(*args)`` to ``to`` and wait for the receipt. Raises ContractRevert (decoded
        reason; before sending when gas estimation reverts), RpcError."""
        data = Contract.load(contract_name).encode_call(fn_name, *args)
        return self.send_and_wait(key_hex, to, data, value=value, gas=gas)

    def send_and_wait(self, key_hex: str, to: str | None, data: bytes, *, value: int = 0,
                      gas: int | None = None, timeout: float = 30.0) -> dict[str, Any]:
        """Sign, send, wait; a reverted receipt raises ContractRevert. Raises RpcError on timeout."""
        tx_hash = self.send_transaction(key_hex, to, data, value=value, gas=gas)
        receipt = self.wait_receipt(tx_hash, timeout)
        if int(receipt.get("status", "0x1"), 16) != 1:
            raise ContractRevert(self._replay_reason(tx_hash, receipt), tx=tx_hash)
        return receipt

    def send_transaction(self, key_hex: str, to: str | None, data: bytes, *, value: int = 0,
                         gas: int | None = None, nonce: int | None = None) -> str:
        """Sign and send without waiting; returns the tx hash. Estimates gas (x1.2) unless given.
        Raises ContractRevert when estimation reverts, RpcError."""
        sender = Account.from_key(key_hex).address
        tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "value": hex(value)}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        if gas is None:
            estimate = int(self.rpc("eth_estimateGas", tx), 16)
            gas = max(estimate * GAS_MARGIN_NUM // GAS_MARGIN_DEN, estimate + GAS_MARGIN_MIN)
        fields: dict[str, Any] = {
            "chainId": self.chain_id, "nonce": self.nonce(sender) if nonce is None else nonce,
            "gas": gas, "value": value, "data": data, **self._fees(),
        }
        if to is not None:
            fields["to"] = to_checksum_address(to)
        signed = Account.sign_transaction(fields, key_hex)
        return self.send_raw(bytes(signed.raw_transaction))

    def send_raw(self, raw: bytes) -> str:
        """eth_sendRawTransaction; returns the tx hash. Raises RpcError."""
        return str(self.rpc("eth_sendRawTransaction", "0x" + raw.hex()))

    def wait_receipt(self, tx_hash: str, timeout: float = 30.0) -> dict[str, Any]:
        """Poll until the receipt exists. Raises RpcError after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            receipt = self.rpc("eth_getTransactionReceipt", tx_hash)
            if receipt:
                return dict(receipt)
            if time.monotonic() > deadline:
                raise RpcError("no receipt before the timeout", tx=tx_hash, timeout=timeout)
            time.sleep(delay)
            delay = min(delay * 2, 0.25)

    def _fees(self) -> dict[str, int]:
        block = self.rpc("eth_getBlockByNumber", "latest", False)
        base = block.get("baseFeePerGas") if isinstance(block, dict) else None
        if base is None:
            return {"gasPrice": int(self.rpc("eth_gasPrice"), 16)}
        try:
            tip = int(self.rpc("eth_maxPriorityFeePerGas"), 16)
        except (RpcError, RpcAnswerError):
            tip = 10**9
        return {"maxFeePerGas": 2 * int(base, 16) + tip, "maxPriorityFeePerGas": tip}

    def _replay_reason(self, tx_hash: str, receipt: dict[str, Any]) -> str:
        """Re-run a reverted transaction as eth_call on its parent block to recover the reason."""
        sent = self.rpc("eth_getTransactionByHash", tx_hash) or {}
        tx = {k: sent[k] for k in ("from", "to", "gas", "value", "input") if sent.get(k) is not None}
        parent = hex(max(int(receipt["blockNumber"], 16) - 1, 0))
        try:
            self.rpc("eth_call", tx, parent)
        except ContractRevert as exc:
            return exc.reason
        return "reverted on-chain (reason not reproducible by eth_call)"


def _result(reply: dict[str, Any], method: str) -> Any:
    error = reply.get("error")
    if error is None:
        if "result" not in reply:
            raise RpcAnswerError("JSON-RPC answer has neither result nor error", method=method)
        return reply["result"]
    data = _revert_data(error)
    if data is not None:
        raise ContractRevert(decode_revert(data), method=method, data="0x" + data.hex())
    message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    raise RpcError(f"RPC error: {message}", method=method, code=error.get("code") if isinstance(error, dict) else None)


def _revert_data(error: Any) -> bytes | None:
    """Revert data of an execution-reverted error answer, b"" when reverted without data, else None."""
    if not isinstance(error, dict):
        return None
    message = str(error.get("message", "")).lower()
    data = error.get("data")
    if isinstance(data, dict):  # some nodes nest it: {"data": {"data": "0x.."}}
        data = data.get("data") or data.get("result")
    reverted = error.get("code") == 3 or "revert" in message
    if isinstance(data, str) and data.startswith("0x") and reverted:
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    return b"" if reverted else None
