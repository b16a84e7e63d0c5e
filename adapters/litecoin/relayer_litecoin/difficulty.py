"""The nBits a block must carry (Litecoin Core 0.21 ``pow.cpp``: GetNextWorkRequired,
CalculateNextWorkRequired, CheckProofOfWork), as pure functions of the header chain.

Main and test networks retarget every 2016 blocks towards 3.5 days per period (the actual timespan
clamped to a quarter..four times it). Litecoin's fix of Bitcoin's off-by-one ("Art Forz"): the period's
first block is 2016 blocks back from the last (2015 only for the first retarget after genesis), so every
period's timespan covers a whole period. The intermediate product may need one bit more than 256:
Litecoin shifts the old target right by one before multiplying and back after, which drops its lowest
bit; this module does the same so the result is bit-exact. Testnet (and regtest) allow a block more than
two spacings after its parent to carry the pow limit; otherwise it carries the bits of the last block
of the period that did not use that rule. Regtest never retargets."""

from __future__ import annotations

from collections.abc import Callable

from relayer_litecoin.header import Header, bits_to_target, target_to_bits
from relayer_litecoin.network import Network


def limit_bits(net: Network) -> int:
    """The compact nBits of the network's pow limit."""
    return target_to_bits(net.pow_limit)


def retarget(net: Network, last: Header, first_time: int) -> int:
    """The bits of the first block of a new period (``CalculateNextWorkRequired``): ``last`` is the
    previous period's last header, ``first_time`` the time of the block 2016 back (2015 after genesis)."""
    if net.no_retarget:
        return last.bits
    span = min(max(last.time - first_time, net.timespan // 4), net.timespan * 4)
    target = bits_to_target(last.bits)
    shift = target.bit_length() > net.pow_limit.bit_length() - 1
    if shift:
        target >>= 1
    target = target * span // net.timespan
    if shift:
        target <<= 1
    return target_to_bits(min(target, net.pow_limit))


def required_bits(net: Network, last: Header, last_height: int, new_time: int,
                  anchor_time: Callable[[int], int], normal_bits: int) -> int:
    """The bits the child (at ``last_height + 1``, timestamp ``new_time``) of ``last`` must carry.

    ``anchor_time(height)``: the time of ``last``'s ancestor at ``height``, asked only at a period's end
    for the block 2016 back (2015 after genesis); raises KeyError when unknown. ``normal_bits``: the bits
    of the latest block of ``last``'s period that is the period's first or does not carry the pow limit
    (what Core's walk back over min-difficulty blocks finds; used on testnet and regtest only)."""
    interval = net.interval
    if (last_height + 1) % interval:
        if not net.allow_min_difficulty:
            return last.bits
        if new_time > last.time + 2 * net.spacing:
            return limit_bits(net)
        return normal_bits
    if net.no_retarget:
        return last.bits
    back = interval - 1 if last_height + 1 == interval else interval
    return retarget(net, last, anchor_time(last_height - back))


def is_anchor(net: Network, height: int) -> bool:
    """Whether a later retarget reads the time of the block at ``height`` (a period's last, or genesis)."""
    return height == 0 or height % net.interval == net.interval - 1


def next_normal_bits(net: Network, header: Header, height: int, normal_bits: int) -> int:
    """``normal_bits`` after accepting ``header`` at ``height`` (see ``required_bits``)."""
    if height % net.interval == 0 or header.bits != limit_bits(net):
        return header.bits
    return normal_bits


def check_pow(net: Network, header: Header) -> None:
    """Raises ValueError when ``header``'s nBits is invalid (negative, zero, overflowing, above the pow
    limit) or its scrypt hash is above the target (``CheckProofOfWork``)."""
    target = bits_to_target(header.bits)
    if target == 0 or target > net.pow_limit:
        raise ValueError(f"nBits {header.bits:#010x} is outside the {net.name} network's range")
    if header.pow_hash > target:
        raise ValueError(f"scrypt hash above the target of nBits {header.bits:#010x}")


__all__ = ["check_pow", "is_anchor", "limit_bits", "next_normal_bits", "required_bits", "retarget"]
