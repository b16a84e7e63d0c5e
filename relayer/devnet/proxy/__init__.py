"""A JSON-RPC proxy in front of one anvil node: injected faults and QBFT sealing.

    python -m relayer.devnet.proxy --upstream URL --port P [--admin-port A] [--seal-qbft KEYS_FILE]

Serves single JSON-RPC requests and batches on ``http://127.0.0.1:P`` (a thread per
connection, HTTP/1.1 keep-alive), forwarding them to ``URL``. On the way it may apply a
fault, tell a lie, or seal the chain as a Besu QBFT chain. One module per job:

- ``faults``   fault plans: the transport faults and how a plan is set, matched and used up
- ``lies``     real answers rewritten, each for the relayer's light client to refuse
- ``sealing``  QBFT sealing of anvil's blocks, hash translation, validator votes
- ``server``   the HTTP server and ``python -m`` (``main``); ``upstream``: the node behind it
- ``control``  ``start_proxy`` / ``stop_proxy`` / ``set_fault`` ... for tests and the devnet

Everything tests and the devnet use is importable from this package.
"""

from relayer.devnet.proxy.common import ADMIN_PATH, HEALTH_PATH, PROXY_MARKER, VALIDATORS_PATH, UpstreamError
from relayer.devnet.proxy.control import (
    ProxyHandle,
    get_fault,
    propose_validator,
    set_fault,
    start_proxy,
    stop_proxy,
    validator_schedule,
)
from relayer.devnet.proxy.faults import REJECTION, REVERT_REASON, TRANSPORT_FAULTS, FaultPlan, Faults, parse_fault
from relayer.devnet.proxy.lies import (
    FAKE_NONCE_OFFSET,
    LIE_FACTOR,
    LIE_RECIPIENT,
    LIES,
    MESSAGE_EVENT_TOPICS,
    MODES,
    ConflictingHeader,
    Lie,
    forged_data,
)
from relayer.devnet.proxy.sealing import QbftSealer, load_validator_keys
from relayer.devnet.proxy.server import Proxy, main, serve
from relayer.devnet.proxy.upstream import Upstream

__all__ = [
    "ADMIN_PATH",
    "FAKE_NONCE_OFFSET",
    "HEALTH_PATH",
    "LIES",
    "LIE_FACTOR",
    "LIE_RECIPIENT",
    "MESSAGE_EVENT_TOPICS",
    "MODES",
    "PROXY_MARKER",
    "REJECTION",
    "REVERT_REASON",
    "TRANSPORT_FAULTS",
    "VALIDATORS_PATH",
    "ConflictingHeader",
    "FaultPlan",
    "Faults",
    "Lie",
    "Proxy",
    "ProxyHandle",
    "QbftSealer",
    "Upstream",
    "UpstreamError",
    "forged_data",
    "get_fault",
    "load_validator_keys",
    "main",
    "parse_fault",
    "propose_validator",
    "serve",
    "set_fault",
    "start_proxy",
    "stop_proxy",
    "validator_schedule",
]
