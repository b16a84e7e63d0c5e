// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title RLPReader: bounds-checked RLP decoding straight from calldata, without copying.
/// @dev Items are addressed by absolute calldata offsets. Every function takes `end`, the first
/// offset past the enclosing item, and reverts with the caller's error selector `err` when the
/// item does not fit. Canonical-form rules are not enforced: callers only decode data whose
/// integrity is established by a hash (trie nodes, receipts), so only memory safety matters.
library RLPReader {
    /// @notice Decode the header of the item at `ptr`.
    /// @return payload offset of the payload
    /// @return len payload length in bytes
    /// @return isList true for a list, false for a string
    /// @return next offset of the byte after the item
    function item(uint256 ptr, uint256 end, bytes4 err)
        internal
        pure
        returns (uint256 payload, uint256 len, bool isList, uint256 next)
    {
        assembly ("memory-safe") {
            if iszero(lt(ptr, end)) {
                mstore(0, err)
                revert(0, 4)
            }
            let b := byte(0, calldataload(ptr))
            switch lt(b, 0x80)
            case 1 {
                payload := ptr
                len := 1
            }
            default {
                switch lt(b, 0xb8)
                case 1 {
                    payload := add(ptr, 1)
                    len := sub(b, 0x80)
                }
                default {
                    switch lt(b, 0xc0)
                    case 1 {
                        let ll := sub(b, 0xb7)
                        len := shr(sub(256, shl(3, ll)), calldataload(add(ptr, 1)))
                        payload := add(add(ptr, 1), ll)
                    }
                    default {
                        isList := 1
                        switch lt(b, 0xf8)
                        case 1 {
                            payload := add(ptr, 1)
                            len := sub(b, 0xc0)
                        }
                        default {
                            let ll := sub(b, 0xf7)
                            len := shr(sub(256, shl(3, ll)), calldataload(add(ptr, 1)))
                            payload := add(add(ptr, 1), ll)
                        }
                    }
                }
            }
            next := add(payload, len)
            if gt(next, end) {
                mstore(0, err)
                revert(0, 4)
            }
        }
    }

    /// @notice Offset of the byte after the item at `ptr` (skips it).
    function skip(uint256 ptr, uint256 end, bytes4 err) internal pure returns (uint256 next) {
        (,,, next) = item(ptr, end, err);
    }

    /// @notice Offset after skipping `n` consecutive items starting at `ptr`; reverts with `err`
    /// unless all of them end within `end`.
    function skipN(uint256 ptr, uint256 n, uint256 end, bytes4 err) internal pure returns (uint256 next) {
        assembly ("memory-safe") {
            next := ptr
            for {} n { n := sub(n, 1) } {
                let b := byte(0, calldataload(next))
                switch lt(b, 0xb8)
                case 1 {
                    // single byte (< 0x80) or short string
                    next := add(next, add(1, mul(gt(b, 0x7f), sub(b, 0x80))))
                }
                default {
                    switch lt(b, 0xc0)
                    case 1 {
                        let ll := sub(b, 0xb7)
                        next := add(add(next, add(1, ll)), shr(sub(256, shl(3, ll)), calldataload(add(next, 1))))
                    }
                    default {
                        switch lt(b, 0xf8)
                        case 1 { next := add(next, sub(b, 0xbf)) }
                        default {
                            let ll := sub(b, 0xf7)
                            next := add(add(next, add(1, ll)), shr(sub(256, shl(3, ll)), calldataload(add(next, 1))))
                        }
                    }
                }
                // each step moves forward by at most 1 + 8 + 2^64 bytes: no overflow; stop early when past end
                if gt(next, end) {
                    mstore(0, err)
                    revert(0, 4)
                }
            }
        }
    }

    /// @notice Payload of the string at `ptr`; reverts with `err` if it is a list.
    function str(uint256 ptr, uint256 end, bytes4 err)
        internal
        pure
        returns (uint256 payload, uint256 len, uint256 next)
    {
        bool isList;
        (payload, len, isList, next) = item(ptr, end, err);
        if (isList) {
            assembly ("memory-safe") {
                mstore(0, err)
                revert(0, 4)
            }
        }
    }

    /// @notice Payload of the list at `ptr`; reverts with `err` if it is a string.
    function list(uint256 ptr, uint256 end, bytes4 err)
        internal
        pure
        returns (uint256 payload, uint256 len, uint256 next)
    {
        bool isList;
        (payload, len, isList, next) = item(ptr, end, err);
        if (!isList) {
            assembly ("memory-safe") {
                mstore(0, err)
                revert(0, 4)
            }
        }
    }
}
