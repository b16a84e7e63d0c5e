// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ILightClient} from "../ILightClient.sol";
import {MerklePatricia} from "../MerklePatricia.sol";
import {RLPReader} from "../RLPReader.sol";
import {IMessageVerifier} from "./IMessageVerifier.sol";

/// @title EvmReceiptVerifier: proves a `MessageSent` event of an EVM source chain by the
/// Merkle-Patricia proof of its transaction receipt against an accepted receiptsRoot.
/// @notice proof = abi.encode(uint256 blockNumber, bytes key, bytes[] nodes, uint256 logIndex):
/// `key` = rlp(transaction index), `nodes` the trie nodes root to leaf (embedded nodes not
/// repeated), `logIndex` the index of the MessageSent log within that receipt.
/// Stateless: one deployment serves every MessageLayer of a chain.
contract EvmReceiptVerifier is IMessageVerifier {
    using RLPReader for uint256;

    /// @notice topic0 of `MessageSent(bytes32 indexed id, bytes envelope)`.
    bytes32 public constant MESSAGE_SENT_TOPIC = keccak256("MessageSent(bytes32,bytes)");

    error MalformedProof();
    error HeaderNotAccepted(address lightClient, uint256 number);
    error InvalidReceipt();
    error LogIndexOutOfRange(uint256 logIndex);
    error WrongEmitter(address emitter);
    error WrongEvent(bytes32 topic0);

    bytes4 private constant ERR_RECEIPT = bytes4(keccak256("InvalidReceipt()"));

    /// @inheritdoc IMessageVerifier
    /// @dev Reverts MalformedProof (proof not laid out as documented or not within its bytes,
    /// key not rlp of an index below 2^32, block number above 2^64), HeaderNotAccepted (the
    /// light client has no root for the block), InvalidProof (Merkle-Patricia proof fails), InvalidReceipt / LogIndexOutOfRange
    /// (receipt does not hold such a log), WrongEmitter (log not emitted by `sourceLayer`),
    /// WrongEvent (not MessageSent).
    function verifyMessage(address lightClient, bytes32 sourceLayer, bytes calldata proof)
        external
        view
        returns (bytes memory envelope, uint64 blockNumber, uint32 txIndex)
    {
        (uint256 blockNo, bytes calldata key, bytes[] calldata nodes, uint256 logIndex) = _parse(proof);
        if (blockNo > type(uint64).max) revert MalformedProof();
        txIndex = _txIndex(key);
        bytes32 root = ILightClient(lightClient).receiptsRootOf(blockNo);
        if (root == bytes32(0)) revert HeaderNotAccepted(lightClient, blockNo);
        (uint256 vp, uint256 vl) = MerklePatricia.verify(root, key, nodes);
        envelope = _envelope(vp, vl, logIndex, sourceLayer);
        blockNumber = uint64(blockNo);
    }

    /// @dev Calldata views of the proof's fields, bounds-checked against the proof itself.
    function _parse(bytes calldata proof)
        private
        pure
        returns (uint256 blockNo, bytes calldata key, bytes[] calldata nodes, uint256 logIndex)
    {
        bool bad;
        assembly ("memory-safe") {
            // an empty key and node list until the layout is checked
            key.offset := 0
            key.length := 0
            nodes.offset := 0
            nodes.length := 0
        }
        assembly ("memory-safe") {
            let base := proof.offset
            let len := proof.length
            bad := lt(len, 128)
            if iszero(bad) {
                blockNo := calldataload(base)
                let ko := calldataload(add(base, 32))
                let no := calldataload(add(base, 64))
                logIndex := calldataload(add(base, 96))
                bad := or(gt(ko, sub(len, 32)), gt(no, sub(len, 32)))
                if iszero(bad) {
                    let kl := calldataload(add(base, ko))
                    let n := calldataload(add(base, no))
                    bad := or(gt(kl, sub(sub(len, ko), 32)), gt(n, div(sub(sub(len, no), 32), 32)))
                    key.offset := add(add(base, ko), 32)
                    key.length := kl
                    nodes.offset := add(add(base, no), 32)
                    nodes.length := n
                    // every node [offset, length, bytes] lies within the proof
                    let room := sub(sub(len, no), 32)
                    for { let i := 0 } and(iszero(bad), lt(i, n)) { i := add(i, 1) } {
                        let eo := calldataload(add(nodes.offset, shl(5, i)))
                        bad := gt(eo, sub(room, 32))
                        if iszero(bad) {
                            bad := gt(calldataload(add(nodes.offset, eo)), sub(sub(room, eo), 32))
                        }
                    }
                }
            }
        }
        if (bad) revert MalformedProof();
    }

    /// @dev The transaction index a receipt-trie key (rlp of the index) stands for.
    function _txIndex(bytes calldata key) private pure returns (uint32) {
        uint256 len = key.length;
        if (len == 0 || len > 5) revert MalformedProof();
        uint8 first = uint8(key[0]);
        if (len == 1) {
            if (first == 0x80) return 0;
            if (first < 0x80) return first;
            revert MalformedProof();
        }
        if (first != 0x80 + len - 1) revert MalformedProof();
        uint256 value;
        for (uint256 i = 1; i < len; ++i) value = (value << 8) | uint8(key[i]);
        return uint32(value);
    }

    /// @dev Envelope of the MessageSent log `logIndex` emitted by `sourceLayer` in the receipt at [vp, vp+vl).
    function _envelope(uint256 vp, uint256 vl, uint256 logIndex, bytes32 sourceLayer)
        private
        pure
        returns (bytes memory envelope)
    {
        (uint256 ptr, uint256 end) = _findLog(vp, vl, logIndex);
        (uint256 ap, uint256 al, uint256 next) = ptr.str(end, ERR_RECEIPT);
        if (al != 20) revert InvalidReceipt();
        address emitter = address(uint160(_word(ap) >> 96));
        if (bytes32(uint256(uint160(emitter))) != sourceLayer) revert WrongEmitter(emitter);
        (bytes32 topic0, uint256 dataPtr, uint256 dataLen) = _topicAndData(next, end);
        if (topic0 != MESSAGE_SENT_TOPIC) revert WrongEvent(topic0);
        // data = abi.encode(bytes envelope): offset 0x20, length, bytes
        if (dataLen < 64 || _word(dataPtr) != 32) revert InvalidReceipt();
        uint256 envLen = _word(dataPtr + 32);
        if (envLen > dataLen - 64) revert InvalidReceipt();
        envelope = new bytes(envLen);
        assembly ("memory-safe") {
            calldatacopy(add(envelope, 32), add(dataPtr, 64), envLen)
        }
    }

    /// @dev Payload [ptr, end) of log `logIndex` of the consensus-encoded receipt at [vp, vp+vl).
    function _findLog(uint256 vp, uint256 vl, uint256 logIndex) private pure returns (uint256 ptr, uint256 end) {
        end = vp + vl;
        if (_byteAt(vp) < 0x80) ++vp; // typed receipt: type || rlp(list)
        uint256 len;
        uint256 nx;
        (ptr, len, nx) = vp.list(end, ERR_RECEIPT);
        if (nx != end) revert InvalidReceipt();
        end = ptr + len;
        ptr = ptr.skipN(3, end, ERR_RECEIPT); // status or post-state root, cumulativeGasUsed, logsBloom
        (ptr, len,) = ptr.list(end, ERR_RECEIPT); // logs
        end = ptr + len;
        for (uint256 i; i < logIndex; ++i) {
            if (ptr >= end) revert LogIndexOutOfRange(logIndex);
            ptr = ptr.skipN(1, end, ERR_RECEIPT);
        }
        if (ptr >= end) revert LogIndexOutOfRange(logIndex);
        (ptr, len,) = ptr.list(end, ERR_RECEIPT); // [address, [topics], data]
        end = ptr + len;
    }

    /// @dev First topic (0 if none) and the data of a log, from its topics list at `ptr`.
    function _topicAndData(uint256 ptr, uint256 end)
        private
        pure
        returns (bytes32 topic0, uint256 dataPtr, uint256 dataLen)
    {
        (uint256 tp, uint256 tl, uint256 tn) = ptr.list(end, ERR_RECEIPT);
        if (tl != 0) {
            (uint256 t0, uint256 t0l,) = tp.str(tp + tl, ERR_RECEIPT);
            if (t0l != 32) revert InvalidReceipt();
            topic0 = bytes32(_word(t0));
        }
        (dataPtr, dataLen,) = tn.str(end, ERR_RECEIPT);
    }

    function _word(uint256 ptr) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := calldataload(ptr)
        }
    }

    function _byteAt(uint256 ptr) private pure returns (uint256 b) {
        assembly ("memory-safe") {
            b := byte(0, calldataload(ptr))
        }
    }
}
