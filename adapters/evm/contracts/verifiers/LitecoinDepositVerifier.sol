// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ILightClient} from "../ILightClient.sol";
import {Envelope, Envelopes} from "../messaging/Envelope.sol";
import {IMessageVerifier} from "../messaging/IMessageVerifier.sol";

/// @notice The accepted-header record of a committee light client (CommitteeHashLightClient.headers).
interface ILitecoinHeaderRecords {
    function headers(uint256 number) external view returns (bytes32 blockHash, bytes32 receiptsRoot);
}

/// @title LitecoinDepositVerifier: a deposit to the consortium's Litecoin custody proven on an EVM chain.
/// @notice The Litecoin family's message verifier (relayer_litecoin): a deposit is a transaction paying the
/// custody's P2WSH script (`sourceLayer` = its witness program, sha256 of the witness script) with one
/// OP_RETURN payload `"rl" | 0x01 | destination chain (8, big-endian) | length (1) | recipient`.
///
/// proof = height (8 bytes, big-endian) || the family's proof version 1 (relayer_litecoin.source.ParsedProof):
///   0x01 || 80-byte header || tx index (4, big-endian) || branch length n (1) || n sibling hashes (32 each,
///   internal order) || the transaction without witness.
/// (relayer_litecoin.evm_proof builds it.)
///
/// Header: its sha256d (the sha256 precompile twice) and its merkle root field must both be the ones the
/// light client's committee accepted at `height` (CommitteeHashLightClient.headers: blockHash = the block id,
/// receiptsRoot = the merkle root, both in display order, as relayer_litecoin's VerifiedHeader has them), so
/// no other header can stand in for it. The light client must expose `headers(uint256)` (a plain
/// CommitteeLightClient keeps no block hash and has none: every proof against it reverts).
///
/// Branch: walked from the transaction's sha256d with the index's bits choosing left/right; an index with
/// bits above the branch's depth is refused (one branch proves one position). CVE-2012-2459: a level whose
/// node is a right child equal to its sibling is a duplicated last node, i.e. a position past the end of the
/// level, so it is refused (otherwise the last transaction of a level of odd size could be proven at two
/// indexes, hence two nonces). The 64-byte transaction ambiguity: a "transaction" of 64 bytes or less is
/// refused (an inner node's preimage is exactly 64 bytes), as the Python family does. The remaining case, a
/// real 64-byte transaction in the block read as an inner node so that a forged transaction seems one level
/// lower, needs a miner to include a non-standard 64-byte transaction whose first half (version, input count,
/// most of a spendable prevout) equals the forged transaction's sha256d: a preimage search on most of 256
/// bits; this contract does not close it otherwise (the committee's members recompute the whole block).
///
/// Transaction: parsed strictly (canonical compact sizes, no segwit marker, no byte left over); the
/// outputs paying exactly `OP_0 <32 bytes sourceLayer>` are summed (litoshis, as the Python family does);
/// exactly one OP_RETURN output whose single push (direct or OP_PUSHDATA1) starts with "rl" must be there
/// and be a well-formed version 1 payload.
///
/// Envelope: version 1, kind 0, nonce = height << 20 | tx index, sourceChain = the light client's
/// sourceChainId, sourceLayer = sender = the custody program, destinationChain from the payload,
/// destinationLayer = `layer`, recipient = `application` (the token application), gasLimit = `gasLimit`,
/// expiry 0, ackMode 0 (a failed mint stays retriable), body = the family's deposit body version 1:
/// 0x01 || txid (32, display order) || amount (8, big-endian) || destination chain (8) || length (1) || recipient.
/// The deposit names no layer and no handler: one deployment serves one MessageLayer and one application.
///
/// Release (the acknowledgement of a burn the operators paid from the custody): proof =
///   height (8) || 0x02 || header (80) || tx index (4) || branch length n (1) || n siblings (32 each) ||
///   release length (4, big-endian) || the release without witness ||
///   funding height (8) || funding header (80) || funding index (4) || m (1) || m siblings || the funding
///   transaction without witness (to the end).
/// Both headers must be accepted by the light client, both branches lead to their roots as above. Anyone can
/// write a marker into an OP_RETURN: a release is a transaction whose input 0 spends output `vout` of the
/// funding transaction (prevout = its txid and `vout`), an output paying exactly `OP_0 <32 bytes sourceLayer>`,
/// which only M of the custody's operators can sign. Exactly one OP_RETURN push starting "rr" must be there: a
/// version 2 release marker "rr" 0x02 0x01 || origin chain (8, big-endian) || message id (32) (relayer_litecoin
/// .marker), whose origin chain must be this chain. Envelope: version 1, kind ACK, nonce = height << 20 | index,
/// sourceChain = the light client's, sourceLayer = sender = the custody program, destinationChain = the origin,
/// destinationLayer = `layer`, recipient = `application`, gasLimit = `gasLimit`, expiry 0, ackMode 0, body =
/// Envelopes.ackBody(message id, OUTCOME_DELIVERED, abi.encode(txid (display order), output 0's value)).
contract LitecoinDepositVerifier is IMessageVerifier {
    uint256 public constant INDEX_BITS = 20;
    uint256 private constant HEADER_SIZE = 80;
    uint256 private constant MAX_RECIPIENT = 32;

    /// @notice The MessageLayer deposits are valid at (envelope.destinationLayer).
    address public immutable layer;
    /// @notice The handler of deposits (envelope.recipient): the wrapped-LTC token application.
    address public immutable application;
    /// @notice Gas for the application's handler (envelope.gasLimit).
    uint64 public immutable gasLimit;

    error MalformedProof();
    error HeightTooLarge(uint64 height);
    error IndexTooLarge(uint32 index);
    error HeaderNotAccepted(address lightClient, uint64 height);
    error HeaderMismatch(bytes32 computed, bytes32 accepted);
    error RootMismatch(bytes32 computed, bytes32 accepted);
    error IndexBeyondBranch(uint32 index, uint256 depth);
    error DuplicateBranchNode(uint256 level);
    error AmbiguousTransaction(uint256 length);
    error MalformedTransaction(uint256 at);
    error NoCustodyOutput();
    error NoPayload();
    error SeveralPayloads();
    error MalformedPayload();
    error ZeroParameter();
    error NotCustodySpend(bytes32 prevTxid, uint32 prevVout);
    error NotCustodyOutput(uint32 vout);
    error NoMarker();
    error SeveralMarkers();
    error MalformedMarker();
    error NotForThisChain(uint64 origin);

    constructor(address layer_, address application_, uint64 gasLimit_) {
        if (layer_ == address(0) || application_ == address(0) || gasLimit_ == 0) revert ZeroParameter();
        layer = layer_;
        application = application_;
        gasLimit = gasLimit_;
    }

    struct Deposit {
        uint64 amount;
        uint256 payloadAt; // offset of the payload's first byte in the transaction
        uint256 payloadLength;
    }

    /// @inheritdoc IMessageVerifier
    /// @dev The proof's version (its 9th byte) chooses: 0x01 a deposit, 0x02 a release (see the contract's
    /// notice). Deposit: reverts MalformedProof (layout), HeightTooLarge / IndexTooLarge (nonce would not fit),
    /// HeaderNotAccepted, HeaderMismatch, RootMismatch, IndexBeyondBranch, DuplicateBranchNode,
    /// AmbiguousTransaction, MalformedTransaction(offset), NoCustodyOutput, NoPayload, SeveralPayloads,
    /// MalformedPayload. Release: the same for both transactions and their headers, and NotCustodySpend (input
    /// 0 does not spend the proven output), NotCustodyOutput (that output does not pay the custody), NoMarker,
    /// SeveralMarkers, MalformedMarker, NotForThisChain (a release of another chain's burn).
    function verifyMessage(address lightClient, bytes32 sourceLayer, bytes calldata proof)
        external
        view
        returns (bytes memory envelope, uint64 blockNumber, uint32 txIndex)
    {
        if (proof.length < 8 + 1 + HEADER_SIZE + 5) revert MalformedProof();
        if (proof[8] == 0x02) return _verifyRelease(lightClient, sourceLayer, proof);
        if (proof[8] != 0x01) revert MalformedProof();
        bytes calldata txBytes;
        bytes32 txid;
        (blockNumber, txIndex, txBytes, txid) = _provenTransaction(lightClient, proof[0:8], proof[9:], false);
        Deposit memory d = _parseDeposit(txBytes, sourceLayer);
        envelope = _envelope(lightClient, sourceLayer, blockNumber, txIndex, _reverse(txid), d, txBytes);
    }

    /// @dev A transaction proven under an accepted header: `height` (8 bytes) and `p` = header (80) || index (4)
    /// || depth n (1) || n siblings (32 each) || then, when `sized`, the transaction's length (4, big-endian) and
    /// the transaction, else the transaction up to the end. Returns (height, index, the transaction, its sha256d
    /// in internal order, what follows it).
    function _provenTransaction(address lightClient, bytes calldata height, bytes calldata p, bool sized)
        private
        view
        returns (uint64 blockNumber, uint32 txIndex, bytes calldata txBytes, bytes32 txid)
    {
        (blockNumber, txIndex, txBytes, txid,) = _provenPrefix(lightClient, height, p, sized);
    }

    function _provenPrefix(address lightClient, bytes calldata height, bytes calldata p, bool sized)
        private
        view
        returns (uint64 blockNumber, uint32 txIndex, bytes calldata txBytes, bytes32 txid, bytes calldata rest)
    {
        if (p.length < HEADER_SIZE + 5) revert MalformedProof();
        blockNumber = uint64(bytes8(height));
        if (blockNumber >= 1 << (64 - INDEX_BITS)) revert HeightTooLarge(blockNumber);
        bytes calldata header = p[0:HEADER_SIZE];
        txIndex = uint32(bytes4(p[80:84]));
        if (txIndex >= 1 << INDEX_BITS) revert IndexTooLarge(txIndex);
        uint256 txAt = 85 + 32 * uint256(uint8(p[84]));
        if (p.length < txAt) revert MalformedProof();
        uint256 txEnd = p.length;
        if (sized) {
            if (p.length < txAt + 4) revert MalformedProof();
            txEnd = txAt + 4 + uint32(bytes4(p[txAt:txAt + 4]));
            txAt += 4;
            if (p.length < txEnd) revert MalformedProof();
        }
        txBytes = p[txAt:txEnd];
        rest = p[txEnd:];
        if (txBytes.length <= 64) revert AmbiguousTransaction(txBytes.length);
        _checkHeader(lightClient, blockNumber, header);
        txid = _sha256d(txBytes);
        bytes32 root = _walk(txid, p[85:85 + 32 * uint256(uint8(p[84]))], txIndex);
        bytes32 headerRoot = bytes32(header[36:68]);
        if (root != headerRoot) revert RootMismatch(_reverse(root), _reverse(headerRoot));
    }

    // ------------------------------------------------------------------ release

    /// @dev proof = height (8) || 0x02 || release part (sized) || prevout height (8) || prevout part (to the end).
    function _verifyRelease(address lightClient, bytes32 program, bytes calldata proof)
        private
        view
        returns (bytes memory envelope, uint64 blockNumber, uint32 txIndex)
    {
        bytes calldata release;
        bytes32 txid;
        bytes calldata rest;
        (blockNumber, txIndex, release, txid, rest) = _provenPrefix(lightClient, proof[0:8], proof[9:], true);
        if (rest.length < 8) revert MalformedProof();
        (,, bytes calldata funding, bytes32 fundingId) = _provenTransaction(lightClient, rest[0:8], rest[8:], false);
        Release memory r = _parseRelease(release);
        if (r.prevTxid != fundingId) revert NotCustodySpend(_reverse(r.prevTxid), r.prevVout);
        _checkCustodyOutput(funding, r.prevVout, program);
        if (r.origin != block.chainid) revert NotForThisChain(r.origin);
        envelope = Envelopes.encode(
            Envelope({
                version: Envelopes.VERSION,
                kind: Envelopes.KIND_ACK,
                nonce: (blockNumber << uint64(INDEX_BITS)) | txIndex,
                sourceChain: ILightClient(lightClient).sourceChainId(),
                sourceLayer: program,
                sender: program,
                destinationChain: r.origin,
                destinationLayer: Envelopes.toBytes32(layer),
                recipient: Envelopes.toBytes32(application),
                gasLimit: gasLimit,
                expiry: 0,
                ackMode: Envelopes.ACK_NONE,
                body: Envelopes.ackBody(r.messageId, Envelopes.OUTCOME_DELIVERED, abi.encode(_reverse(txid), r.paid))
            })
        );
    }

    struct Release {
        bytes32 prevTxid; // input 0's prevout, internal order
        uint32 prevVout;
        uint64 paid; // output 0's value
        uint64 origin; // the marker's origin chain
        bytes32 messageId; // the marker's id
    }

    /// @dev Parses a release (non-witness serialisation, strictly): input 0's prevout, output 0's value and
    /// the one OP_RETURN whose push starts "rr", which must be a version 2 release marker.
    function _parseRelease(bytes calldata t) private pure returns (Release memory r) {
        uint256 at = 4; // version
        uint256 n;
        (n, at) = _compactSize(t, at);
        if (n == 0) revert MalformedTransaction(4);
        if (at + 36 > t.length) revert MalformedTransaction(at);
        r.prevTxid = bytes32(t[at:at + 32]);
        r.prevVout = _le32(t, at + 32);
        for (uint256 i; i < n; ++i) {
            at += 36; // prevout
            uint256 len;
            (len, at) = _compactSize(t, at);
            at += len + 4; // script, sequence
            if (at > t.length) revert MalformedTransaction(at);
        }
        uint256 outputsAt = at;
        (n, at) = _compactSize(t, at);
        if (n == 0) revert MalformedTransaction(outputsAt);
        uint256 markers;
        uint256 markerAt;
        uint256 markerLength;
        for (uint256 i; i < n; ++i) {
            if (at + 8 > t.length) revert MalformedTransaction(at);
            uint64 value = _le64(t, at);
            if (i == 0) r.paid = value;
            uint256 len;
            (len, at) = _compactSize(t, at + 8);
            if (at + len > t.length) revert MalformedTransaction(at);
            (bool isMarker, uint256 mAt, uint256 mLen) = _opReturnPush(t, at, len, "r");
            if (isMarker) {
                ++markers;
                (markerAt, markerLength) = (mAt, mLen);
            }
            at += len;
        }
        if (at + 4 != t.length) revert MalformedTransaction(at);
        if (markers == 0) revert NoMarker();
        if (markers > 1) revert SeveralMarkers();
        // relayer_litecoin.marker, version 2: "rr" 0x02 0x01 (a release) || origin chain (8) || message id (32)
        if (markerLength != 44 || t[markerAt + 2] != 0x02 || t[markerAt + 3] != 0x01) revert MalformedMarker();
        r.origin = uint64(bytes8(t[markerAt + 4:markerAt + 12]));
        r.messageId = bytes32(t[markerAt + 12:markerAt + 44]);
    }

    /// @dev Output `vout` of `t` (non-witness serialisation, parsed strictly up to it) pays exactly
    /// `OP_0 <32-byte program>`. Reverts MalformedTransaction, NotCustodyOutput.
    function _checkCustodyOutput(bytes calldata t, uint32 vout, bytes32 program) private pure {
        uint256 at = 4;
        uint256 n;
        (n, at) = _compactSize(t, at);
        if (n == 0) revert MalformedTransaction(4);
        for (uint256 i; i < n; ++i) {
            at += 36;
            uint256 len;
            (len, at) = _compactSize(t, at);
            at += len + 4;
            if (at > t.length) revert MalformedTransaction(at);
        }
        (n, at) = _compactSize(t, at);
        if (vout >= n) revert NotCustodyOutput(vout);
        for (uint256 i; i <= vout; ++i) {
            if (at + 8 > t.length) revert MalformedTransaction(at);
            uint256 len;
            (len, at) = _compactSize(t, at + 8);
            if (at + len > t.length) revert MalformedTransaction(at);
            if (i == vout) {
                if (len != 34 || t[at] != 0x00 || t[at + 1] != 0x20 || bytes32(t[at + 2:at + 34]) != program) {
                    revert NotCustodyOutput(vout);
                }
            }
            at += len;
        }
    }

    /// @notice sha256d of `data` (internal byte order), as Litecoin hashes headers and transactions.
    function sha256d(bytes calldata data) external pure returns (bytes32) {
        return _sha256d(data);
    }

    // ------------------------------------------------------------------ header and branch

    function _checkHeader(address lightClient, uint64 height, bytes calldata header) private view {
        (bytes32 acceptedHash, bytes32 acceptedRoot) = ILitecoinHeaderRecords(lightClient).headers(height);
        if (acceptedHash == bytes32(0)) revert HeaderNotAccepted(lightClient, height);
        bytes32 id = _reverse(_sha256d(header));
        if (id != acceptedHash) revert HeaderMismatch(id, acceptedHash);
        bytes32 root = _reverse(bytes32(header[36:68]));
        if (root != acceptedRoot) revert RootMismatch(root, acceptedRoot);
    }

    /// @dev The root `branch` leads `leaf` at `index` to. Refuses an index deeper than the branch and a
    /// right child equal to its sibling (a duplicated last node: a position past the level's end).
    function _walk(bytes32 leaf, bytes calldata branch, uint32 index) private view returns (bytes32 node) {
        uint256 depth = branch.length / 32;
        if (uint256(index) >> depth != 0) revert IndexBeyondBranch(index, depth);
        node = leaf;
        for (uint256 level; level < depth; ++level) {
            bytes32 sibling = bytes32(branch[32 * level:32 * level + 32]);
            if ((index >> level) & 1 == 1) {
                if (sibling == node) revert DuplicateBranchNode(level);
                node = _hashPair(sibling, node);
            } else {
                node = _hashPair(node, sibling);
            }
        }
    }

    // ------------------------------------------------------------------ transaction

    /// @dev Parses the non-witness serialisation: version, inputs, outputs, locktime; no byte left over.
    function _parseDeposit(bytes calldata t, bytes32 program) private pure returns (Deposit memory d) {
        uint256 at = 4; // version
        uint256 n;
        (n, at) = _compactSize(t, at);
        if (n == 0) revert MalformedTransaction(4); // a segwit marker or no input
        for (uint256 i; i < n; ++i) {
            at += 36; // prevout
            uint256 len;
            (len, at) = _compactSize(t, at);
            at += len + 4; // script, sequence
            if (at > t.length) revert MalformedTransaction(at);
        }
        uint256 outputsAt = at;
        (n, at) = _compactSize(t, at);
        if (n == 0) revert MalformedTransaction(outputsAt);
        uint256 found; // custody outputs
        uint256 payloads;
        for (uint256 i; i < n; ++i) {
            if (at + 8 > t.length) revert MalformedTransaction(at);
            uint64 value = _le64(t, at);
            uint256 len;
            (len, at) = _compactSize(t, at + 8);
            if (at + len > t.length) revert MalformedTransaction(at);
            if (len == 34 && t[at] == 0x00 && t[at + 1] == 0x20 && bytes32(t[at + 2:at + 34]) == program) {
                d.amount += value; // checked: a sum above 2^64 litoshis reverts
                ++found;
            } else {
                (bool isPayload, uint256 pAt, uint256 pLen) = _opReturnPush(t, at, len, "l");
                if (isPayload) {
                    ++payloads;
                    d.payloadAt = pAt;
                    d.payloadLength = pLen;
                }
            }
            at += len;
        }
        if (at + 4 != t.length) revert MalformedTransaction(at); // locktime, nothing after
        if (found == 0) revert NoCustodyOutput();
        if (payloads == 0) revert NoPayload();
        if (payloads > 1) revert SeveralPayloads();
        _checkPayload(t, d.payloadAt, d.payloadLength);
    }

    /// @dev Whether script t[at:at+len] is OP_RETURN with one push (direct 1..75 or OP_PUSHDATA1) of data
    /// starting with "r" then `second` ("rl": a deposit's payload, relayer_litecoin.deposits.op_return_data +
    /// payload.is_relayer_payload; "rr": a custody spend's marker, relayer_litecoin.marker).
    function _opReturnPush(bytes calldata t, uint256 at, uint256 len, bytes1 second)
        private
        pure
        returns (bool, uint256, uint256)
    {
        if (len < 2 || t[at] != 0x6a) return (false, 0, 0);
        uint8 op = uint8(t[at + 1]);
        uint256 dataAt;
        uint256 dataLen;
        if (op >= 1 && op <= 75 && len == 2 + op) {
            (dataAt, dataLen) = (at + 2, op);
        } else if (op == 0x4c && len >= 3 && len == 3 + uint8(t[at + 2])) {
            (dataAt, dataLen) = (at + 3, len - 3);
        } else {
            return (false, 0, 0);
        }
        if (dataLen < 2 || t[dataAt] != "r" || t[dataAt + 1] != second) return (false, 0, 0);
        return (true, dataAt, dataLen);
    }

    /// @dev relayer_litecoin.payload.decode: at least 12 bytes, version 1, recipient length 1..32 and exact.
    function _checkPayload(bytes calldata t, uint256 at, uint256 len) private pure {
        if (len < 12 || t[at + 2] != 0x01) revert MalformedPayload();
        uint256 rlen = uint8(t[at + 11]);
        if (rlen == 0 || rlen > MAX_RECIPIENT || len != 12 + rlen) revert MalformedPayload();
    }

    /// @dev A canonical compact size at `at`; the offset after it. Reverts MalformedTransaction past the end
    /// or for a non-canonical encoding (as Litecoin Core's ReadCompactSize).
    function _compactSize(bytes calldata t, uint256 at) private pure returns (uint256 value, uint256 next) {
        if (at >= t.length) revert MalformedTransaction(at);
        uint8 first = uint8(t[at]);
        if (first < 0xfd) return (first, at + 1);
        uint256 size = first == 0xfd ? 2 : first == 0xfe ? 4 : 8;
        if (at + 1 + size > t.length) revert MalformedTransaction(at);
        for (uint256 i; i < size; ++i) {
            value |= uint256(uint8(t[at + 1 + i])) << (8 * i);
        }
        uint256 least = size == 2 ? 0xfd : size == 4 ? 0x10000 : 0x100000000;
        if (value < least) revert MalformedTransaction(at);
        return (value, at + 1 + size);
    }

    function _le32(bytes calldata t, uint256 at) private pure returns (uint32 v) {
        for (uint256 i; i < 4; ++i) {
            v |= uint32(uint8(t[at + i])) << uint32(8 * i);
        }
    }

    function _le64(bytes calldata t, uint256 at) private pure returns (uint64 v) {
        for (uint256 i; i < 8; ++i) {
            v |= uint64(uint8(t[at + i])) << uint64(8 * i);
        }
    }

    // ------------------------------------------------------------------ envelope

    function _envelope(
        address lightClient,
        bytes32 program,
        uint64 height,
        uint32 index,
        bytes32 txid,
        Deposit memory d,
        bytes calldata t
    ) private view returns (bytes memory) {
        bytes calldata p = t[d.payloadAt:d.payloadAt + d.payloadLength];
        uint64 destination = uint64(bytes8(p[3:11]));
        bytes memory body = abi.encodePacked(uint8(1), txid, d.amount, destination, p[11:]);
        return Envelopes.encode(
            Envelope({
                version: Envelopes.VERSION,
                kind: Envelopes.KIND_MESSAGE,
                nonce: (height << uint64(INDEX_BITS)) | index,
                sourceChain: ILightClient(lightClient).sourceChainId(),
                sourceLayer: program,
                sender: program,
                destinationChain: destination,
                destinationLayer: Envelopes.toBytes32(layer),
                recipient: Envelopes.toBytes32(application),
                gasLimit: gasLimit,
                expiry: 0,
                ackMode: Envelopes.ACK_NONE,
                body: body
            })
        );
    }

    // ------------------------------------------------------------------ hashing

    function _sha256d(bytes calldata data) private pure returns (bytes32 h) {
        h = sha256(abi.encodePacked(sha256(data)));
    }

    function _hashPair(bytes32 a, bytes32 b) private view returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            if iszero(staticcall(gas(), 0x02, 0x00, 0x40, 0x00, 0x20)) { revert(0, 0) }
            if iszero(staticcall(gas(), 0x02, 0x00, 0x20, 0x00, 0x20)) { revert(0, 0) }
            h := mload(0x00)
        }
    }

    /// @dev `x` with its 32 bytes in reverse order (internal <-> display order).
    function _reverse(bytes32 x) private pure returns (bytes32) {
        uint256 v = uint256(x);
        v = ((v >> 8) & 0x00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF)
            | ((v & 0x00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF00FF) << 8);
        v = ((v >> 16) & 0x0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF)
            | ((v & 0x0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF0000FFFF) << 16);
        v = ((v >> 32) & 0x00000000FFFFFFFF00000000FFFFFFFF00000000FFFFFFFF00000000FFFFFFFF)
            | ((v & 0x00000000FFFFFFFF00000000FFFFFFFF00000000FFFFFFFF00000000FFFFFFFF) << 32);
        v = ((v >> 64) & 0x0000000000000000FFFFFFFFFFFFFFFF0000000000000000FFFFFFFFFFFFFFFF)
            | ((v & 0x0000000000000000FFFFFFFFFFFFFFFF0000000000000000FFFFFFFFFFFFFFFF) << 64);
        v = (v >> 128) | (v << 128);
        return bytes32(v);
    }
}
