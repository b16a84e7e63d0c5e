"""Consensus parameters of Litecoin's networks (Litecoin Core 0.21 ``chainparams.cpp``) and the
address parameters embit needs to write Litecoin addresses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Network:
    """What the light client and the address code need of one network.

    ``pow_limit``: the easiest target; ``timespan``/``spacing``: seconds per difficulty period and
    per block; ``allow_min_difficulty``: testnet's rule (a block more than two spacings after its
    parent may carry the pow limit); ``no_retarget``: regtest keeps its parent's bits at a period's
    end; ``genesis``: the genesis block hash as the RPC prints it; ``embit``: embit's network dict."""

    name: str
    pow_limit: int
    timespan: int
    spacing: int
    allow_min_difficulty: bool
    no_retarget: bool
    genesis: str
    embit: dict[str, Any]

    @property
    def interval(self) -> int:
        """Blocks per difficulty period (2016)."""
        return self.timespan // self.spacing


_TIMESPAN = 7 * 24 * 60 * 60 // 2  # 3.5 days
_SPACING = 150  # 2.5 minutes

# embit's network dicts for Litecoin (bech32 "ltc"/"tltc"/"rltc"; base58 prefixes of Litecoin Core;
# the extended-key versions are Bitcoin's, which Litecoin Core also uses since 0.17).
_EMBIT_MAIN = {"name": "Litecoin", "wif": b"\xb0", "p2pkh": b"\x30", "p2sh": b"\x32", "bech32": "ltc",
               "xprv": b"\x04\x88\xad\xe4", "xpub": b"\x04\x88\xb2\x1e", "bip32": 2}
_EMBIT_TEST = {"name": "Litecoin Testnet", "wif": b"\xef", "p2pkh": b"\x6f", "p2sh": b"\x3a", "bech32": "tltc",
               "xprv": b"\x04\x35\x83\x94", "xpub": b"\x04\x35\x87\xcf", "bip32": 1}
_EMBIT_REGTEST = dict(_EMBIT_TEST, name="Litecoin Regtest", bech32="rltc")

MAIN = Network("main", (1 << 236) - 1, _TIMESPAN, _SPACING, False, False,
               "12a765e31ffd4059bada1e25190f6e98c99d9714d334efa41a195a7e7e04bfe2", _EMBIT_MAIN)
TEST = Network("test", (1 << 236) - 1, _TIMESPAN, _SPACING, True, False,
               "4966625a4b2851d9fdee139e56211a0d88575f59ed816ff5e6a63deb4e3e29a0", _EMBIT_TEST)
REGTEST = Network("regtest", (1 << 255) - 1, _TIMESPAN, _SPACING, True, True,
                  "530827f38f93b43ed12af0b3ad25a288dc02ed74d6d7857862df51fc56c416f9", _EMBIT_REGTEST)

NETWORKS: dict[str, Network] = {n.name: n for n in (MAIN, TEST, REGTEST)}


def network(name: str) -> Network:
    """The network called ``name`` (main, test, regtest). Raises KeyError for another name."""
    return NETWORKS[name]


__all__ = ["MAIN", "NETWORKS", "REGTEST", "TEST", "Network", "network"]
