// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Administered} from "../messaging/Administered.sol";
import {IMessageLayer} from "../messaging/IMessageLayer.sol";
import {IAckRecipient, IMessageRecipient} from "../messaging/IMessageRecipient.sol";

/// @title TraceabilityRegistry: production batches recorded on one chain and mirrored to others with
/// their provable origin.
/// @notice A registered producer records a batch (id, product, digest of its documents) here and may
/// mirror it to the registry of another chain. The mirror keeps where the record came from: the
/// source chain, the source registry, the producer, the source block and the index of the
/// transaction in it (from the MessageLayer, which checked the receipt proof), and the message id.
/// A batch id is written once: neither a second local record nor a second message overwrites it.
/// The source learns through the acknowledgement whether each mirror was accepted.
contract TraceabilityRegistry is Administered, IMessageRecipient, IAckRecipient {
    /// @notice A batch and where it was first recorded (for a local record: this chain and contract,
    /// the block it was recorded in, txIndex 0 and id 0, as a contract cannot see its transaction index).
    struct Record {
        bytes32 product;
        bytes32 documentsDigest;
        address producer;
        uint64 sourceChain;
        bytes32 sourceRegistry;
        uint64 sourceBlock;
        uint32 sourceTxIndex;
        bytes32 messageId;
    }

    /// @notice 0 none, 1 sent, 2 accepted by the destination, 3 refused (e.g. the id exists there), 4 expired.
    enum MirrorState {
        None,
        Sent,
        Accepted,
        Refused,
        Expired
    }

    event ProducerSet(address indexed producer, bool allowed);
    event RemoteRegistrySet(uint64 indexed chain, bytes32 registry);
    event BatchRecorded(bytes32 indexed batchId, address indexed producer, bytes32 product, bytes32 documentsDigest);
    event MirrorSent(bytes32 indexed batchId, uint64 indexed chain, bytes32 messageId);
    event BatchMirrored(
        bytes32 indexed batchId,
        uint64 indexed sourceChain,
        bytes32 sourceRegistry,
        address producer,
        uint64 sourceBlock,
        uint32 sourceTxIndex,
        bytes32 messageId
    );
    event MirrorAcknowledged(bytes32 indexed batchId, uint64 indexed chain, MirrorState state, bytes reason);

    error NotProducer(address caller);
    error NotLayer(address caller);
    error NotRecordedHere(bytes32 batchId);
    error UnknownSender(uint64 chain, bytes32 sender);
    error UnknownDestination(uint64 chain);
    error InvalidChain(uint64 chain);
    error InvalidBatch();
    error BatchExists(bytes32 batchId);
    error AlreadyMirrored(bytes32 batchId, uint64 chain);
    error BadBody();

    uint8 private constant ACK_ALWAYS = 2;
    uint8 private constant OUTCOME_DELIVERED = 1;
    uint8 private constant OUTCOME_EXPIRED = 3;
    /// @notice Gas the destination's handler gets (checks and one record).
    uint64 public constant HANDLER_GAS = 200_000;
    /// @notice How long a mirror message stays valid.
    uint64 public constant MIRROR_TTL = 7 days;

    /// @notice The MessageLayer this registry sends through and accepts calls from.
    IMessageLayer public immutable layer;

    mapping(address => bool) public isProducer;
    mapping(uint64 => bytes32) private _remoteRegistry;
    mapping(bytes32 => Record) private _records;
    /// @dev batchId => destination chain => state of its mirror there
    mapping(bytes32 => mapping(uint64 => MirrorState)) private _mirror;
    /// @dev message id => (batchId, destination chain) of a mirror awaiting its acknowledgement
    mapping(bytes32 => bytes32) private _sentBatch;
    mapping(bytes32 => uint64) private _sentChain;

    constructor(address layer_, address owner_) Administered(owner_) {
        if (layer_ == address(0)) revert ZeroAddress();
        layer = IMessageLayer(layer_);
    }

    // ------------------------------------------------------------------ admin (owner = Timelock)

    function setProducer(address producer, bool allowed) external onlyOwner {
        isProducer[producer] = allowed;
        emit ProducerSet(producer, allowed);
    }

    /// @notice Set (or, with 0, remove) the registry of `chain`, the only sender accepted from it.
    function setRemoteRegistry(uint64 chain, bytes32 registry) external onlyOwner {
        if (chain == block.chainid || chain == 0) revert InvalidChain(chain);
        _remoteRegistry[chain] = registry;
        emit RemoteRegistrySet(chain, registry);
    }

    // ------------------------------------------------------------------ producer

    /// @notice Record batch `batchId` of `product` whose documents hash to `documentsDigest`.
    function record(bytes32 batchId, bytes32 product, bytes32 documentsDigest) external whenNotPaused {
        if (!isProducer[msg.sender]) revert NotProducer(msg.sender);
        if (batchId == bytes32(0)) revert InvalidBatch();
        _store(
            batchId,
            Record(
                product,
                documentsDigest,
                msg.sender,
                uint64(block.chainid),
                bytes32(uint256(uint160(address(this)))),
                uint64(block.number),
                0,
                bytes32(0)
            )
        );
        emit BatchRecorded(batchId, msg.sender, product, documentsDigest);
    }

    /// @notice Mirror batch `batchId`, recorded here by the caller, to the registry of `chain`.
    function mirror(bytes32 batchId, uint64 chain) external whenNotPaused returns (bytes32 id) {
        Record storage r = _records[batchId];
        if (r.producer != msg.sender || r.sourceChain != block.chainid) revert NotRecordedHere(batchId);
        bytes32 remote = _remoteRegistry[chain];
        if (remote == bytes32(0)) revert UnknownDestination(chain);
        MirrorState state = _mirror[batchId][chain];
        if (state == MirrorState.Sent || state == MirrorState.Accepted) revert AlreadyMirrored(batchId, chain);
        bytes memory body = abi.encode(batchId, r.product, r.documentsDigest, msg.sender);
        id = layer.send(chain, remote, body, HANDLER_GAS, uint64(block.timestamp) + MIRROR_TTL, ACK_ALWAYS);
        _mirror[batchId][chain] = MirrorState.Sent;
        _sentBatch[id] = batchId;
        _sentChain[id] = chain;
        emit MirrorSent(batchId, chain, id);
    }

    // ------------------------------------------------------------------ message layer

    /// @notice Store a batch mirrored by the registry of `sourceChain` with its origin. Reverts on an
    /// unknown sender, a batch id already recorded here, or while paused.
    function handleMessage(uint64 sourceChain, bytes32 sender, bytes calldata body)
        external
        whenNotPaused
        returns (bytes memory)
    {
        if (msg.sender != address(layer)) revert NotLayer(msg.sender);
        if (sender == bytes32(0) || _remoteRegistry[sourceChain] != sender) revert UnknownSender(sourceChain, sender);
        if (body.length != 128) revert BadBody();
        (bytes32 batchId, bytes32 product, bytes32 digest, address producer) =
            abi.decode(body, (bytes32, bytes32, bytes32, address));
        if (batchId == bytes32(0)) revert InvalidBatch();
        (bytes32 id, uint64 originChain, uint64 sourceBlock, uint32 txIndex) = layer.currentOrigin();
        if (originChain != sourceChain) revert InvalidChain(originChain);
        _store(batchId, Record(product, digest, producer, sourceChain, sender, sourceBlock, txIndex, id));
        emit BatchMirrored(batchId, sourceChain, sender, producer, sourceBlock, txIndex, id);
        return abi.encode(batchId);
    }

    /// @notice The destination's outcome of a mirror: accepted, refused or expired.
    function handleAck(bytes32 id, uint8 outcome, bytes calldata result) external {
        if (msg.sender != address(layer)) revert NotLayer(msg.sender);
        bytes32 batchId = _sentBatch[id];
        if (batchId == bytes32(0)) return;
        uint64 chain = _sentChain[id];
        delete _sentBatch[id];
        delete _sentChain[id];
        MirrorState state = outcome == OUTCOME_DELIVERED
            ? MirrorState.Accepted
            : (outcome == OUTCOME_EXPIRED ? MirrorState.Expired : MirrorState.Refused);
        _mirror[batchId][chain] = state;
        emit MirrorAcknowledged(batchId, chain, state, result);
    }

    // ------------------------------------------------------------------ views

    /// @notice Batch `batchId` with its origin (producer address(0) when unknown here).
    function recordOf(bytes32 batchId) external view returns (Record memory) {
        return _records[batchId];
    }

    /// @notice Where batch `batchId` came from: source chain, source registry, producer, source block,
    /// index of the transaction in that block, message id (0 for a record made here).
    function originOf(bytes32 batchId)
        external
        view
        returns (
            uint64 sourceChain,
            bytes32 sourceRegistry,
            address producer,
            uint64 sourceBlock,
            uint32 sourceTxIndex,
            bytes32 messageId
        )
    {
        Record storage r = _records[batchId];
        return (r.sourceChain, r.sourceRegistry, r.producer, r.sourceBlock, r.sourceTxIndex, r.messageId);
    }

    /// @notice State of the mirror of `batchId` to `chain`.
    function mirrorState(bytes32 batchId, uint64 chain) external view returns (MirrorState) {
        return _mirror[batchId][chain];
    }

    function remoteRegistry(uint64 chain) external view returns (bytes32) {
        return _remoteRegistry[chain];
    }

    // ------------------------------------------------------------------ internal

    function _store(bytes32 batchId, Record memory r) private {
        if (_records[batchId].producer != address(0)) revert BatchExists(batchId);
        _records[batchId] = r;
    }
}
