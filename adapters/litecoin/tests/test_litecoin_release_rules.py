"""The release rules without a node: the marker, addresses of a network, the partial merkle trees of
``gettxoutproof``, deterministic coin selection and fees, the fee policy, the submitter rotation and the
combination of signatures."""

from __future__ import annotations

import hashlib
import itertools

import pytest
from embit import compact

from relayer_litecoin.address import AddressError, script_of
from relayer_litecoin.block import stripped
from relayer_litecoin.header import sha256d
from relayer_litecoin.marker import Kind, Marker, decode
from relayer_litecoin.merkle import merkle_root
from relayer_litecoin.network import MAIN, REGTEST
from relayer_litecoin.partial_merkle import PartialTreeError, parse
from relayer_litecoin.payload import DepositPayload
from relayer_litecoin.policy import ReleasePolicy, submitters
from relayer_litecoin.release import MIN_OUTPUT, ReleaseError, ReleaseRequest, build, select, vsize
from relayer_litecoin.submitter import combine
from relayer_litecoin.testing import CUSTODY, OPERATORS
from relayer_litecoin.utxo import Outpoint, ProvenUtxo

MARKER = Marker(Kind.RELEASE, hashlib.sha256(b"burn").digest())
TO = str(OPERATORS[0].address)  # an rltc1q... address


def utxo(n: int, value: int) -> ProvenUtxo:
    return ProvenUtxo(Outpoint(hashlib.sha256(bytes([n])).digest(), n % 3), value, 100, b"")


def test_the_marker_round_trips_and_nothing_else_reads_as_one() -> None:
    data = MARKER.encode()
    assert len(data) == 36 and decode(data) == MARKER and MARKER.script() == bytes([0x6A, 36]) + data
    assert str(MARKER) == "release:0x" + MARKER.id.hex()
    for other in (data[:-1], b"rl" + data[2:], data[:2] + b"\x02" + data[3:], data[:3] + b"\x03" + data[4:],
                  DepositPayload(1, bytes(32)).encode()):
        assert decode(other) is None
    with pytest.raises(ValueError):
        Marker(Kind.RETURN, bytes(31))


def test_addresses_of_another_network_are_refused() -> None:
    assert script_of(TO, REGTEST)[:2] == b"\x00\x14"
    with pytest.raises(AddressError, match="regtest"):
        script_of(str(OPERATORS[0].address).replace("rltc", "ltc"), REGTEST)
    main = str(CUSTODY.address(MAIN))
    assert script_of(main, MAIN) == CUSTODY.script_pubkey
    with pytest.raises(AddressError):
        script_of(main, REGTEST)
    assert script_of("LM2WMpR1Rp6j3Sa59cMXMs1SPzj9eXpGc1", MAIN)[:3] == b"\x76\xa9\x14"  # Litecoin P2PKH
    with pytest.raises(AddressError, match="prefix"):
        script_of("1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", MAIN)  # Bitcoin's P2PKH


def partial_tree(leaves: list[bytes], matched: set[int]) -> bytes:
    """A CMerkleBlock's tree part as Litecoin Core's CPartialMerkleTree::TraverseAndBuild writes it."""
    total, bits, hashes = len(leaves), [], []

    def width(height: int) -> int:
        return (total + (1 << height) - 1) >> height

    def node(height: int, pos: int) -> bytes:
        if height == 0:
            return leaves[pos]
        left = node(height - 1, pos * 2)
        right = node(height - 1, pos * 2 + 1) if pos * 2 + 1 < width(height - 1) else left
        return sha256d(left + right)

    def build(height: int, pos: int) -> None:
        parent = any(pos << height <= i < (pos + 1) << height for i in matched)
        bits.append(parent)
        if height == 0 or not parent:
            hashes.append(node(height, pos))
        else:
            build(height - 1, pos * 2)
            if pos * 2 + 1 < width(height - 1):
                build(height - 1, pos * 2 + 1)

    height = 0
    while width(height) > 1:
        height += 1
    build(height, 0)
    flags = bytes(sum(b << i for i, b in enumerate(bits[j:j + 8])) for j in range(0, len(bits), 8))
    counted: bytes = compact.to_bytes(len(hashes))
    flagged: bytes = compact.to_bytes(len(flags))
    return total.to_bytes(4, "little") + counted + b"".join(hashes) + flagged + flags


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 11])
def test_a_partial_merkle_tree_leads_to_the_root_and_names_its_matches(count: int) -> None:
    leaves = [sha256d(bytes([i])) for i in range(count)]
    for index in range(count):
        proof = parse(bytes(80) + partial_tree(leaves, {index}))
        assert proof.root == merkle_root(leaves) and proof.matches == {leaves[index]: index}


def test_malformed_partial_merkle_trees_are_refused() -> None:
    leaves = [sha256d(bytes([i])) for i in range(5)]
    good = partial_tree(leaves, {3})
    for bad, why in ((good + b"\x00", "left over"), (good[:-1], "short|malformed"),
                     (bytes(4) + good[4:], "malformed")):
        with pytest.raises(PartialTreeError, match=why):
            parse(bytes(80) + bad)
    count = good[4]  # one hash more, declared: unused
    extra = good[:4] + bytes([count + 1]) + good[5:5 + 32 * count] + bytes(32) + good[5 + 32 * count:]
    with pytest.raises(PartialTreeError, match="unused"):
        parse(bytes(80) + extra)
    twin = [leaves[0], leaves[1], leaves[2], leaves[2]]  # CVE-2012-2459: a duplicated last pair
    with pytest.raises(PartialTreeError, match="identical"):
        parse(bytes(80) + partial_tree(twin, {3}))


def test_coin_selection_is_a_pure_function_of_the_outputs() -> None:
    candidates = [utxo(1, 30_000_000), utxo(2, 100_000_000), utxo(3, 30_000_000), utxo(4, 5_000)]
    request = ReleaseRequest(MARKER, TO, 120_000_000)
    txs = {build(request, list(order), CUSTODY, REGTEST, 10).tx.serialize()
           for order in itertools.permutations(candidates)}
    assert len(txs) == 1
    inputs, change = select(candidates, 120_000_000)
    equal = sorted([candidates[0], candidates[2]], key=lambda u: u.outpoint)  # equal values: by outpoint
    assert inputs == [candidates[1], equal[0]] and change == 10_000_000
    # a change below MIN_OUTPUT takes the next output; an exact amount makes no change output
    assert select(candidates, 130_000_000 - MIN_OUTPUT + 1) == ([candidates[1], equal[0], equal[1]],
                                                                30_000_000 + MIN_OUTPUT - 1)
    exact = build(ReleaseRequest(MARKER, TO, 130_000_000), candidates, CUSTODY, REGTEST, 10)
    assert exact.change == 0 and len(exact.tx.vout) == 2
    with pytest.raises(ReleaseError, match="cannot pay"):
        select(candidates, 200_000_000)
    with pytest.raises(ReleaseError, match="below"):
        build(ReleaseRequest(MARKER, TO, 10_000), candidates, CUSTODY, REGTEST, 10)


def test_the_fee_is_the_rate_times_the_largest_signed_size() -> None:
    one = build(ReleaseRequest(MARKER, TO, 50_000_000), [utxo(1, 100_000_000)], CUSTODY, REGTEST, 10)
    # 2-of-3 P2WSH input, P2WPKH recipient, 36-byte OP_RETURN, P2WSH change: 236 vbytes
    assert one.vsize == 236 and one.fee == 2_360 and one.paid == 50_000_000 - 2_360
    assert one.tx.vout[0].value + one.tx.vout[2].value + one.fee == 100_000_000
    # weight 4 x 172 + 2 + 254 (witness: count, empty item, 2 x (1 + 72), script length and 105 bytes) = 944;
    # each more input adds 4 x 41 + 254 weight
    scripts = [script_of(TO, REGTEST), MARKER.script(), CUSTODY.script_pubkey]
    assert vsize(CUSTODY, 2, scripts) == (944 + 4 * 41 + 254 + 3) // 4 == 341
    base = one.tx.serialize()
    assert len(stripped(one.tx)) == len(base)  # unsigned: no witness yet


def test_the_fee_policy_steps_up_to_its_maximum() -> None:
    policy = ReleasePolicy(fee_rate=10, max_fee_rate=40, bump_factor=150)
    rates = [10]
    while (nxt := policy.next_rate(rates[-1])) is not None:
        rates.append(nxt)
    assert rates == [10, 15, 22, 33, 40]
    assert ReleasePolicy(fee_rate=1, max_fee_rate=5, bump_factor=101).next_rate(1) == 2  # at least one more


def test_the_designated_submitter_rotates_with_the_message_id() -> None:
    firsts = {submitters(CUSTODY, Marker(Kind.RELEASE, i.to_bytes(32, "big")))[0] for i in range(3)}
    assert firsts == set(CUSTODY.keys)
    order = submitters(CUSTODY, Marker(Kind.RELEASE, (4).to_bytes(32, "big")))
    assert order == [CUSTODY.keys[1], CUSTODY.keys[2], CUSTODY.keys[0]]


def test_combining_keeps_only_signatures_that_verify() -> None:
    release = build(ReleaseRequest(MARKER, TO, 50_000_000), [utxo(1, 100_000_000)], CUSTODY, REGTEST, 10)
    digest = CUSTODY.sighash(release.tx, 0, 100_000_000)

    def signed_by(signer: object, over: bytes) -> str:
        from embit.ec import PublicKey

        psbt = release.psbt(CUSTODY)
        psbt.inputs[0].partial_sigs[PublicKey.parse(signer.public_key)] = signer.sign_digest(over) + b"\x01"  # type: ignore[attr-defined]
        return str(psbt.to_base64())

    good = [signed_by(OPERATORS[0], digest), signed_by(OPERATORS[2], digest)]
    tx = combine(release, CUSTODY, good)
    assert tx.txid() == release.tx.txid() and len(tx.vin[0].witness.items) == 4
    with pytest.raises(ReleaseError, match="1 custody signatures; 2 needed"):
        combine(release, CUSTODY, [good[0], signed_by(OPERATORS[1], bytes(32))])
