// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {RLPReader} from "./RLPReader.sol";

/// @notice The Merkle-Patricia inclusion proof does not prove the key against the root.
error InvalidProof();

/// @title MerklePatricia: inclusion proofs of Ethereum's hexary Merkle-Patricia trie, read from calldata.
/// @dev Handles branch, extension and leaf nodes, hex-prefix paths, values stored in a branch,
/// and nodes shorter than 32 bytes embedded in their parent (they are not repeated in `nodes`).
/// The root node is always hashed. Every node of `nodes` must be used: trailing nodes are rejected.
library MerklePatricia {
    using RLPReader for uint256;

    bytes4 private constant ERR = bytes4(keccak256("InvalidProof()"));

    /// @notice Verify that `key` maps to a non-empty value in the trie with root `root`.
    /// @param nodes the RLP-encoded nodes on the path, root first
    /// @return valuePtr calldata offset of the value
    /// @return valueLen length of the value
    /// @dev Reverts InvalidProof() when the proof does not verify.
    function verify(bytes32 root, bytes calldata key, bytes[] calldata nodes)
        internal
        pure
        returns (uint256 valuePtr, uint256 valueLen)
    {
        Cursor memory c = Cursor(_offset(key), key.length * 2, 0);
        uint256 idx; // next entry of `nodes`
        uint256 ptr; // current node encoding [ptr, end)
        uint256 end;
        bytes32 want = root;
        bool embedded;
        while (true) {
            if (!embedded) {
                if (idx >= nodes.length) revert InvalidProof();
                bytes calldata node = nodes[idx++];
                ptr = _offset(node);
                end = ptr + node.length;
                if (_keccak(ptr, node.length) != want) revert InvalidProof();
            }
            (bool done, uint256 a, uint256 b) = _step(c, ptr, end);
            if (done) {
                if (idx != nodes.length) revert InvalidProof();
                return (a, b);
            }
            (embedded, ptr, end, want) = _follow(a, b);
        }
    }

    /// @dev Key and the number of its nibbles consumed so far.
    struct Cursor {
        uint256 keyPtr;
        uint256 nibbles;
        uint256 pos;
    }

    /// @dev Walk one node at [ptr, end). Returns (true, valuePtr, valueLen) at the value, or
    /// (false, refPtr, listEnd) with the offset of the child reference item to follow.
    function _step(Cursor memory c, uint256 ptr, uint256 end) private pure returns (bool, uint256, uint256) {
        (uint256 p, uint256 l, uint256 nx) = ptr.list(end, ERR);
        if (nx != end) revert InvalidProof();
        uint256 listEnd = p + l;
        uint256 n0 = p.skipN(1, listEnd, ERR);
        if (n0.skipN(1, listEnd, ERR) == listEnd) {
            // leaf or extension: [hexPrefixPath, valueOrChild]
            bool leaf = _matchPath(c, p, listEnd);
            if (!leaf) return (false, n0, listEnd);
            if (c.pos != c.nibbles) revert InvalidProof();
            (uint256 vp, uint256 vl) = _value(n0, listEnd);
            return (true, vp, vl);
        }
        // branch: 16 children then a value
        uint256 slot = 16;
        if (c.pos < c.nibbles) slot = _nibble(c.keyPtr, c.pos++);
        uint256 ref = p.skipN(slot, listEnd, ERR);
        if (slot != 16) return (false, ref, listEnd);
        (uint256 bp, uint256 bl) = _value(ref, listEnd);
        return (true, bp, bl);
    }

    /// @dev Follow the child reference at `ref`: an embedded node or the hash of the next node.
    function _follow(uint256 ref, uint256 listEnd)
        private
        pure
        returns (bool embedded, uint256 ptr, uint256 end, bytes32 want)
    {
        (uint256 rp, uint256 rl, bool rList, uint256 rn) = ref.item(listEnd, ERR);
        if (rList) {
            // embedded node (< 32 bytes), already covered by the parent's hash
            if (rn - ref >= 32) revert InvalidProof();
            return (true, ref, rn, bytes32(0));
        }
        if (rl != 32) revert InvalidProof(); // empty slot: key absent
        assembly ("memory-safe") {
            want := calldataload(rp)
        }
    }

    /// @dev Match the hex-prefix path item at `p` against the key; advance the cursor.
    /// Returns true for a leaf, false for an extension.
    function _matchPath(Cursor memory c, uint256 p, uint256 listEnd) private pure returns (bool leaf) {
        (uint256 pp, uint256 pl,) = RLPReader.str(p, listEnd, ERR);
        if (pl == 0) revert InvalidProof();
        uint256 flag = _byteAt(pp) >> 4;
        if (flag > 3) revert InvalidProof();
        uint256 odd = flag & 1;
        uint256 pathLen = (pl - 1) * 2 + odd;
        uint256 pos = c.pos;
        if (pos + pathLen > c.nibbles) revert InvalidProof();
        uint256 start = 2 - odd; // index of the first path nibble within the encoding
        uint256 keyPtr = c.keyPtr;
        for (uint256 j; j < pathLen; ++j) {
            if (_nibble(pp, start + j) != _nibble(keyPtr, pos + j)) revert InvalidProof();
        }
        c.pos = pos + pathLen;
        return flag >= 2;
    }

    /// @dev The non-empty string at `ptr` as (offset, length).
    function _value(uint256 ptr, uint256 end) private pure returns (uint256 vp, uint256 vl) {
        (vp, vl,) = RLPReader.str(ptr, end, ERR);
        if (vl == 0) revert InvalidProof();
    }

    function _nibble(uint256 ptr, uint256 i) private pure returns (uint256 n) {
        assembly ("memory-safe") {
            let b := byte(0, calldataload(add(ptr, shr(1, i))))
            n := and(shr(shl(2, sub(1, and(i, 1))), b), 0x0f)
        }
    }

    function _byteAt(uint256 ptr) private pure returns (uint256 b) {
        assembly ("memory-safe") {
            b := byte(0, calldataload(ptr))
        }
    }

    function _offset(bytes calldata data) private pure returns (uint256 o) {
        assembly ("memory-safe") {
            o := data.offset
        }
    }

    function _keccak(uint256 ptr, uint256 len) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let m := mload(0x40)
            calldatacopy(m, ptr, len)
            h := keccak256(m, len)
        }
    }
}
