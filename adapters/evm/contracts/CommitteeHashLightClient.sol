// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {CommitteeLightClient} from "./CommitteeLightClient.sol";

/// @title CommitteeHashLightClient: a CommitteeLightClient that also keeps each accepted header's block hash.
/// @notice For verifiers that check a proof's header against the accepted block hash on-chain
/// (LitecoinDepositVerifier reads `headers`). One more storage slot per header than CommitteeLightClient;
/// a header is refused (ConflictingHeader) when its block hash or its root differs from the accepted one.
contract CommitteeHashLightClient is CommitteeLightClient {
    /// @dev Accepted block hashes by block number (zero: none accepted).
    mapping(uint256 => bytes32) private _hashes;

    constructor(uint64 sourceChainId_, address[] memory members, uint8 threshold_)
        CommitteeLightClient(sourceChainId_, members, threshold_)
    {}

    /// @notice The accepted header at `number` (both zero when none).
    function headers(uint256 number) external view returns (bytes32 blockHash, bytes32 receiptsRoot) {
        return (_hashes[number], _roots[number]);
    }

    function _accepted(uint256 number, bytes32 blockHash, bytes32 receiptsRoot) internal view override returns (bool) {
        bytes32 known = _hashes[number];
        if (known == bytes32(0)) return false;
        if (known != blockHash || _roots[number] != receiptsRoot) revert ConflictingHeader(number);
        return true;
    }

    function _record(uint256 number, bytes32 blockHash) internal override {
        _hashes[number] = blockHash;
    }
}
