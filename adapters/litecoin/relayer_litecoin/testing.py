"""What the Litecoin tests (this package's and a vendor's conformance run) share: a funded regtest node,
three operators' keys and their 2-of-3 custody, deposits made by the node's wallet, and a tiny httpx
transport that plays a lying node (it forwards to the real node and alters chosen answers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx

from relayer_litecoin import regtest
from relayer_litecoin.client import LitecoinLightClient
from relayer_litecoin.custody import Custody
from relayer_litecoin.journal import Journal
from relayer_litecoin.keys import LitecoinSigner
from relayer_litecoin.network import REGTEST
from relayer_litecoin.operator import Authorize, ReleaseOperator
from relayer_litecoin.payload import DepositPayload
from relayer_litecoin.policy import ReleasePolicy
from relayer_litecoin.release import ReleaseRequest
from relayer_litecoin.rpc import LitecoinRpc
from relayer_litecoin.source import LitecoinSource
from relayer_litecoin.spv import HeaderChain
from relayer_litecoin.submitter import ReleaseSubmitter
from relayer_litecoin.utxo import ProvenUtxo

OPERATORS = [LitecoinSigner(bytes([i]) * 32, REGTEST) for i in (1, 2, 3)]
CUSTODY = Custody.of(2, [s.public_key for s in OPERATORS])
CUSTODY_ADDRESS = CUSTODY.address(REGTEST)
CHAIN_ID = 7001  # the consortium's id of the regtest chain in the tests
ALPHA = 1001  # the destination chain's id in the tests
UNREACHABLE = "http://relayer:down@127.0.0.1:1/"  # a node nobody answers at: an operator that is down
RECIPIENT = bytes.fromhex("42" * 20)


class Devnet:
    """One litecoind regtest node with a wallet holding mature coins (101 blocks mined)."""

    def __init__(self, *extra: str) -> None:
        """``extra``: more litecoind options. Raises DevnetError (no litecoind, or it did not start)."""
        self.node = regtest.start(extra=extra)
        self.miner = self.node.call("getnewaddress", wallet="relayer")
        self.mine(101)

    def stop(self) -> None:
        self.node.stop()

    def call(self, method: str, *params: Any) -> Any:
        return self.node.call(method, *params, wallet="relayer")

    def mine(self, blocks: int) -> list[str]:
        return list(self.call("generatetoaddress", blocks, self.miner))

    def mine_empty(self) -> str:
        """One block holding no mempool transaction (its coinbase only), paying a fresh address so it is never
        the very block a reorg just invalidated (same parent, coinbase and second)."""
        return str(self.call("generateblock", self.call("getnewaddress"), [])["hash"])

    def pay(self, outputs: list[dict[str, Any]]) -> str:
        """A wallet transaction with these outputs (``{address: amount}`` or ``{"data": hex}``), sent; its txid."""
        raw = self.call("createrawtransaction", [], outputs)
        funded = self.call("fundrawtransaction", raw, {"changePosition": len(outputs)})["hex"]
        signed = self.call("signrawtransactionwithwallet", funded)
        assert signed["complete"], signed
        return str(self.call("sendrawtransaction", signed["hex"]))

    def deposit(self, amount: Decimal, payload: bytes | None = None) -> str:
        """A deposit to the custody: ``amount`` LTC and an OP_RETURN with ``payload`` (default: 1001, RECIPIENT)."""
        data = payload if payload is not None else DepositPayload(ALPHA, RECIPIENT).encode()
        return self.pay([{CUSTODY_ADDRESS: str(amount)}, {"data": data.hex()}])

    def height_of(self, txid: str) -> int:
        return int(self.call("gettransaction", txid)["blockheight"])


Alter = Callable[[str, list[Any], Any], Any]


class LyingTransport(httpx.AsyncBaseTransport):
    """Forwards JSON-RPC to the real node and passes each result through ``alter(method, params, result)``;
    ``aliases`` (a forged block hash -> the real one) are put back in requests, so the liar can name a forged
    header by its own hash and still read the real node."""

    def __init__(self, alter: Alter, aliases: dict[str, str] | None = None) -> None:
        self.alter, self.aliases = alter, aliases or {}
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        calls = json.loads(await request.aread())
        for call in calls if isinstance(calls, list) else [calls]:
            call["params"] = [self.aliases.get(p, p) if isinstance(p, str) else p for p in call["params"]]
        request = httpx.Request(request.method, request.url, json=calls,
                                headers={"Authorization": request.headers["Authorization"]})
        response = await self.inner.handle_async_request(request)
        body = json.loads(await response.aread())
        for call in calls if isinstance(calls, list) else [calls]:
            for reply in body if isinstance(body, list) else [body]:
                if reply.get("id") == call["id"] and reply.get("error") is None:
                    reply["result"] = self.alter(call["method"], call["params"], reply["result"])
        return httpx.Response(response.status_code, json=body)

    async def aclose(self) -> None:
        await self.inner.aclose()


def header_chain(url: str, transport: httpx.AsyncBaseTransport | None = None, *, first: int = 1,
                 confirmations: int = 1) -> HeaderChain:
    """A verified header chain of the regtest node at ``url`` from height ``first``."""
    source = LitecoinSource("ltc", CHAIN_ID, LitecoinRpc((url,), transport), CUSTODY)
    client = LitecoinLightClient.from_options("ltc", CHAIN_ID, confirmations, {"network": "regtest"})
    return HeaderChain(source, client, first)


async def approve_all(request: ReleaseRequest, inputs: list[ProvenUtxo]) -> None:
    """An ``authorize`` that finds every request due (stands for the burn's check on the EVM side)."""


class ReleaseTeam:
    """The three operators (each its own connection, verified chain and journal ``folder/operatorN.json``) and
    the submitter of operator ``me`` (journal ``folder/submitter.json``) asking ``order`` (indexes into
    OPERATORS) for signatures; ``signers``: the operators' keys (default OPERATORS, e.g. from keystores);
    ``down``: operators whose node is unreachable; ``transports``: an httpx transport per operator (a lying
    node)."""

    def __init__(self, url: str, folder: Any, me: int, *, order: tuple[int, ...] = (0, 1, 2),
                 down: tuple[int, ...] = (), transports: dict[int, httpx.AsyncBaseTransport] | None = None,
                 submitter_transport: httpx.AsyncBaseTransport | None = None,
                 policy: ReleasePolicy | None = None, authorize: Authorize = approve_all,
                 signers: list[LitecoinSigner] | None = None) -> None:
        transports, policy = transports or {}, policy or ReleasePolicy()
        self.operators = []
        for i, signer in enumerate(signers or OPERATORS):
            chain = header_chain(UNREACHABLE if i in down else url, transports.get(i))
            self.operators.append(ReleaseOperator(signer, chain.source.rpc, chain, CUSTODY, REGTEST, policy,
                                                  Journal(folder / f"operator{i}.json"), authorize))
        chain = header_chain(url, submitter_transport)
        self.submitter = ReleaseSubmitter(OPERATORS[me].public_key, chain.source.rpc, chain, CUSTODY, REGTEST, policy,
                                          Journal(folder / "submitter.json"), [self.operators[i] for i in order])

    async def aclose(self) -> None:
        for operator in self.operators:
            await operator.rpc.aclose()
        await self.submitter.rpc.aclose()


__all__ = ["ALPHA", "CHAIN_ID", "CUSTODY", "CUSTODY_ADDRESS", "OPERATORS", "RECIPIENT", "UNREACHABLE", "Devnet",
           "LyingTransport", "ReleaseTeam", "approve_all", "header_chain"]
