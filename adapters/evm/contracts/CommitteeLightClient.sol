// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ILightClient} from "./ILightClient.sol";

/// @title CommitteeLightClient: accepts source-chain headers signed by M of N committee members.
/// @notice Signatures are EIP-712 over
///   Header(uint64 sourceChainId,uint256 number,bytes32 blockHash,bytes32 receiptsRoot,uint64 epoch)
/// in the domain (name "RelayerCommitteeLightClient", version "1", chainId = this chain, verifyingContract = this).
/// The committee rotates itself with M-of-N signatures over Rotation(uint64 epoch,address[] members,uint8 threshold).
/// Storage keeps only what the verifiers read: the receipts root per accepted number (one slot); the block
/// hash is in the HeaderAccepted event. A second root for an accepted number is refused (ConflictingHeader);
/// the same root again is a no-op whatever block hash comes with it (the root is all a proof is checked
/// against). CommitteeHashLightClient also keeps the block hash, for verifiers that read it on-chain.
contract CommitteeLightClient is ILightClient {
    event HeaderAccepted(uint256 indexed number, bytes32 blockHash, bytes32 receiptsRoot);
    event CommitteeRotated(uint64 epoch, address[] members, uint8 threshold);

    error UnknownSigner(address signer);
    error SignersNotAscending();
    error NotEnoughSignatures(uint256 got, uint256 need);
    error ConflictingHeader(uint256 number);
    error BadSignatureLength();
    error InvalidCommittee();
    error InvalidSignature();
    error ZeroHeaderField(uint256 number);

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant HEADER_TYPEHASH =
        keccak256("Header(uint64 sourceChainId,uint256 number,bytes32 blockHash,bytes32 receiptsRoot,uint64 epoch)");
    bytes32 private constant ROTATION_TYPEHASH = keccak256("Rotation(uint64 epoch,address[] members,uint8 threshold)");
    bytes32 private constant NAME_HASH = keccak256("RelayerCommitteeLightClient");
    bytes32 private constant VERSION_HASH = keccak256("1");
    /// @dev secp256k1n / 2: larger s values are malleable duplicates and rejected.
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @inheritdoc ILightClient
    uint64 public immutable sourceChainId;
    uint256 private immutable _cachedChainId;
    bytes32 private immutable _cachedDomain;

    /// @notice Current committee epoch (0 at deployment, +1 per rotation).
    uint64 public epoch;
    /// @notice Signatures needed to accept a header or a rotation.
    uint8 public threshold;
    /// @notice Highest accepted block number.
    uint256 public latestNumber;
    /// @dev Accepted receipts roots by block number (zero: none accepted).
    mapping(uint256 => bytes32) internal _roots;

    address[] private _members;
    /// @dev epoch + 1 of the last committee an address belongs to.
    mapping(address => uint64) private _memberTag;

    constructor(uint64 sourceChainId_, address[] memory members, uint8 threshold_) {
        sourceChainId = sourceChainId_;
        _cachedChainId = block.chainid;
        _cachedDomain = _buildDomain();
        _setCommittee(0, members, threshold_);
    }

    // ------------------------------------------------------------------ updates

    /// @notice Accept the header at `number` signed by at least `threshold` members; a zero block hash or
    /// receipts root is malformed (ZeroHeaderField); another root than the one accepted at `number` is
    /// refused (ConflictingHeader); the accepted one again is a no-op.
    /// @param signatures concatenated 65-byte r||s||v (v 27/28), signers strictly ascending
    function updateHeader(uint256 number, bytes32 blockHash, bytes32 receiptsRoot, bytes calldata signatures)
        external
    {
        _updateHeader(number, blockHash, receiptsRoot, signatures);
    }

    /// @inheritdoc ILightClient
    function submitUpdate(bytes calldata update) external {
        uint256 number = uint256(bytes32(update[0:32]));
        bytes32 blockHash = bytes32(update[32:64]);
        bytes32 receiptsRoot = bytes32(update[64:96]);
        uint256 off = uint256(bytes32(update[96:128]));
        uint256 len = uint256(bytes32(update[off:off + 32]));
        _updateHeader(number, blockHash, receiptsRoot, update[off + 32:off + 32 + len]);
    }

    /// @notice Replace the committee; signed by the current committee over Rotation(epoch + 1, members, threshold).
    function rotateCommittee(address[] calldata members, uint8 threshold_, bytes calldata signatures) external {
        uint64 next = epoch + 1;
        bytes32 structHash =
            keccak256(abi.encode(ROTATION_TYPEHASH, next, keccak256(abi.encodePacked(members)), threshold_));
        _checkSignatures(_digest(structHash), signatures);
        _setCommittee(next, members, threshold_);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ILightClient
    function receiptsRootOf(uint256 number) external view returns (bytes32) {
        return _roots[number];
    }

    /// @notice Members of the current committee, ascending.
    function getMembers() external view returns (address[] memory) {
        return _members;
    }

    /// @notice Whether `account` belongs to the current committee.
    function isMember(address account) public view returns (bool) {
        return _memberTag[account] == epoch + 1;
    }

    /// @notice The EIP-712 domain separator of this light client.
    function domainSeparator() public view returns (bytes32) {
        return block.chainid == _cachedChainId ? _cachedDomain : _buildDomain();
    }

    /// @notice The EIP-712 digest the committee signs for a header in the current epoch.
    function headerDigest(uint256 number, bytes32 blockHash, bytes32 receiptsRoot) public view returns (bytes32) {
        return _digest(keccak256(abi.encode(HEADER_TYPEHASH, sourceChainId, number, blockHash, receiptsRoot, epoch)));
    }

    // ------------------------------------------------------------------ internals

    function _updateHeader(uint256 number, bytes32 blockHash, bytes32 receiptsRoot, bytes calldata signatures)
        private
    {
        if (blockHash == bytes32(0) || receiptsRoot == bytes32(0)) revert ZeroHeaderField(number);
        if (_accepted(number, blockHash, receiptsRoot)) return;
        _checkSignatures(headerDigest(number, blockHash, receiptsRoot), signatures);
        _roots[number] = receiptsRoot;
        _record(number, blockHash);
        if (number > latestNumber) latestNumber = number;
        emit HeaderAccepted(number, blockHash, receiptsRoot);
    }

    /// @dev Whether this header was accepted already; reverts ConflictingHeader when another one was.
    function _accepted(uint256 number, bytes32, bytes32 receiptsRoot) internal view virtual returns (bool) {
        bytes32 known = _roots[number];
        if (known == bytes32(0)) return false;
        if (known != receiptsRoot) revert ConflictingHeader(number);
        return true;
    }

    /// @dev Keep more of an accepted header than its root (nothing here).
    function _record(uint256 number, bytes32 blockHash) internal virtual {}

    function _checkSignatures(bytes32 digest, bytes calldata signatures) private view {
        if (signatures.length % 65 != 0) revert BadSignatureLength();
        uint256 count = signatures.length / 65;
        uint256 need = threshold;
        if (count < need) revert NotEnoughSignatures(count, need);
        uint64 tag = epoch + 1;
        address prev;
        for (uint256 i; i < count; ++i) {
            address signer = _recover(digest, signatures, i * 65);
            if (signer <= prev) revert SignersNotAscending();
            if (_memberTag[signer] != tag) revert UnknownSigner(signer);
            prev = signer;
        }
    }

    function _recover(bytes32 digest, bytes calldata sigs, uint256 at) private pure returns (address signer) {
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            let p := add(sigs.offset, at)
            r := calldataload(p)
            s := calldataload(add(p, 32))
            v := byte(0, calldataload(add(p, 64)))
        }
        if (uint256(s) > HALF_ORDER || (v != 27 && v != 28)) revert InvalidSignature();
        signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert InvalidSignature();
    }

    function _setCommittee(uint64 newEpoch, address[] memory members, uint8 threshold_) private {
        if (threshold_ == 0 || threshold_ > members.length) revert InvalidCommittee();
        uint64 tag = newEpoch + 1;
        address prev;
        delete _members;
        for (uint256 i; i < members.length; ++i) {
            address m = members[i];
            if (m <= prev) revert InvalidCommittee(); // ascending, no duplicates, no zero address
            _memberTag[m] = tag;
            _members.push(m);
            prev = m;
        }
        epoch = newEpoch;
        threshold = threshold_;
        emit CommitteeRotated(newEpoch, members, threshold_);
    }

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator(), structHash));
    }

    function _buildDomain() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }
}
