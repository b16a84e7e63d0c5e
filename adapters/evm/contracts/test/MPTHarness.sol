// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {MerklePatricia} from "../MerklePatricia.sol";

/// @title MPTHarness: test-only wrapper exposing MerklePatricia.verify.
contract MPTHarness {
    /// @notice The value stored under `key` in the trie `root`; reverts InvalidProof() otherwise.
    function verify(bytes32 root, bytes calldata key, bytes[] calldata nodes)
        external
        pure
        returns (bytes memory value)
    {
        (uint256 p, uint256 l) = MerklePatricia.verify(root, key, nodes);
        value = new bytes(l);
        assembly ("memory-safe") {
            calldatacopy(add(value, 32), p, l)
        }
    }
}
