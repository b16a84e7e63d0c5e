// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @notice One cross-chain message as it travels: `MessageSent(id, abi.encode(envelope))`.
/// Addresses are left-padded to bytes32 (uint256(uint160(addr))) so non-EVM chains fit.
struct Envelope {
    uint8 version; // Envelopes.VERSION
    uint8 kind; // Envelopes.KIND_MESSAGE or KIND_ACK
    uint64 nonce; // per sending MessageLayer, from 1
    uint64 sourceChain;
    bytes32 sourceLayer; // the sending MessageLayer
    bytes32 sender; // the sending application (the layer itself for an acknowledgement)
    uint64 destinationChain;
    bytes32 destinationLayer; // the one MessageLayer where the message is valid
    bytes32 recipient;
    uint64 gasLimit; // exact gas for the recipient's handler
    uint64 expiry; // unix seconds; 0 = never
    uint8 ackMode; // ACK_NONE, ACK_ON_FAILURE, ACK_ALWAYS
    bytes body;
}

/// @title Envelopes: constants, encoding and ids of message envelopes.
library Envelopes {
    uint8 internal constant VERSION = 1;
    uint8 internal constant KIND_MESSAGE = 0;
    uint8 internal constant KIND_ACK = 1;

    uint8 internal constant ACK_NONE = 0;
    uint8 internal constant ACK_ON_FAILURE = 1;
    uint8 internal constant ACK_ALWAYS = 2;

    uint8 internal constant OUTCOME_NONE = 0;
    uint8 internal constant OUTCOME_DELIVERED = 1;
    uint8 internal constant OUTCOME_FAILED = 2;
    uint8 internal constant OUTCOME_EXPIRED = 3;

    /// @notice The wire form of `e`: abi.encode(e).
    function encode(Envelope memory e) internal pure returns (bytes memory) {
        return abi.encode(e);
    }

    /// @notice The envelope in `data` (abi.encode of an Envelope); reverts when it does not decode.
    function decode(bytes memory data) internal pure returns (Envelope memory) {
        return abi.decode(data, (Envelope));
    }

    /// @notice Message id: keccak256(abi.encode(sourceChain, sourceLayer, nonce)).
    function id(uint64 sourceChain, bytes32 sourceLayer, uint64 nonce) internal pure returns (bytes32) {
        return keccak256(abi.encode(sourceChain, sourceLayer, nonce));
    }

    /// @notice The id of envelope `e`.
    function idOf(Envelope memory e) internal pure returns (bytes32) {
        return id(e.sourceChain, e.sourceLayer, e.nonce);
    }

    /// @notice Body of an acknowledgement: abi.encode(originalId, outcome, result).
    function ackBody(bytes32 originalId, uint8 outcome, bytes memory result) internal pure returns (bytes memory) {
        return abi.encode(originalId, outcome, result);
    }

    /// @notice `addr` as bytes32 (left-padded).
    function toBytes32(address addr) internal pure returns (bytes32) {
        return bytes32(uint256(uint160(addr)));
    }
}
