"""Hyperlane's published contracts (npm ``@hyperlane-xyz/core``, pinned in package.json) on an
anvil node, for the side-by-side gas benchmark ``bench/gas_vs_hyperlane.py``.

The package ships its EVM build (solc 0.8.33, optimizer 3599 runs, evm cancun) as ethers
typechain factories: ``dist/typechain/factories/contracts/**/NAME__factory.js`` holds the ABI
(``const _abi = [...]``, a JavaScript literal) and the creation bytecode (``const _bytecode``).
``load(name)`` reads both from ``node_modules`` (nothing is compiled here) into a ``Contract``.

``hyperlane_destination(evm, ...)`` deploys on the destination what receives messages there:
a ``Mailbox`` whose default ISM is a static message-id multisig ISM of the given validators and
threshold (made by ``StaticMessageIdMultisigIsmFactory``), a ``LightTestRecipient`` (empty
handler) and a ``HypERC20`` that knows the origin's router. ``message(...)`` formats a Hyperlane
message and ``metadata(...)`` signs its checkpoint (what the validators sign: the digest of
``CheckpointLib``) into the message-id multisig metadata that ``Mailbox.process`` checks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address

from adapters.evm import committee as cm
from adapters.evm.abi import Contract
from adapters.evm.sync_client import SyncEvm

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "node_modules" / "@hyperlane-xyz" / "core"
FACTORIES = PACKAGE / "dist" / "typechain" / "factories" / "contracts"
PINNED_VERSION = "12.1.0"
MESSAGE_VERSION = 3  # Mailbox.VERSION of this release
# contract name -> its typechain factory, relative to FACTORIES
FACTORY_FILES = {
    "Mailbox": "Mailbox__factory.js",
    "StaticMessageIdMultisigIsmFactory":
        "isms/multisig/StaticMultisigIsm.sol/StaticMessageIdMultisigIsmFactory__factory.js",
    "LightTestRecipient": "test/LightTestRecipient__factory.js",
    "HypERC20": "token/HypERC20__factory.js",
    "TestPostDispatchHook": "test/TestPostDispatchHook__factory.js",
}

__all__ = ["FACTORY_FILES", "PINNED_VERSION", "HyperlaneArtifactError", "HyperlaneDestination", "checkpoint_digest",
           "hyperlane_destination", "installed_version", "load", "message", "message_id", "metadata",
           "parse_factory", "token_body"]


class HyperlaneArtifactError(Exception):
    """The Hyperlane package is missing (run ``make setup``), of another version, or a factory
    file does not hold an ABI and a bytecode in the expected form."""


def installed_version() -> str:
    """The version of ``node_modules/@hyperlane-xyz/core``. Raises HyperlaneArtifactError when absent."""
    manifest = PACKAGE / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError) as exc:
        raise HyperlaneArtifactError(f"{manifest}: cannot read the package version ({exc}); run make setup") from exc


def parse_factory(text: str, source: str = "factory") -> dict[str, Any]:
    """``{"abi": [...], "bytecode": "0x..."}`` from the text of a typechain factory module.

    The ABI is a JavaScript literal in typechain's fixed layout (one ``key: value`` per line,
    unquoted keys, trailing commas); it becomes JSON by quoting the keys at line starts and
    dropping trailing commas. Raises HyperlaneArtifactError naming ``source`` otherwise."""
    abi_match = re.search(r"^const _abi = (\[.*?^\]);$", text, re.S | re.M)
    code_match = re.search(r'^const _bytecode = "(0x[^"]*)";$', text, re.M)
    if not abi_match or not code_match:
        raise HyperlaneArtifactError(f"{source}: no `const _abi = [...]` and `const _bytecode = \"0x...\"`")
    literal = re.sub(r"^(\s*)([A-Za-z_$][\w$]*): ", r'\1"\2": ', abi_match.group(1), flags=re.M)
    literal = re.sub(r",(\s*[\]}])", r"\1", literal)
    try:
        abi = json.loads(literal)
    except ValueError as exc:
        raise HyperlaneArtifactError(f"{source}: the ABI literal is not in typechain's layout ({exc})") from exc
    if not isinstance(abi, list) or len(code_match.group(1)) <= 2:
        raise HyperlaneArtifactError(f"{source}: empty ABI or bytecode")
    if "__$" in code_match.group(1):
        raise HyperlaneArtifactError(f"{source}: the bytecode needs library linking")
    if not re.fullmatch(r"0x[0-9a-fA-F]*", code_match.group(1)):
        raise HyperlaneArtifactError(f"{source}: the bytecode is not hexadecimal")
    return {"abi": abi, "bytecode": code_match.group(1)}


@cache
def load(name: str) -> Contract:
    """Hyperlane contract ``name`` (a key of FACTORY_FILES) from the installed package. Raises
    HyperlaneArtifactError when the package is absent, not the pinned version, or unreadable."""
    version = installed_version()
    if version != PINNED_VERSION:
        raise HyperlaneArtifactError(f"node_modules/@hyperlane-xyz/core is {version}, package.json pins "
                                     f"{PINNED_VERSION}: run make setup")
    path = FACTORIES / FACTORY_FILES[name]
    try:
        text = path.read_text()
    except OSError as exc:
        raise HyperlaneArtifactError(f"{path}: {exc.strerror}; run make setup") from exc
    return Contract(name, parse_factory(text, str(path.relative_to(REPO))))


# ---------------------------------------------------------------------- messages and checkpoints
def word(address: str) -> bytes:
    """An address left-padded to 32 bytes (Hyperlane's TypeCasts.addressToBytes32)."""
    return bytes(12) + bytes.fromhex(address[2:])


def message(nonce: int, origin: int, sender: bytes, destination: int, recipient: bytes, body: bytes) -> bytes:
    """Message.formatMessage: version, nonce, origin, sender, destination, recipient, body (packed)."""
    return (bytes([MESSAGE_VERSION]) + nonce.to_bytes(4, "big") + origin.to_bytes(4, "big") + sender
            + destination.to_bytes(4, "big") + recipient + body)


def message_id(raw: bytes) -> bytes:
    return keccak(raw)


def token_body(recipient: str, amount: int) -> bytes:
    """TokenMessage.format(recipient, amount): what a HypERC20 transfer carries."""
    return word(recipient) + amount.to_bytes(32, "big")


def checkpoint_digest(origin: int, merkle_tree_hook: bytes, root: bytes, index: int, msg_id: bytes) -> bytes:
    """CheckpointLib.digest: the EIP-191 hash of keccak(domainHash, root, index, messageId), with
    domainHash = keccak(origin, merkleTreeHook, "HYPERLANE")."""
    domain = keccak(origin.to_bytes(4, "big") + merkle_tree_hook + b"HYPERLANE")
    inner = keccak(domain + root + index.to_bytes(4, "big") + msg_id)
    return keccak(b"\x19Ethereum Signed Message:\n32" + inner)


def metadata(raw_message: bytes, origin: int, merkle_tree_hook: bytes, root: bytes, index: int,
             signer_keys: list[str]) -> bytes:
    """MessageIdMultisigIsmMetadata: merkle tree hook, root, index, then one 65-byte signature per
    key in the given order (the ISM wants them in the order of its validator list)."""
    digest = checkpoint_digest(origin, merkle_tree_hook, root, index, message_id(raw_message))
    sigs = b"".join(cm.sign_digest(k, digest) for k in signer_keys)
    return merkle_tree_hook + root + index.to_bytes(4, "big") + sigs


# ---------------------------------------------------------------------- deployment
def deploy(evm: SyncEvm, key: str, name: str, *args: Any) -> str:
    receipt = evm.send_and_wait(key, None, load(name).encode_constructor(*args))
    return to_checksum_address(receipt["contractAddress"])


def transact(evm: SyncEvm, key: str, to: str, name: str, fn: str, *args: Any,
             gas: int | None = None) -> dict[str, Any]:
    return evm.send_and_wait(key, to, load(name).encode_call(fn, *args), gas=gas)


def call(evm: SyncEvm, to: str, name: str, fn: str, *args: Any) -> Any:
    data = load(name).encode_call(fn, *args)
    result = evm.rpc("eth_call", {"to": to_checksum_address(to), "data": "0x" + data.hex()}, "latest")
    return load(name).decode_result(fn, bytes.fromhex(result[2:]))


@dataclass
class HyperlaneDestination:
    """Hyperlane's receiving side on one chain for one validator set."""

    evm: SyncEvm
    mailbox: str
    ism: str
    recipient: str  # LightTestRecipient
    token: str  # HypERC20
    validators: list[str]  # keys, in the ISM's validator order
    threshold: int

    def process(self, key: str, raw_message: bytes, meta: bytes) -> dict[str, Any]:
        """Mailbox.process(metadata, message) from ``key``'s account; the receipt."""
        return transact(self.evm, key, self.mailbox, "Mailbox", "process", meta, raw_message)


def hyperlane_destination(evm: SyncEvm, key: str, domain: int, validator_keys: list[str], threshold: int,
                          origin: int, origin_router: bytes, ism_factory: str, hook: str) -> HyperlaneDestination:
    """Deploy a Mailbox of ``domain`` whose default ISM is the message-id multisig of
    ``validator_keys`` (their addresses, in this order) and ``threshold``, a LightTestRecipient
    and a HypERC20 (18 decimals, 1e24 initial supply to ``key``) enrolled with ``origin_router``
    of ``origin``. ``ism_factory`` and ``hook`` (any contract: process never calls it) are shared."""
    owner = cm.signer_address(key)
    validators = [cm.signer_address(k) for k in validator_keys]
    transact(evm, key, ism_factory, "StaticMessageIdMultisigIsmFactory", "deploy", validators, threshold)
    ism = str(call(evm, ism_factory, "StaticMessageIdMultisigIsmFactory", "getAddress", validators, threshold))
    mailbox = deploy(evm, key, "Mailbox", domain)
    transact(evm, key, mailbox, "Mailbox", "initialize", owner, ism, hook, hook)
    recipient = deploy(evm, key, "LightTestRecipient")
    token = deploy(evm, key, "HypERC20", 18, 1, 1, mailbox)
    transact(evm, key, token, "HypERC20", "initialize", 10**24, "Hyperlane bench token", "HBT",
             "0x" + "00" * 20, "0x" + "00" * 20, owner)
    transact(evm, key, token, "HypERC20", "enrollRemoteRouter", origin, origin_router)
    return HyperlaneDestination(evm, mailbox, ism, recipient, token, list(validator_keys), threshold)
