"""The ChainMaker 2.3 messages a light client reads, as :mod:`proto` schemas.

From chainmaker-pb (``common/block.proto``, ``common/transaction.proto``, ``common/result.proto``,
``common/request.proto``, ``accesscontrol/member.proto``, ``consensus/tbft/tbft.proto``), with the
field numbers and names those files give. Only what the block hash, the transaction hashes and
the TBFT quorum certificate need is declared.
"""

from __future__ import annotations

from relayer_chainmaker.proto import Field, Kind, Schema

U, SI, S, Y, M = Kind.UINT, Kind.INT, Kind.STRING, Kind.BYTES, Kind.MESSAGE

MEMBER = Schema("Member", (
    Field(1, "org_id", S),
    Field(2, "member_type", U),  # 0 CERT (member_info: PEM), 1 CERT_HASH, 2 PUBLIC_KEY, 3 DID, ...
    Field(3, "member_info", Y),
))

BLOCK_HEADER = Schema("BlockHeader", (
    Field(1, "block_version", U),
    Field(2, "block_type", U),
    Field(3, "chain_id", S),
    Field(4, "block_height", U),
    Field(5, "block_hash", Y),
    Field(6, "pre_block_hash", Y),
    Field(7, "pre_conf_height", U),
    Field(8, "tx_count", U),
    Field(9, "tx_root", Y),
    Field(10, "dag_hash", Y),
    Field(11, "rw_set_root", Y),
    Field(12, "block_timestamp", SI),
    Field(13, "consensus_args", Y),
    Field(14, "proposer", M, MEMBER),
    Field(15, "signature", Y),
))

ENDORSEMENT = Schema("EndorsementEntry", (
    Field(1, "signer", M, MEMBER),
    Field(2, "signature", Y),
))

KEY_VALUE = Schema("KeyValuePair", (Field(1, "key", S), Field(2, "value", Y)))
LIMIT = Schema("Limit", (Field(1, "gas_limit", U),))

PAYLOAD = Schema("Payload", (
    Field(1, "chain_id", S),
    Field(2, "tx_type", U),
    Field(3, "tx_id", S),
    Field(4, "timestamp", SI),
    Field(5, "expiration_time", SI),
    Field(6, "contract_name", S),
    Field(7, "method", S),
    Field(8, "parameters", M, KEY_VALUE, repeated=True),
    Field(9, "sequence", U),
    Field(10, "limit", M, LIMIT),
))

CONTRACT_EVENT = Schema("ContractEvent", (
    Field(1, "topic", S),
    Field(2, "tx_id", S),
    Field(3, "contract_name", S),
    Field(4, "contract_version", S),
    Field(5, "event_data", S, repeated=True),
))

CONTRACT_RESULT = Schema("ContractResult", (
    Field(1, "code", U),
    Field(2, "result", Y),
    Field(3, "message", S),
    Field(4, "gas_used", U),
    Field(5, "contract_event", M, CONTRACT_EVENT, repeated=True),
))

RESULT = Schema("Result", (
    Field(1, "code", U),
    Field(2, "contract_result", M, CONTRACT_RESULT),
    Field(3, "rw_set_hash", Y),
    Field(4, "message", S),
))

TRANSACTION = Schema("Transaction", (
    Field(1, "payload", M, PAYLOAD),
    Field(2, "sender", M, ENDORSEMENT),
    Field(3, "endorsers", M, ENDORSEMENT, repeated=True),
    Field(4, "result", M, RESULT),
    Field(5, "payer", M, ENDORSEMENT),
))

# --------------------------------------------------------------------------- TBFT

VOTE_PRECOMMIT = 1

VOTE = Schema("Vote", (
    Field(1, "type", U),  # 0 PREVOTE, 1 PRECOMMIT
    Field(2, "voter", S),  # the voting node's id (libp2p peer id)
    Field(3, "height", U),
    Field(4, "round", SI),
    Field(5, "hash", Y),  # the block hash voted for
    Field(6, "endorsement", M, ENDORSEMENT),  # left out of what the voter signs
))

VOTE_ENTRY = Schema("VoteSet.VotesEntry", (Field(1, "key", S), Field(2, "value", M, VOTE)))

BLOCK_VOTES = Schema("BlockVotes", (
    Field(1, "votes", M, VOTE_ENTRY, repeated=True),
    Field(2, "sum", U),
))

BLOCK_VOTES_ENTRY = Schema("VoteSet.VotesByBlockEntry", (Field(1, "key", S), Field(2, "value", M, BLOCK_VOTES)))

VOTE_SET = Schema("VoteSet", (
    Field(1, "type", U),
    Field(2, "height", U),
    Field(3, "round", SI),
    Field(4, "sum", U),
    Field(5, "maj23", Y),
    Field(6, "votes", M, VOTE_ENTRY, repeated=True),
    Field(7, "votes_by_block", M, BLOCK_VOTES_ENTRY, repeated=True),
))

# --------------------------------------------------------------------------- DAG

NEIGHBOR = Schema("DAG.Neighbor", (Field(1, "neighbors", U, repeated=True),))
DAG = Schema("DAG", (Field(2, "vertexes", M, NEIGHBOR, repeated=True),))

__all__ = ["BLOCK_HEADER", "DAG", "ENDORSEMENT", "MEMBER", "TRANSACTION", "VOTE", "VOTE_PRECOMMIT", "VOTE_SET"]
