// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title ILightClient: an on-chain light client of one source chain, as seen by the verifiers of the message layer.
interface ILightClient {
    /// @notice Chain id of the source chain whose headers this client accepts.
    function sourceChainId() external view returns (uint64);

    /// @notice receiptsRoot of an accepted header of the source chain at `number`, or bytes32(0).
    function receiptsRootOf(uint256 number) external view returns (bytes32);

    /// @notice Policy-specific update.
    /// committee: abi.encode(uint256 number, bytes32 blockHash, bytes32 receiptsRoot, bytes signatures)
    function submitUpdate(bytes calldata update) external;
}
