"""ChainMaker 2.x (TBFT consensus, certificate mode) for the relayer.

Modules, one idea each: ``proto`` (proto3 wire format, declared schemas), ``messages`` (the
ChainMaker messages as schemas), ``blockinfo`` (a BlockInfo JSON as the SDK / explorer serves it),
``hashing`` (the chain's hash choice), ``node_id`` (libp2p peer ids of consensus nodes),
``certs`` (member certificates, org CAs, signatures), ``block`` (block hash and the proposer's
signature), ``qc`` (the TBFT quorum certificate), ``txroot`` (transaction hashes, DAG and root),
``verify`` (one block judged against the trusted configuration), ``events`` (contract events and
transaction proofs), ``client`` (the light client of the ``relayer.light_clients`` entry point
``chainmaker``).
"""
