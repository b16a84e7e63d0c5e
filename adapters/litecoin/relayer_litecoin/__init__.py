"""Litecoin for the relayer, in its own distribution (``relayer-litecoin``).

Modules: :mod:`network` (consensus parameters of main, test and regtest), :mod:`header` (80-byte
headers, sha256d ids, scrypt proof of work), :mod:`difficulty` (the nBits rules), :mod:`merkle`
(sha256d merkle branches), :mod:`client` (the SPV light client), :mod:`payload` (the deposit's
OP_RETURN), :mod:`custody` (the operators' P2WSH M-of-N), :mod:`deposits`, :mod:`rpc`,
:mod:`source`, :mod:`adapter`, :mod:`keys` and :mod:`regtest` (a litecoind launcher for tests).
It imports from the relayer only ``relayer.contract``, ``relayer.errors``, ``relayer.types`` and
``relayer.config_schema``.
"""
