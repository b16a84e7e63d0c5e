"""SM3 (hashlib, OpenSSL) and SM2 (gmssl-pyx, GmSSL) against the standards' worked examples as
OpenSSL's tests carry them (shared vectors ``sm/sm2_sm3_standard.json``), and SM2 sealer signatures
the way a FISCO BCOS SM chain makes them."""

from __future__ import annotations

from typing import Any

import pytest

from relayer_fisco_bcos import sm2
from relayer_fisco_bcos.hashing import Crypto, sm3
from relayer_fisco_bcos.signatures import SignatureError, check_signature


def test_sm3_digests_of_the_standard(sm_vectors: dict[str, Any]) -> None:
    cases = sm_vectors["sm3"]["vectors"]
    assert len(cases) == 2
    for case in cases:
        assert sm3(bytes.fromhex(case["msg_hex"])).hex() == case["digest"]
    assert Crypto.SM.hasher is sm3


def test_sm2_za_and_e_of_the_standard_example(sm_vectors: dict[str, Any]) -> None:
    case = sm_vectors["sm2_sign"]
    public_key = bytes.fromhex(case["pub_xy"])
    assert case["uid"].encode() == sm2.DEFAULT_USER_ID
    assert sm2.za(public_key).hex() == case["za"]
    assert sm2.message_digest(public_key, case["msg"].encode()).hex() == case["e"]


def test_sm2_standard_signature_verifies_and_alterations_do_not(sm_vectors: dict[str, Any]) -> None:
    case = sm_vectors["sm2_sign"]
    public_key = bytes.fromhex(case["pub_xy"])
    message = case["msg"].encode()
    signature = bytes.fromhex(case["r"] + case["s"])
    assert sm2.verify(public_key, message, signature)
    assert not sm2.verify(public_key, message + b".", signature)
    assert not sm2.verify(public_key, message, signature, user_id=b"another id")
    for position in (0, 31, 32, 63):
        altered = bytearray(signature)
        altered[position] ^= 0x01
        assert not sm2.verify(public_key, message, bytes(altered))
    assert not sm2.verify(public_key, message, signature[:63])


def test_sm2_sign_with_the_standard_key_then_verify(sm_vectors: dict[str, Any]) -> None:
    case = sm_vectors["sm2_sign"]
    private_key, public_key = bytes.fromhex(case["priv"]), bytes.fromhex(case["pub_xy"])
    sm2.check_key_pair(private_key, public_key)
    signature = sm2.sign(private_key, public_key, b"\x11" * 32)
    assert len(signature) == 64 and sm2.verify(public_key, b"\x11" * 32, signature)
    with pytest.raises(ValueError, match="does not belong"):
        sm2.check_key_pair(private_key, sm2.generate_key()[1])


def test_sm2_sealer_signature_over_a_header_hash() -> None:
    private_key, node_id = sm2.generate_key()
    digest = sm3(b"a header")
    signature = sm2.sign(private_key, node_id, digest)
    check_signature(Crypto.SM, node_id, digest, signature)
    check_signature(Crypto.SM, node_id, digest, signature + node_id)  # FISCO's r||s||public key form
    with pytest.raises(SignatureError, match="public key part is not the sealer's"):
        check_signature(Crypto.SM, node_id, digest, signature + bytes(64))
    with pytest.raises(SignatureError, match="does not verify"):
        check_signature(Crypto.SM, sm2.generate_key()[1], digest, signature)
    with pytest.raises(SignatureError, match="64 bytes"):
        check_signature(Crypto.SM, node_id, digest, signature[:40])


def test_sm2_signer_plays_the_contract_signer(sm_vectors: dict[str, Any]) -> None:
    from relayer.contract import KeyType, Signer
    from relayer_fisco_bcos.signer import Sm2Signer

    case = sm_vectors["sm2_sign"]
    private_key, public_key = bytes.fromhex(case["priv"]), bytes.fromhex(case["pub_xy"])
    signer = Sm2Signer(private_key, public_key)
    assert isinstance(signer, Signer) and signer.key_type is KeyType.SM2
    assert signer.address == "0x" + sm3(public_key)[12:].hex() and len(signer.address) == 42
    digest = sm3(b"a block")
    signature = signer.sign_digest(digest)
    check_signature(Crypto.SM, public_key, digest, signature)  # what a FISCO SM sealer's seal is checked by
    assert signer.sign_digest(digest) != signature  # a fresh k each time
    with pytest.raises(ValueError, match="32 bytes"):
        signer.sign_digest(b"short")
    assert case["priv"] not in repr(signer)
    with pytest.raises(ValueError, match="does not belong"):
        Sm2Signer(private_key, Sm2Signer.generate().public_key)
