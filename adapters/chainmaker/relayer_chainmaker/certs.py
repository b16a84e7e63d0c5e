"""Member certificates (ChainMaker certificate mode), the orgs' CA certificates and signatures.

A member (a block's proposer, a vote's endorser) carries its X.509 certificate as PEM in
``member_info``. It is taken when: the PEM is exactly the certificate's canonical PEM, the
certificate's O is the member's ``org_id``, its OU names the role (``consensus``), it is valid at
the block's time and, where the org's CA certificate is configured, that CA issued it. An org
whose CA is not configured is reported as a warning (the certificate is then not chained to a
trust root: only its signature and its place in the configured node set are checked).

Signatures: ECDSA (P-256, or another curve the ``cryptography`` package knows) over H(message),
H the chain's hash (SHA-256, SHA3-256, SM3). Not supported: SM2 signatures and SM2 certificates
(refused with that reason), member types other than a full certificate (CERT_HASH, PUBLIC_KEY,
DID: refused), and certificate chains longer than CA -> member unless every intermediate is
configured as a trust root of the org.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID

from relayer.errors import VerificationError

MEMBER_CERT = 0
CONSENSUS_ROLE = "consensus"


@dataclass(frozen=True)
class TrustRoots:
    """The configured CA certificates, by org id (the CA certificate's O), and the chain's hash type
    when the trust roots file names it (the explorer's chain list does: ``hash_type``)."""

    by_org: Mapping[str, tuple[x509.Certificate, ...]]
    hash_type: str | None = None

    @classmethod
    def empty(cls) -> TrustRoots:
        return cls({})

    @classmethod
    def parse(cls, text: str, source: str) -> TrustRoots:
        """CA certificates from ``text``: a PEM bundle, or JSON with a ``trust_roots`` list of objects
        holding ``org_ca_pem`` and optionally ``hash_type`` (the vector/explorer form), or a JSON list of
        PEM strings. Each CA's org is its subject's O. Raises ValueError naming ``source`` and what is
        wrong (also when the entries name two hash types)."""
        pems, hash_type = _pems(text, source)
        if not pems:
            raise ValueError(f"{source} holds no CA certificate")
        by_org: dict[str, list[x509.Certificate]] = {}
        for i, pem in enumerate(pems):
            try:
                ca = _loaded(x509.load_pem_x509_certificate(pem.encode()))
            except ValueError as exc:
                raise ValueError(f"{source}: certificate {i} is not a PEM X.509 certificate") from exc
            org = _attribute(ca.subject, NameOID.ORGANIZATION_NAME)
            if not org:
                raise ValueError(f"{source}: certificate {i} names no organisation (O) in its subject")
            by_org.setdefault(org, []).append(ca)
        return cls({org: tuple(cas) for org, cas in by_org.items()}, hash_type)

    def pems(self) -> list[str]:
        """The CA certificates as PEM, for a light client's trusted state."""
        return [ca.public_bytes(serialization.Encoding.PEM).decode() for cas in self.by_org.values() for ca in cas]


def _pems(text: str, source: str) -> tuple[list[str], str | None]:
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        marker = "-----END CERTIFICATE-----"
        return [part + marker + "\n" for part in text.split(marker) if "-----BEGIN CERTIFICATE-----" in part], None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{source} is neither PEM nor JSON: {exc}") from exc
    items = document.get("trust_roots") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise ValueError(f"{source}: expected a list of CA certificates (or an object with trust_roots)")
    pems = [item.get("org_ca_pem") if isinstance(item, dict) else item for item in items]
    if not all(isinstance(pem, str) for pem in pems):
        raise ValueError(f"{source}: every trust root must be a PEM string (or an object with org_ca_pem)")
    named = {str(item["hash_type"]) for item in items if isinstance(item, dict) and item.get("hash_type")}
    if len(named) > 1:
        raise ValueError(f"{source}: the trust roots name two hash types ({', '.join(sorted(named))})")
    return [str(pem) for pem in pems], named.pop() if named else None


def _loaded(cert: x509.Certificate) -> x509.Certificate:
    """``cert`` with the parts read later parsed now (cryptography parses them lazily); raises ValueError."""
    _ = cert.subject, cert.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc, cert.extensions
    return cert


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


# --------------------------------------------------------------------------- members


def member_certificate(member: Mapping[str, object], where: str) -> x509.Certificate:
    """The certificate of ``member`` (a Member message's values). Raises VerificationError naming
    ``where`` when it carries no certificate or one that is not in canonical PEM."""
    if member.get("member_type") != MEMBER_CERT:
        raise VerificationError(f"{where}: member type {member.get('member_type')} is not a certificate "
                                "(only certificate mode is supported)")
    info = member.get("member_info")
    assert isinstance(info, bytes)
    try:
        cert = _loaded(x509.load_pem_x509_certificate(info))
    except ValueError as exc:
        raise VerificationError(f"{where}: member_info is not a PEM X.509 certificate") from exc
    if cert.public_bytes(serialization.Encoding.PEM) != info:
        raise VerificationError(f"{where}: member_info is not the certificate's canonical PEM")
    return cert


def check_member(cert: x509.Certificate, org_id: str, at: int, roots: TrustRoots, where: str) -> str | None:
    """Check a consensus member's certificate for org ``org_id`` at unix time ``at``; returns a warning
    when the org's CA is not configured (None when it is). Raises VerificationError naming ``where``."""
    if _attribute(cert.subject, NameOID.ORGANIZATION_NAME) != org_id:
        raise VerificationError(f"{where}: the certificate's organisation is not {org_id}")
    roles = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)]
    if CONSENSUS_ROLE not in roles:
        raise VerificationError(f"{where}: the certificate is not a consensus node's (OU {roles})")
    _valid_at(cert, at, where)
    cas = roots.by_org.get(org_id)
    if not cas:
        return (f"no CA certificate configured for org {org_id}: "
                f"the certificate of {where} is not chained to a trust root")
    for ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
            continue
        _valid_at(ca, at, f"{where}'s CA")
        return None
    raise VerificationError(f"{where}: the certificate was not issued by the configured CA of {org_id}")


def _valid_at(cert: x509.Certificate, at: int, where: str) -> None:
    moment = datetime.fromtimestamp(at, UTC)
    if not cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc:
        raise VerificationError(f"{where}: the certificate is not valid at the block's time {moment.isoformat()}")


def verify_signature(cert: x509.Certificate, signature: bytes, message: bytes,
                     digest: Callable[[bytes], bytes], where: str) -> None:
    """Check ``signature`` (DER ECDSA) by ``cert``'s key over ``digest(message)``. Raises
    VerificationError naming ``where`` when it does not verify or the key is not supported."""
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise VerificationError(f"{where}: the certificate's key is not supported (SM2 keys are not)") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise VerificationError(f"{where}: the certificate's key is not an ECDSA key")
    hashed = digest(message)
    try:
        key.verify(signature, hashed, ec.ECDSA(utils.Prehashed(_same_size(len(hashed)))))
    except (InvalidSignature, ValueError) as exc:
        raise VerificationError(f"{where}: the signature does not verify") from exc


def _same_size(size: int) -> hashes.HashAlgorithm:
    """A hash algorithm object of ``size`` bytes: cryptography checks only the digest's length."""
    return hashes.SHA256() if size == 32 else hashes.SHA512()


__all__ = ["CONSENSUS_ROLE", "TrustRoots", "check_member", "member_certificate", "verify_signature"]
