// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ILightClient} from "../ILightClient.sol";
import {IMessageVerifier} from "../messaging/IMessageVerifier.sol";

/// @title FiscoBcosReceiptVerifier: a FISCO BCOS 3.x transaction receipt proven on an EVM chain.
/// @notice A proof carries the receipt's fields and the chain's own binary Merkle proof
/// (`getTransactionReceipt(hash, true).txReceiptProof`). The contract recomputes the 3.x receipt
/// hash (keccak256, as `bcos-tars-protocol` TarsHashable.h does) over
///   be32(version) ‖ gasUsed ‖ contractAddress ‖ be32(status) ‖ output
///   ‖ effectiveGasPrice (version ≥ 1 only) ‖ for each log: (address ‖ topics ‖ data) ‖ be64(blockNumber)
/// (gasUsed, contractAddress, effectiveGasPrice and a log's address are the receipt's strings as the node
/// stores them: decimal ASCII, lowercase hex without 0x), walks the binary Merkle proof to a root
/// and compares it with `ILightClient(lightClient).receiptsRootOf(blockNumber)`: the receipts root of
/// a header the light client accepted (for a committee client, a header its members checked off-chain,
/// SM2 or secp256k1 sealed, and re-attested as an EIP-712 statement).
///
/// Proof encodings (built by `relayer_fisco_bcos.evm_proof`):
///   receipt proof = abi.encode(Receipt receipt, bytes32[] merkleProof)
///   message proof = abi.encode(Receipt receipt, bytes32[] merkleProof, uint256 logIndex)
/// `merkleProof` is the node's list as is: per level a count word (uint32 big-endian in the top four
/// bytes, the rest zero; 1 or 2) followed by that many hashes of the sibling group, which must contain
/// the current node; the group's hash is the next node. A single-receipt block has the proof [leaf].
///
/// What the proof binds, and what it does not:
/// - Position. The FISCO proof names no index. The index returned is derived from where the current
///   node sits in each group (bit `level` set when it is the second of two). That is the receipt's true
///   position in the block when the leaf is a real leaf (see next point), except that byte-identical
///   receipts of one block are indistinguishable and the lowest candidate position is named (at each level
///   the first of two equal siblings). Two `MessageSent` receipts are never byte-identical (the nonce in
///   the envelope differs), so for messages the index is exact.
/// - Level. Nothing in the proof says the leaf is at the bottom of the tree. An inner node's preimage is
///   32 or 64 bytes (one or two child hashes), so a receipt whose encoding is 32 or 64 bytes long is
///   refused (AmbiguousLeaf); any other encoding cannot be an inner node without a keccak256 collision.
/// - Field boundaries. The receipt hash concatenates variable-length fields without lengths, so the
///   same receipt bytes can be read back with other boundaries: bytes that a source-chain account put
///   in a transaction's output or in a log's data or topics can be re-read as a separate log, a
///   `MessageSent` of `sourceLayer` included. The hash cannot tell the two readings apart, so
///   verifyMessage is sound only for blocks whose receipts have no such second reading, and the light
///   client's attesters must check that before they accept a header (`relayer_fisco_bcos.evm_proof.
///   check_no_second_reading`: the pattern hex(sourceLayer) ‖ topic0 occurs in a receipt's hash preimage
///   only where a real MessageSent log of that layer starts). With that check it is sound: a log this
///   contract accepts starts with that pattern, hence at a real log's start, and its data length is
///   read from its own strict `abi.encode(bytes)` header, hence equals the real data's (the message
///   layer emits exactly that). verifyReceiptLog and verifyReceipt have the same limit for any log or
///   field: they return the prover's reading of the proven bytes.
contract FiscoBcosReceiptVerifier is IMessageVerifier {
    struct Log {
        bytes addr; // the log's address string as stored: 40 lowercase hex characters, no 0x
        bytes32[] topics;
        bytes data;
    }

    struct Receipt {
        int32 version;
        bytes gasUsed; // decimal ASCII
        bytes contractAddress; // "" or 40 lowercase hex characters
        int32 status;
        bytes output;
        bytes effectiveGasPrice; // decimal ASCII, empty below version 1
        Log[] logs;
        uint64 blockNumber;
    }

    /// @notice topic0 of the message layer's `MessageSent(bytes32 indexed id, bytes envelope)`.
    bytes32 public constant MESSAGE_SENT = keccak256("MessageSent(bytes32,bytes)");
    uint256 private constant MAX_LEVELS = 32;

    error UnknownBlock(uint64 number);
    error RootMismatch(uint64 number, bytes32 computed);
    error MalformedProof(uint256 at);
    error NotInGroup(uint256 level);
    error AmbiguousLeaf(uint256 length);
    error UnexpectedGasPrice();
    error LogIndexOutOfRange(uint256 index, uint256 count);
    error ReceiptFailed(int32 status);
    error BadAddressString(uint256 logIndex);
    error BadSourceLayer();
    error NotFromSourceLayer();
    error NotMessageSent();

    /// @inheritdoc IMessageVerifier
    /// @dev `txIndex` is the receipt's position derived from the proof (see the contract's notes);
    /// reverts unless the receipt succeeded and log `logIndex` is a well-formed MessageSent of `sourceLayer`.
    function verifyMessage(address lightClient, bytes32 sourceLayer, bytes calldata proof)
        external
        view
        returns (bytes memory envelope, uint64 blockNumber, uint32 txIndex)
    {
        if (uint256(sourceLayer) >> 160 != 0) revert BadSourceLayer();
        (Receipt memory r, bytes32[] memory merkle, uint256 logIndex) =
            abi.decode(proof, (Receipt, bytes32[], uint256));
        (, txIndex) = _prove(lightClient, r, merkle);
        if (r.status != 0) revert ReceiptFailed(r.status);
        Log memory entry = _log(r, logIndex);
        if (_parseAddress(entry.addr, logIndex) != address(uint160(uint256(sourceLayer)))) {
            revert NotFromSourceLayer();
        }
        if (entry.topics.length != 2 || entry.topics[0] != MESSAGE_SENT) revert NotMessageSent();
        envelope = _envelope(entry.data);
        blockNumber = r.blockNumber;
    }

    /// @notice Log `logIndex` of a successful receipt proven against an accepted header.
    /// @param proof abi.encode(Receipt, bytes32[] merkleProof)
    /// @dev Reverts when the proof does not hold, the receipt failed or the index is out of range.
    function verifyReceiptLog(address lightClient, bytes calldata proof, uint256 logIndex)
        external
        view
        returns (address emitter, bytes32[] memory topics, bytes memory data, uint64 blockNumber)
    {
        (Receipt memory r, bytes32[] memory merkle) = abi.decode(proof, (Receipt, bytes32[]));
        _prove(lightClient, r, merkle);
        if (r.status != 0) revert ReceiptFailed(r.status);
        Log memory entry = _log(r, logIndex);
        return (_parseAddress(entry.addr, logIndex), entry.topics, entry.data, r.blockNumber);
    }

    /// @notice Proves a receipt (with or without logs) against an accepted header.
    /// @param proof abi.encode(Receipt, bytes32[] merkleProof)
    /// @return leaf the receipt's 3.x hash (the Merkle leaf)
    /// @return blockNumber its block
    /// @return receiptIndex its position derived from the proof (see the contract's notes)
    /// @return status the receipt's status (0 = success)
    /// @return logCount how many logs it carries
    function verifyReceipt(address lightClient, bytes calldata proof)
        external
        view
        returns (bytes32 leaf, uint64 blockNumber, uint32 receiptIndex, int32 status, uint256 logCount)
    {
        (Receipt memory r, bytes32[] memory merkle) = abi.decode(proof, (Receipt, bytes32[]));
        (leaf, receiptIndex) = _prove(lightClient, r, merkle);
        return (leaf, r.blockNumber, receiptIndex, r.status, r.logs.length);
    }

    /// @notice The FISCO BCOS 3.x hash of a receipt (keccak256 flavour).
    function receiptHash(Receipt memory r) public pure returns (bytes32) {
        return keccak256(_encode(r));
    }

    // ------------------------------------------------------------------ internals

    function _prove(address lightClient, Receipt memory r, bytes32[] memory merkle)
        private
        view
        returns (bytes32 leaf, uint32 index)
    {
        bytes memory encoded = _encode(r);
        if (encoded.length == 32 || encoded.length == 64) revert AmbiguousLeaf(encoded.length);
        leaf = keccak256(encoded);
        bytes32 root = ILightClient(lightClient).receiptsRootOf(r.blockNumber);
        if (root == bytes32(0)) revert UnknownBlock(r.blockNumber);
        bytes32 node;
        (node, index) = _walk(leaf, merkle);
        if (node != root) revert RootMismatch(r.blockNumber, node);
    }

    function _encode(Receipt memory r) private pure returns (bytes memory out) {
        if (r.version < 1 && r.effectiveGasPrice.length != 0) revert UnexpectedGasPrice();
        out = abi.encodePacked(
            bytes4(uint32(r.version)),
            r.gasUsed,
            r.contractAddress,
            bytes4(uint32(r.status)),
            r.output,
            r.effectiveGasPrice
        );
        for (uint256 i; i < r.logs.length; ++i) {
            Log memory entry = r.logs[i];
            if (entry.addr.length != 40) revert BadAddressString(i);
            out = bytes.concat(out, entry.addr, abi.encodePacked(entry.topics), entry.data);
        }
        out = bytes.concat(out, bytes8(r.blockNumber));
    }

    /// @dev The root the proof leads `leaf` to, and the position derived on the way.
    function _walk(bytes32 leaf, bytes32[] memory proof) private pure returns (bytes32 node, uint32 index) {
        uint256 n = proof.length;
        if (n == 0) revert MalformedProof(0);
        if (n == 1) {
            if (proof[0] != leaf) revert NotInGroup(0);
            return (leaf, 0);
        }
        node = leaf;
        uint256 i;
        uint256 level;
        while (i < n) {
            uint256 word = uint256(proof[i]);
            uint256 count = word >> 224;
            if (word << 32 != 0 || count == 0 || count > 2 || i + count >= n || level == MAX_LEVELS) {
                revert MalformedProof(i);
            }
            bytes32 first = proof[i + 1];
            if (count == 2) {
                bytes32 second = proof[i + 2];
                if (first != node) {
                    if (second != node) revert NotInGroup(level);
                    index |= uint32(1 << level);
                }
                node = keccak256(abi.encodePacked(first, second));
            } else {
                if (first != node) revert NotInGroup(level);
                node = keccak256(abi.encodePacked(first));
            }
            i += 1 + count;
            ++level;
        }
    }

    function _log(Receipt memory r, uint256 logIndex) private pure returns (Log memory) {
        if (logIndex >= r.logs.length) revert LogIndexOutOfRange(logIndex, r.logs.length);
        return r.logs[logIndex];
    }

    /// @dev The address written as 40 lowercase hex characters (how FISCO BCOS stores a log's address).
    function _parseAddress(bytes memory text, uint256 logIndex) private pure returns (address) {
        if (text.length != 40) revert BadAddressString(logIndex);
        uint256 value;
        for (uint256 i; i < 40; ++i) {
            uint8 c = uint8(text[i]);
            uint256 digit;
            if (c >= 0x30 && c <= 0x39) digit = c - 0x30;
            else if (c >= 0x61 && c <= 0x66) digit = c - 0x57;
            else revert BadAddressString(logIndex);
            value = (value << 4) | digit;
        }
        return address(uint160(value));
    }

    /// @dev The envelope of `abi.encode(bytes envelope)`, refusing any other layout of the data.
    function _envelope(bytes memory data) private pure returns (bytes memory envelope) {
        if (data.length < 64) revert NotMessageSent();
        uint256 offset;
        uint256 length;
        assembly ("memory-safe") {
            offset := mload(add(data, 32))
            length := mload(add(data, 64))
        }
        if (offset != 32 || length > data.length || data.length != 64 + ((length + 31) & ~uint256(31))) {
            revert NotMessageSent();
        }
        envelope = abi.decode(data, (bytes));
    }
}
