"""Evidence bundles: one JSON file with everything needed to check one delivery offline
(``relayer messages export|verify``).

The core writes the common part (format name and version, the family, the route and its chain ids,
the message envelope); the family of the chain the message comes from (entry point
``relayer.bundles``, ``relayer.contract.BundleFamily``) adds the source header, the evidence of its
acceptance, the receipt with its proof, the destination receipt with the message's outcome, and
checks them again with no network. ``outcome`` is the destination's outcome as the family read it
(``status`` delivered, failed or expired, the handler's ``result``, the ``acknowledgement`` sent back).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from relayer import plugins
from relayer.config import Config
from relayer.contract import BundleFamily
from relayer.errors import FatalError, UsageError, VerificationError
from relayer.store import Message, Store

FORMAT = "relayer-evidence-bundle"
VERSION = 2  # 2: message-layer envelopes and outcomes (1 was the Bridge's)

__all__ = ["FORMAT", "VERSION", "NotABundle", "export", "read_bundle", "verify"]


class NotABundle(UsageError):
    """A file that is not an evidence bundle this release reads (exit 2)."""


def export(store: Store, config: Config, m: Message) -> dict[str, Any]:
    """The bundle of ``m``, checked as ``verify`` will check it (against its own trust anchor) before
    it is returned. Raises UsageError (no family plugin for its source chain), FatalError from the
    family (not yet delivered, a signature missing) or when the bundle built does not hold, RpcError."""
    src, dst = config.chains[m.src_chain], config.chains[m.dst_chain]
    family = _family(src.adapter)
    header = store.header(m.src_chain, m.block_number)
    attestations = store.attestations_of(src.chain_id, dst.chain_id, m.block_number)
    common = {
        "format": FORMAT, "version": VERSION, "family": src.adapter,
        "route": f"{m.src_chain}->{m.dst_chain}",
        "source": {"chain": m.src_chain, "chain_id": src.chain_id},
        "destination": {"chain": m.dst_chain, "chain_id": dst.chain_id},
        "message": {"id": m.id, "nonce": m.nonce, "block_number": m.block_number, "block_hash": m.block_hash,
                    "body": "0x" + m.body.hex(), "locator": "0x" + m.locator.hex()},
    }
    bundle = {**common, **family.export(config, m, header, attestations)}
    try:
        verify(bundle, None, None)
    except VerificationError as exc:
        raise FatalError(f"the evidence bundle of {m.id} does not hold, not written: {exc}") from exc
    return bundle


def read_bundle(path: Path) -> dict[str, Any]:
    """The bundle in ``path``. Raises NotABundle (one line: unreadable, not JSON, another format or a
    version this release does not know)."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise NotABundle(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotABundle(f"{path}: not an evidence bundle (not JSON)") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise NotABundle(f"{path}: not an evidence bundle (no \"format\": \"{FORMAT}\")")
    if doc.get("version") != VERSION:
        raise NotABundle(f"{path}: evidence bundle version {doc.get('version')!r}, this release reads {VERSION}")
    if not isinstance(doc.get("family"), str):
        raise NotABundle(f"{path}: evidence bundle without its family")
    return doc


def verify(bundle: dict[str, Any], members: list[str] | None, threshold: int | None,
           validators: list[str] | None = None) -> list[str]:
    """The checks of ``bundle`` that held (the family's, with no network) against the trust anchor
    given (a committee ``members``/``threshold``, or a ``validators`` set; the bundle's own when None).
    Raises VerificationError with the reason when one does not hold; NotABundle when no installed
    family reads it."""
    family_name = bundle["family"]
    try:
        family = _family(family_name)
    except UsageError as exc:
        raise NotABundle(f"evidence bundle of family {family_name!r}: {exc}") from exc
    try:
        return family.verify(bundle, members, threshold, validators)
    except VerificationError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise VerificationError(f"malformed bundle ({type(exc).__name__}: {exc})") from exc


@cache
def _family(adapter: str) -> BundleFamily:
    if adapter not in plugins.installed(plugins.BUNDLE_GROUP):
        raise UsageError(f"no {plugins.BUNDLE_GROUP} plugin for family {adapter!r} "
                         f"(installed: {', '.join(plugins.installed(plugins.BUNDLE_GROUP)) or 'none'})")
    family: BundleFamily = plugins.load(plugins.BUNDLE_GROUP, adapter, key=f"{plugins.BUNDLE_GROUP}.{adapter}")
    return family
