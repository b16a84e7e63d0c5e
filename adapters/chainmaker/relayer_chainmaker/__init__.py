"""ChainMaker 2.x (TBFT consensus, certificate mode) for the relayer.

Modules, one idea each: ``proto`` (proto3 wire format, declared schemas), ``messages`` (the
ChainMaker messages as schemas), ``blockinfo`` (a BlockInfo JSON as the explorer/SDK serves it),
``hashing`` (the chain's hash choice), ``node_id`` (libp2p peer ids of consensus nodes),
``certs`` (member certificates, org CAs, signatures), ``block`` (block hash and the proposer's
signature), ``qc`` (the TBFT quorum certificate), ``txroot`` (transaction hashes and root),
``client`` (the light client of the ``relayer.light_clients`` entry point ``chainmaker``).
"""
