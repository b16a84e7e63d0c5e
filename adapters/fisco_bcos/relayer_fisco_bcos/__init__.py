"""FISCO BCOS 3.x for the relayer: header codec and hash (keccak256 and SM3), sealer signatures
(secp256k1 and SM2), weighted quorum, the light client, binary Merkle receipt and transaction
proofs and the JSON-RPC 3.x adapter. Imports from the relayer only ``relayer.contract``,
``relayer.errors`` and ``relayer.types``."""
