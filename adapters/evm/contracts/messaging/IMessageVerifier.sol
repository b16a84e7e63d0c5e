// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

// adapters/evm/contracts/messaging/IMessageVerifier.sol
interface IMessageVerifier {
    /// @notice Checks that `proof` shows a `MessageSent` event emitted by `sourceLayer` on the
    /// source chain in a block whose commitment root the on-chain light client `lightClient`
    /// accepted (ILightClient.receiptsRootOf), and returns the event's envelope with where it was
    /// (source block number, index of the transaction/receipt in that block).
    /// @dev Reverts when the proof does not hold. Never trusts anything in `proof` it has not checked.
    function verifyMessage(address lightClient, bytes32 sourceLayer, bytes calldata proof)
        external view returns (bytes memory envelope, uint64 blockNumber, uint32 txIndex);
}
