// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ILightClient} from "../ILightClient.sol";

/// @title FiscoBcosSealCheck: a FISCO BCOS 3.x header accepted by its sealers' secp256k1 signatures.
/// @notice The direct alternative to the committee policy, kept to measure what it costs: the header
/// hash is recomputed on-chain from the header's fields (TarsHashable.h, keccak256 flavour):
///   be32(version) ‖ per parent: be64(number) ‖ hash ‖ txsRoot ‖ receiptsRoot ‖ stateRoot ‖ be64(number)
///   ‖ gasUsed (decimal ASCII) ‖ be64(timestamp) ‖ be64(sealer) ‖ each sealer node id (64 bytes)
///   ‖ extraData ‖ each consensus weight as be64
/// and each seal (65 bytes r‖s‖v, v 0/1, over the raw 32-byte hash) must recover the address of the
/// node id at its `sealerIndex`; distinct sealers must carry a weight of at least T − ⌊(T−1)/3⌋,
/// T = the sum of the weights (bcos-pbft PBFTConfig).
/// @dev Limits: the sealer list and weights are fixed at deployment (a header naming another set is
/// refused: this contract does not follow sealer-set changes); secp256k1 chains only (an SM2 seal has no
/// EVM precompile). Headers are accepted independently of each other, like the committee client.
contract FiscoBcosSealCheck is ILightClient {
    struct Parent {
        int64 number;
        bytes32 hash;
    }

    struct Header {
        int32 version;
        Parent[] parents;
        bytes32 txsRoot;
        bytes32 receiptsRoot;
        bytes32 stateRoot;
        int64 number;
        bytes gasUsed;
        int64 timestamp;
        int64 sealer;
        bytes[] sealerList;
        bytes extraData;
        int64[] consensusWeights;
    }

    struct Seal {
        uint256 sealerIndex;
        bytes signature;
    }

    struct HeaderRecord {
        bytes32 blockHash;
        bytes32 receiptsRoot;
    }

    event HeaderAccepted(uint256 indexed number, bytes32 blockHash, bytes32 receiptsRoot);

    error UnknownSealerSet();
    error BadSeal(uint256 at);
    error DuplicateSealer(uint256 sealerIndex);
    error NotEnoughWeight(uint256 got, uint256 need);
    error ConflictingHeader(uint256 number);
    error BadHeader();

    /// @inheritdoc ILightClient
    uint64 public immutable sourceChainId;
    /// @notice keccak256(abi.encode(sealerList, consensusWeights)) of the trusted sealer set.
    bytes32 public immutable sealerSetHash;
    /// @notice Accepted headers by block number.
    mapping(uint256 => HeaderRecord) public headers;

    constructor(uint64 sourceChainId_, bytes[] memory sealerList, int64[] memory consensusWeights) {
        if (sealerList.length == 0 || sealerList.length > 256 || sealerList.length != consensusWeights.length) {
            revert BadHeader();
        }
        sourceChainId = sourceChainId_;
        sealerSetHash = keccak256(abi.encode(sealerList, consensusWeights));
    }

    /// @notice Accept `header` when its seals carry the quorum weight of the trusted sealer set.
    function updateHeader(Header memory header, Seal[] memory seals) public {
        if (keccak256(abi.encode(header.sealerList, header.consensusWeights)) != sealerSetHash) {
            revert UnknownSealerSet();
        }
        if (header.number < 0) revert BadHeader();
        bytes32 hash = headerHash(header);
        uint256 number = uint256(uint64(header.number));
        HeaderRecord storage rec = headers[number];
        if (rec.blockHash != bytes32(0)) {
            if (rec.blockHash == hash) return;
            revert ConflictingHeader(number);
        }
        _checkSeals(header, hash, seals);
        rec.blockHash = hash;
        rec.receiptsRoot = header.receiptsRoot;
        emit HeaderAccepted(number, hash, header.receiptsRoot);
    }

    /// @inheritdoc ILightClient
    /// @dev update = abi.encode(Header header, Seal[] seals)
    function submitUpdate(bytes calldata update) external {
        (Header memory header, Seal[] memory seals) = abi.decode(update, (Header, Seal[]));
        updateHeader(header, seals);
    }

    /// @inheritdoc ILightClient
    function receiptsRootOf(uint256 number) external view returns (bytes32) {
        return headers[number].receiptsRoot;
    }

    /// @notice The FISCO BCOS 3.x block hash of `header` (keccak256 flavour).
    function headerHash(Header memory header) public pure returns (bytes32) {
        bytes memory out = abi.encodePacked(bytes4(uint32(header.version)));
        for (uint256 i; i < header.parents.length; ++i) {
            out = bytes.concat(out, bytes8(uint64(header.parents[i].number)), header.parents[i].hash);
        }
        out = bytes.concat(
            out,
            abi.encodePacked(
                header.txsRoot,
                header.receiptsRoot,
                header.stateRoot,
                bytes8(uint64(header.number)),
                header.gasUsed,
                bytes8(uint64(header.timestamp)),
                bytes8(uint64(header.sealer))
            )
        );
        for (uint256 i; i < header.sealerList.length; ++i) {
            if (header.sealerList[i].length != 64) revert BadHeader();
            out = bytes.concat(out, header.sealerList[i]);
        }
        out = bytes.concat(out, header.extraData, abi.encodePacked(header.consensusWeights));
        // abi.encodePacked pads each int64 of the array to 32 bytes: keep the low 8 of each
        return keccak256(_packWeights(out, header.consensusWeights.length));
    }

    // ------------------------------------------------------------------ internals

    /// @dev Rewrites the trailing `count` 32-byte words of `out` as be64 values, in place.
    function _packWeights(bytes memory out, uint256 count) private pure returns (bytes memory) {
        uint256 start = out.length - 32 * count;
        for (uint256 i; i < count; ++i) {
            bytes32 word;
            assembly ("memory-safe") {
                word := mload(add(add(out, 32), add(start, mul(i, 32))))
            }
            bytes8 be = bytes8(uint64(uint256(word)));
            assembly ("memory-safe") {
                mstore(add(add(out, 32), add(start, mul(i, 8))), be)
            }
        }
        assembly ("memory-safe") {
            mstore(out, add(start, mul(count, 8)))
        }
        return out;
    }

    function _checkSeals(Header memory header, bytes32 hash, Seal[] memory seals) private pure {
        uint256 total;
        for (uint256 i; i < header.consensusWeights.length; ++i) {
            int64 w = header.consensusWeights[i];
            if (w < 0) revert BadHeader();
            total += uint256(uint64(w));
        }
        if (total == 0) revert BadHeader();
        uint256 need = total - (total - 1) / 3;
        uint256 seen;
        uint256 weight;
        for (uint256 i; i < seals.length; ++i) {
            uint256 index = seals[i].sealerIndex;
            if (index >= header.sealerList.length) revert BadSeal(i);
            if (seen & (1 << index) != 0) revert DuplicateSealer(index);
            seen |= 1 << index;
            if (_signer(hash, seals[i].signature, i) != address(uint160(uint256(keccak256(header.sealerList[index]))))) {
                revert BadSeal(i);
            }
            weight += uint256(uint64(header.consensusWeights[index]));
        }
        if (weight < need) revert NotEnoughWeight(weight, need);
    }

    function _signer(bytes32 hash, bytes memory signature, uint256 at) private pure returns (address signer) {
        if (signature.length != 65) revert BadSeal(at);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 32))
            s := mload(add(signature, 64))
            v := byte(0, mload(add(signature, 96)))
        }
        if (v > 1) revert BadSeal(at);
        signer = ecrecover(hash, v + 27, r, s);
        if (signer == address(0)) revert BadSeal(at);
    }
}
