// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title IMessageRecipient: what a MessageLayer calls on the recipient of a message.
interface IMessageRecipient {
    /// @notice Handle a proven message. Called by the destination MessageLayer only (check
    /// msg.sender), with exactly the gas limit the sender asked for.
    /// @param sourceChain chain id the message was sent from
    /// @param sender the sending application on that chain (an EVM address left-padded to bytes32)
    /// @param body the application's payload, exactly as sent
    /// @return result recorded in MessageProcessed and carried back in an acknowledgement
    /// @dev A revert (or running out of gas) records the message as failed with the revert data;
    /// it never reverts the delivery transaction.
    function handleMessage(uint64 sourceChain, bytes32 sender, bytes calldata body) external returns (bytes memory);
}

/// @title IAckRecipient: what a MessageLayer calls on the sender of a message to acknowledge it.
interface IAckRecipient {
    /// @notice Handle the acknowledgement of message `id` this contract sent.
    /// Called by the MessageLayer of this chain only (check msg.sender).
    /// @param id the acknowledged message's id
    /// @param outcome 1 delivered, 2 failed, 3 expired (at the destination)
    /// @param result the handler's result (delivered) or revert data (failed); empty when expired
    /// @dev A revert records the acknowledgement as failed and retriable; it is never acknowledged.
    function handleAck(bytes32 id, uint8 outcome, bytes calldata result) external;
}
