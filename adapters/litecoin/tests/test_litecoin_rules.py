"""The Litecoin light client's rules without a node: the main-net genesis header (public: Litecoin Core's
chainparams), compact targets, merkle branches, and the difficulty rules on generated headers.

The retarget arithmetic is checked against the main-net values of Litecoin Core 0.21's own unit tests
(src/test/pow_tests.cpp: the last block of a period, its time and nBits, the time of the block the
retarget reads, the expected nBits); the rule on whole header chains is tested on generated headers,
since no public main-net run of a whole period is in the repository or the shared vectors. The
generated chains use a network with Litecoin's rules but an 8-block period and an easy pow limit, so
each header is mined in a few scrypt hashes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from relayer.contract import CandidateHeader, VerifiedHeader
from relayer.errors import BrokenLinkError, ConfigError, VerificationError
from relayer_litecoin.client import LitecoinLightClient, encode
from relayer_litecoin.difficulty import limit_bits, required_bits, retarget
from relayer_litecoin.header import Header, bits_to_target, target_to_bits
from relayer_litecoin.merkle import merkle_branch, merkle_root, root_from_branch
from relayer_litecoin.network import MAIN, REGTEST, TEST, Network

GENESIS = Header(1, bytes(32), bytes.fromhex("97ddfbbae6be97fd6cdf3e7ca13232a3afff2353e29badfab7f73011edd4ced9"),
                 1317972665, 0x1E0FFFF0, 2084524493)

# Litecoin's rules, an 8-block period (timespan 8 spacings), regtest's pow limit
SMALL = Network("small", REGTEST.pow_limit >> 4, 8 * 150, 150, False, False, "", REGTEST.embit)
SMALL_TEST = replace(SMALL, name="small-test", allow_min_difficulty=True)


def test_mainnet_genesis_hash_and_scrypt_proof_of_work() -> None:
    assert GENESIS.hash.hex() == MAIN.genesis
    assert GENESIS.pow_hash <= GENESIS.target
    assert Header.parse(GENESIS.serialize()) == GENESIS
    client = LitecoinLightClient.from_options("ltc", 1, 6, {"network": "main"})
    v = client.check_header(CandidateHeader(0, GENESIS.hash, encode(0, GENESIS), GENESIS))
    assert (v.hash, v.commitment, v.timestamp) == (GENESIS.hash, GENESIS.merkle_root, GENESIS.time)
    lied = replace(GENESIS, nonce=GENESIS.nonce + 1)  # its own hash claimed: the proof of work fails
    with pytest.raises(VerificationError, match="proof of work"):
        client.check_header(CandidateHeader(0, lied.hash, encode(0, lied), lied))
    with pytest.raises(VerificationError, match="not the one claimed"):
        client.check_header(CandidateHeader(0, GENESIS.hash, encode(0, lied), lied))


def test_compact_targets() -> None:
    assert target_to_bits(MAIN.pow_limit) == 0x1E0FFFFF
    assert target_to_bits(REGTEST.pow_limit) == 0x207FFFFF
    for bits in (0x1E0FFFF0, 0x1C0AC141, 0x1B0404CB, 0x207FFFFF):
        assert target_to_bits(bits_to_target(bits)) == bits
    with pytest.raises(ValueError):
        bits_to_target(0x04923456)  # negative


def test_merkle_branches_prove_every_position() -> None:
    leaves = [bytes([i]) * 32 for i in range(7)]
    root = merkle_root(leaves)
    for i, leaf in enumerate(leaves):
        assert root_from_branch(leaf, merkle_branch(leaves, i), i) == root
    assert root_from_branch(leaves[1], merkle_branch(leaves, 1), 0) != root
    with pytest.raises(ValueError):
        root_from_branch(leaves[0], merkle_branch(leaves, 0), 1 << 3)  # an index deeper than the branch
    with pytest.raises(ValueError, match="CVE-2012-2459"):
        merkle_root([leaves[0], leaves[1], leaves[1]] + [leaves[1]])
    assert merkle_root([leaves[0]]) == leaves[0]


@pytest.mark.parametrize(("first_time", "last_time", "bits", "expected"), [
    (1358118740, 1358378777, 0x1C0AC141, 0x1C093F8D),  # block 280223: no clamp
    (1317972665, 1318480354, 0x1E0FFFF0, 0x1E0FFFFF),  # block 2015 (first retarget): capped at the pow limit
    (1401682934, 1401757934, 0x1B075CF1, 0x1B01D73C),  # block 578591: a quarter of the timespan at least
    (1463690315, 1464900315, 0x1B015318, 0x1B054C60),  # four times the timespan at most (made-up first time)
])
def test_retarget_matches_litecoin_cores_main_net_values(first_time: int, last_time: int, bits: int,
                                                          expected: int) -> None:
    last = Header(1, bytes(32), bytes(32), last_time, bits, 0)
    assert retarget(MAIN, last, first_time) == expected


def test_retarget_arithmetic_on_main_parameters() -> None:
    last = Header(1, bytes(32), bytes(32), 10_000_000, 0x1C0AC141, 0)
    target = bits_to_target(last.bits)
    assert retarget(MAIN, last, last.time - MAIN.timespan) == last.bits  # on schedule: unchanged
    assert bits_to_target(retarget(MAIN, last, last.time - MAIN.timespan // 2)) == target_of(target // 2)
    # clamped at a quarter and four times the timespan
    assert retarget(MAIN, last, last.time - 1) == retarget(MAIN, last, last.time - MAIN.timespan // 4)
    assert retarget(MAIN, last, last.time - 100 * MAIN.timespan) == target_to_bits(target * 4)
    easy = replace(last, bits=target_to_bits(MAIN.pow_limit))  # never easier than the pow limit
    assert retarget(MAIN, easy, easy.time - 4 * MAIN.timespan) == target_to_bits(MAIN.pow_limit)
    assert retarget(REGTEST, easy, 0) == easy.bits  # regtest never retargets


def target_of(target: int) -> int:
    return bits_to_target(target_to_bits(target))


def test_the_first_block_of_a_period_is_2016_back_2015_after_genesis() -> None:
    asked: list[int] = []

    def anchor(height: int) -> int:
        asked.append(height)
        return 0

    last = Header(1, bytes(32), bytes(32), MAIN.timespan, 0x1C0AC141, 0)
    required_bits(MAIN, last, 2015, last.time + 1, anchor, last.bits)
    required_bits(MAIN, last, 4031, last.time + 1, anchor, last.bits)
    assert asked == [0, 2015]  # Bitcoin would read 0 and 2016
    assert required_bits(MAIN, last, 4000, last.time + 1, anchor, 0) == last.bits  # inside a period


def test_testnet_min_difficulty_rule() -> None:
    limit = limit_bits(TEST)
    last = Header(1, bytes(32), bytes(32), 1_000_000, limit, 0)  # itself a min-difficulty block
    anchor: dict[int, int] = {}
    assert required_bits(TEST, last, 5000, last.time + 301, anchor.__getitem__, 0x1C0AC141) == limit
    assert required_bits(TEST, last, 5000, last.time + 300, anchor.__getitem__, 0x1C0AC141) == 0x1C0AC141
    # main net has no min-difficulty rule: the parent's bits
    assert required_bits(MAIN, last, 5000, last.time + 10_000, anchor.__getitem__, 0x1C0AC141) == limit


# --------------------------------------------------------------------------- generated chains


def mine(net: Network, parent: Header, bits: int, time: int) -> Header:
    header = Header(0x20000000, parent.hash, bytes(32), time, bits, 0)
    target = bits_to_target(bits)
    while header.pow_hash > target:
        header = replace(header, nonce=header.nonce + 1)
    return header


def generated_chain(net: Network, count: int, step: int, start: Header | None = None) -> list[Header]:
    """``count`` headers after ``start``, ``step`` seconds apart, each with the bits the rules require."""
    genesis = start or mine(net, Header(1, bytes(32), bytes(32), 0, 0, 0), limit_bits(net), 1_000_000)
    chain = [genesis]
    times = {0: genesis.time}
    normal = genesis.bits
    for height in range(1, count):
        parent = chain[-1]
        bits = required_bits(net, parent, height - 1, parent.time + step, times.__getitem__, normal)
        header = mine(net, parent, bits, parent.time + step)
        chain.append(header)
        times[height] = header.time
        if height % net.interval == 0 or header.bits != limit_bits(net):
            normal = header.bits
    return chain


def verified_chain(client: LitecoinLightClient, chain: list[Header], first: int = 0) -> list[VerifiedHeader]:
    return [client.check_header(CandidateHeader(first + i, h.hash, encode(first + i, h), h)) for i, h in
            enumerate(chain)]


def test_the_client_follows_a_retargeting_chain_and_refuses_wrong_bits() -> None:
    chain = generated_chain(SMALL, 26, 75)  # blocks twice as fast as the schedule: difficulty rises
    assert len({h.bits for h in chain}) > 2, "the generated chain never retargeted"
    client = LitecoinLightClient("small", 1, 2, SMALL)
    headers = verified_chain(client, chain)
    client.accept(headers)
    assert client.head_number == 25 and client.chainwork == sum(h.work for h in chain)
    # the same chain with the retarget skipped at block 8: its bits are refused
    forged = LitecoinLightClient("small", 1, 2, SMALL)
    forged.accept(headers[:8])
    wrong = mine(SMALL, chain[7], chain[7].bits, chain[8].time)
    with pytest.raises(VerificationError, match="required"):
        forged.accept(verified_chain(forged, [wrong], 8))
    assert forged.head_number == 7


def test_a_checkpoint_inside_a_period_needs_the_anchor_time() -> None:
    chain = generated_chain(SMALL, 20, 75)
    bare = LitecoinLightClient("small", 1, 2, SMALL)
    bare.accept(verified_chain(bare, chain[10:16], 10))
    # block 16's retarget reads block 7 (16 - 1 - 8), below checkpoint 10: unknown without the option
    with pytest.raises(VerificationError, match="anchor_time"):
        bare.accept(verified_chain(bare, chain[16:], 16))
    assert bare.head_number == 15
    client = LitecoinLightClient("small", 1, 2, SMALL, anchor_time=chain[7].time)
    client.accept(verified_chain(client, chain[10:], 10))
    assert client.head_number == 19


def test_testnet_rule_on_a_generated_chain() -> None:
    slow = generated_chain(SMALL_TEST, 6, 400)  # every block more than two spacings late: pow limit
    assert all(h.bits == limit_bits(SMALL_TEST) for h in slow[1:])
    client = LitecoinLightClient("small", 1, 2, SMALL_TEST)
    client.accept(verified_chain(client, slow))
    assert client.head_number == 5


def test_links_gaps_median_time_and_most_work() -> None:
    chain = generated_chain(SMALL, 14, 150)
    client = LitecoinLightClient("small", 1, 2, SMALL)
    headers = verified_chain(client, chain)
    client.accept(headers[:12])
    with pytest.raises(VerificationError):
        client.accept(headers[13:])  # a gap
    other = mine(SMALL, chain[10], chain[11].bits, chain[11].time + 1)
    with pytest.raises(BrokenLinkError):
        client.accept(verified_chain(client, [other], 12))  # block 12 not on block 11
    early = mine(SMALL, chain[11], chain[12].bits, chain[0].time)
    with pytest.raises(VerificationError, match="median"):
        client.accept(verified_chain(client, [early], 12))
    assert client.head_number == 11
    short = verified_chain(client, [chain[12]], 12)
    long = verified_chain(client, chain[12:14], 12)
    assert client.best_branch([short, long]) == long
    assert client.best_branch([long, short]) == long
    assert client.head_number == 11, "best_branch accepted something"


def test_state_round_trip_and_options() -> None:
    chain = generated_chain(SMALL, 12, 150)
    client = LitecoinLightClient("small", 7, 2, SMALL)
    client.accept(verified_chain(client, chain))
    state = client.trusted_state()
    with pytest.raises(VerificationError):
        LitecoinLightClient.from_trusted_state("small", 8, 2, state)
    with pytest.raises(ConfigError, match="chains.ltc.light_client_options.network"):
        LitecoinLightClient.from_options("ltc", 1, 2, {"network": "mars"})
    with pytest.raises(ConfigError, match="chains.ltc.light_client_options.checkpoint"):
        LitecoinLightClient.from_options("ltc", 1, 2, {"network": "main", "checkpoint": "12"})
    pinned = LitecoinLightClient.from_options("ltc", 1, 2, {"network": "regtest", "checkpoint": "00" * 32})
    regtest_genesis = Header(1, bytes(32), bytes(32), 0, 0x207FFFFF, 0)
    with pytest.raises(VerificationError, match="checkpoint"):
        pinned.accept([pinned.known_header(encode(0, regtest_genesis), regtest_genesis.hash)])
