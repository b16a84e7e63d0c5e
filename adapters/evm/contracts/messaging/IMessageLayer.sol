// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IMessageLayer: what an application calls on its chain's MessageLayer.
interface IMessageLayer {
    /// @notice Send `body` to `recipient` on `destinationChain`; see MessageLayer.send.
    /// @param gasLimit exact gas the recipient's handler gets on the destination
    /// @param expiry unix seconds after which the destination refuses it (0 = never)
    /// @param ackMode 0 none, 1 on failure (and expiry), 2 always
    /// @return id the message id (Envelopes.id(this chain, this layer, nonce))
    function send(
        uint64 destinationChain,
        bytes32 recipient,
        bytes calldata body,
        uint64 gasLimit,
        uint64 expiry,
        uint8 ackMode
    ) external returns (bytes32 id);

    /// @notice During a handler call only: the message being handled and where it was proven
    /// (source block number, index of its transaction in that block).
    function currentOrigin()
        external
        view
        returns (bytes32 id, uint64 sourceChain, uint64 sourceBlock, uint32 sourceTxIndex);
}
