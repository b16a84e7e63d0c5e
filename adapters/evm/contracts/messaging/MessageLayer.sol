// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ILightClient} from "../ILightClient.sol";
import {Administered} from "./Administered.sol";
import {Envelope, Envelopes} from "./Envelope.sol";
import {IMessageLayer} from "./IMessageLayer.sol";
import {IAckRecipient, IMessageRecipient} from "./IMessageRecipient.sol";
import {IMessageVerifier} from "./IMessageVerifier.sol";

/// @title MessageLayer: sends proven cross-chain messages, delivers them to their recipients'
/// handlers and acknowledges their outcome back to the sender.
/// @notice Source side: `send` emits `MessageSent(id, envelope)`. Destination side:
/// `deliverBatch` verifies each proof through the source chain's verifier against its on-chain
/// light client, checks the envelope names this chain and this contract, skips ids already
/// processed, and calls the recipient with exactly the gas the sender asked for. A handler that
/// reverts or runs out of gas never reverts the batch: the outcome (delivered, failed with its
/// revert data, expired) is recorded and emitted (`MessageProcessed`), and acknowledged by a
/// `MessageSent` of kind 1 when the sender asked for it. Failures without acknowledgement can be
/// retried by anyone (`retry`); success happens at most once. An acknowledgement is an
/// envelope of kind 1 from this layer to the original sender (its recipient) on the source chain,
/// with the original message's gasLimit for `handleAck`, no expiry and no acknowledgement.
/// @dev Handlers are untrusted: `deliverBatch` and `retry` hold a lock (a handler re-entering
/// them reverts Reentrancy), and a message's outcome is recorded before its handler runs.
contract MessageLayer is Administered, IMessageLayer {
    /// @notice How to reach and verify a remote chain.
    struct Remote {
        bytes32 layer; // the MessageLayer of that chain
        address lightClient; // this chain's light client of that chain
        address verifier; // IMessageVerifier for that chain's family
    }

    /// @dev The message whose handler is running (readable through currentOrigin).
    struct Origin {
        bytes32 id;
        uint64 sourceChain;
        uint64 sourceBlock;
        uint32 sourceTxIndex;
    }

    /// @dev A failure that may be retried: the envelope's hash and where it was proven.
    struct Retriable {
        bytes32 envelopeHash;
        uint64 sourceBlock;
        uint32 sourceTxIndex;
    }

    event MessageSent(bytes32 indexed id, bytes envelope);
    event MessageProcessed(bytes32 indexed id, uint8 outcome, bytes result);
    event RemoteSet(uint64 indexed chain, bytes32 layer, address lightClient, address verifier);
    event MaxGasLimitSet(uint64 maxGasLimit);

    error UnknownChain(uint64 chain);
    error InvalidChain(uint64 chain);
    error LightClientChainMismatch(uint64 chain, uint64 lightClientChain);
    error ZeroRecipient();
    error InvalidAckMode(uint8 ackMode);
    error GasLimitTooHigh(uint64 gasLimit, uint64 maxGasLimit);
    error AlreadyExpired(uint64 expiry);
    error UnsupportedVersion(uint8 version);
    error UnsupportedKind(uint8 kind);
    error WrongSourceChain(uint64 chain);
    error WrongSourceLayer(bytes32 layer);
    error WrongDestinationChain(uint64 chain);
    error WrongDestinationLayer(bytes32 layer);
    error InsufficientGas(uint256 needed, uint256 left);
    error Reentrancy();
    error NoMessageInProgress();
    error NotRetriable(bytes32 id);
    error RetryFailed(bytes32 id, bytes reason);
    /// @notice Result of a handler that used up its whole gas limit without revert data.
    error HandlerOutOfGas(uint64 gasLimit);
    /// @notice Result of a message whose recipient is not a contract of this chain.
    error RecipientNotContract(bytes32 recipient);

    /// @notice At most this many bytes of a handler's return or revert data are kept (a handler's
    /// `bytes` result keeps its first MAX_RESULT_BYTES - 64 bytes).
    uint256 public constant MAX_RESULT_BYTES = 512;
    /// @dev Gas beyond gasLimit + gasLimit/63 that must be left before a handler call, so the
    /// handler surely receives its whole gasLimit (EIP-150) after the call's own costs.
    uint256 private constant CALL_RESERVE = 10_000;
    uint8 private constant IDLE = 0;
    uint8 private constant DELIVERING = 1;
    uint8 private constant IN_HANDLER = 2;

    /// @notice Nonce of the next envelope this layer sends (messages and acknowledgements, from 1).
    uint64 public nextNonce = 1;
    /// @notice Highest gasLimit `send` accepts.
    uint64 public maxGasLimit;
    /// @dev IDLE, DELIVERING or IN_HANDLER (packed with the nonce: cheap to toggle).
    uint8 private _lock;
    mapping(uint64 => Remote) private _remotes;
    /// @dev keccak(sourceChain, sourceLayer) => nonce / 128 => 2-bit outcomes (the replay guard)
    mapping(bytes32 => mapping(uint256 => uint256)) private _outcomes;
    mapping(bytes32 => Retriable) private _retriable;
    Origin private _origin;

    constructor(address owner_, uint64 maxGasLimit_) Administered(owner_) {
        _origin = Origin(bytes32(uint256(1)), 1, 1, 1); // a sentinel: never zero, so writes stay cheap
        maxGasLimit = maxGasLimit_;
        emit MaxGasLimitSet(maxGasLimit_);
    }

    // ------------------------------------------------------------------ administration

    /// @notice Set (or re-point) how chain `chain` is reached: its MessageLayer `layer`, this
    /// chain's light client of it and the verifier of its proofs. Owner only (NotOwner).
    /// @dev Reverts InvalidChain for 0 or this chain, ZeroAddress for a zero field,
    /// LightClientChainMismatch when the light client follows another chain. Messages already
    /// processed stay processed: the replay guard is keyed by (chain, layer, nonce).
    function setRemote(uint64 chain, bytes32 layer, address lightClient, address verifier) external onlyOwner {
        if (chain == 0 || chain == block.chainid) revert InvalidChain(chain);
        if (layer == bytes32(0) || lightClient == address(0) || verifier == address(0)) revert ZeroAddress();
        uint64 followed = ILightClient(lightClient).sourceChainId();
        if (followed != chain) revert LightClientChainMismatch(chain, followed);
        _remotes[chain] = Remote(layer, lightClient, verifier);
        emit RemoteSet(chain, layer, lightClient, verifier);
    }

    /// @notice Set the highest gasLimit `send` accepts. Owner only (NotOwner).
    function setMaxGasLimit(uint64 maxGasLimit_) external onlyOwner {
        maxGasLimit = maxGasLimit_;
        emit MaxGasLimitSet(maxGasLimit_);
    }

    // ------------------------------------------------------------------ sending

    /// @inheritdoc IMessageLayer
    /// @dev The sender is msg.sender. Reverts IsPaused, UnknownChain (no remote for the
    /// destination), ZeroRecipient, InvalidAckMode (above 2), GasLimitTooHigh (above
    /// maxGasLimit), AlreadyExpired (expiry not in the future). Allowed from inside a handler.
    function send(
        uint64 destinationChain,
        bytes32 recipient,
        bytes calldata body,
        uint64 gasLimit,
        uint64 expiry,
        uint8 ackMode
    ) external whenNotPaused returns (bytes32 id) {
        bytes32 layer = _remotes[destinationChain].layer;
        if (layer == bytes32(0)) revert UnknownChain(destinationChain);
        if (recipient == bytes32(0)) revert ZeroRecipient();
        if (ackMode > Envelopes.ACK_ALWAYS) revert InvalidAckMode(ackMode);
        if (gasLimit > maxGasLimit) revert GasLimitTooHigh(gasLimit, maxGasLimit);
        if (expiry != 0 && expiry <= block.timestamp) revert AlreadyExpired(expiry);
        id = _emitEnvelope(
            Envelopes.KIND_MESSAGE,
            Envelopes.toBytes32(msg.sender),
            destinationChain,
            layer,
            recipient,
            gasLimit,
            expiry,
            ackMode,
            body
        );
    }

    // ------------------------------------------------------------------ delivery

    /// @notice Deliver the messages `proofs` prove on `sourceChain`, after submitting
    /// `lightClientUpdate` to its light client when not empty.
    /// @dev Each proof goes through the source's verifier (its revert reverts the batch: a
    /// forged proof, a header never accepted). Each envelope must name this chain and this
    /// contract as destination and the remote's layer as source (WrongSourceChain,
    /// WrongSourceLayer, WrongDestinationChain, WrongDestinationLayer, UnsupportedVersion,
    /// UnsupportedKind revert the batch). Ids already processed are skipped without revert.
    /// A handler's failure is recorded, not propagated. Reverts IsPaused, UnknownChain,
    /// Reentrancy (called from a handler), InsufficientGas (less than a handler's gasLimit left).
    /// @return processed number of messages processed by this call (skipped ones not counted)
    function deliverBatch(uint64 sourceChain, bytes calldata lightClientUpdate, bytes[] calldata proofs)
        external
        whenNotPaused
        returns (uint256 processed)
    {
        _enter();
        Remote memory r = _remote(sourceChain);
        if (lightClientUpdate.length != 0) ILightClient(r.lightClient).submitUpdate(lightClientUpdate);
        Origin memory saved = _origin; // restored below: slots set back to their value are refunded
        uint256 freeMemory = _freeMemory();
        for (uint256 i; i < proofs.length; ++i) {
            (bytes memory raw, uint64 blockNumber, uint32 txIndex) =
                IMessageVerifier(r.verifier).verifyMessage(r.lightClient, r.layer, proofs[i]);
            if (_deliver(sourceChain, r.layer, raw, blockNumber, txIndex)) ++processed;
            _releaseMemory(freeMemory); // nothing of one message is kept: memory cost stays linear
        }
        _origin = saved;
        _lock = IDLE;
    }

    /// @notice Execute again a message (or acknowledgement) that failed without an
    /// acknowledgement, once the cause of its failure is gone. Anyone may call.
    /// @param envelope the exact envelope bytes of its MessageSent event
    /// @dev Reverts IsPaused, Reentrancy, NotRetriable (never failed, already delivered, failed
    /// with an acknowledgement (final), or bytes that are not the proven envelope),
    /// InsufficientGas, RetryFailed(id, reason) when the handler fails again (it stays
    /// retriable). An envelope past its expiry is recorded expired instead of executed.
    /// @return result the handler's result
    function retry(bytes calldata envelope) external whenNotPaused returns (bytes memory result) {
        _enter();
        Envelope memory e = Envelopes.decode(envelope);
        bytes32 id = Envelopes.idOf(e);
        Retriable memory rec = _retriable[id];
        if (rec.envelopeHash == bytes32(0) || rec.envelopeHash != keccak256(envelope)) revert NotRetriable(id);
        delete _retriable[id];
        bytes32 channel = _channel(e.sourceChain, e.sourceLayer);
        if (_expired(e)) {
            _setOutcome(channel, e.nonce, Envelopes.OUTCOME_EXPIRED);
            emit MessageProcessed(id, Envelopes.OUTCOME_EXPIRED, "");
        } else {
            _setOutcome(channel, e.nonce, Envelopes.OUTCOME_DELIVERED);
            bool ok;
            (ok, result) = _execute(e, id, rec.sourceBlock, rec.sourceTxIndex);
            if (!ok) revert RetryFailed(id, result);
            emit MessageProcessed(id, Envelopes.OUTCOME_DELIVERED, result);
        }
        _lock = IDLE;
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IMessageLayer
    /// @dev Reverts NoMessageInProgress outside a handler call.
    function currentOrigin()
        external
        view
        returns (bytes32 id, uint64 sourceChain, uint64 sourceBlock, uint32 sourceTxIndex)
    {
        if (_lock != IN_HANDLER) revert NoMessageInProgress();
        Origin memory o = _origin;
        return (o.id, o.sourceChain, o.sourceBlock, o.sourceTxIndex);
    }

    /// @notice Outcome recorded here for message `nonce` of `sourceLayer` on `sourceChain`:
    /// 0 not processed, 1 delivered, 2 failed, 3 expired.
    function outcomeOf(uint64 sourceChain, bytes32 sourceLayer, uint64 nonce) external view returns (uint8) {
        return _outcomeAt(_channel(sourceChain, sourceLayer), nonce);
    }

    /// @notice Whether message `id` failed without acknowledgement and may be retried.
    function isRetriable(bytes32 id) external view returns (bool) {
        return _retriable[id].envelopeHash != bytes32(0);
    }

    /// @notice How chain `chain` is reached (all zero when unknown).
    function remoteOf(uint64 chain) external view returns (Remote memory) {
        return _remotes[chain];
    }

    /// @notice The id of message `nonce` of `sourceLayer` on `sourceChain`.
    function messageId(uint64 sourceChain, bytes32 sourceLayer, uint64 nonce) external pure returns (bytes32) {
        return Envelopes.id(sourceChain, sourceLayer, nonce);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Process one verified envelope; false when its id was already processed (skipped).
    function _deliver(uint64 sourceChain, bytes32 sourceLayer, bytes memory raw, uint64 blockNumber, uint32 txIndex)
        private
        returns (bool)
    {
        Envelope memory e = Envelopes.decode(raw);
        _checkArrival(e, sourceChain, sourceLayer);
        bytes32 channel = _channel(sourceChain, sourceLayer);
        if (_outcomeAt(channel, e.nonce) != Envelopes.OUTCOME_NONE) return false;
        bytes32 id = Envelopes.idOf(e);
        if (_expired(e)) {
            _setOutcome(channel, e.nonce, Envelopes.OUTCOME_EXPIRED);
            _conclude(e, id, Envelopes.OUTCOME_EXPIRED, "");
            return true;
        }
        _setOutcome(channel, e.nonce, Envelopes.OUTCOME_DELIVERED); // before the untrusted call
        (bool ok, bytes memory result) = _execute(e, id, blockNumber, txIndex);
        if (ok) {
            _conclude(e, id, Envelopes.OUTCOME_DELIVERED, result); // the outcome recorded above stands
        } else if (e.kind == Envelopes.KIND_ACK || e.ackMode == Envelopes.ACK_NONE) {
            _setOutcome(channel, e.nonce, Envelopes.OUTCOME_FAILED);
            _retriable[id] = Retriable(keccak256(raw), blockNumber, txIndex);
            emit MessageProcessed(id, Envelopes.OUTCOME_FAILED, result);
        } else {
            _setOutcome(channel, e.nonce, Envelopes.OUTCOME_FAILED);
            _conclude(e, id, Envelopes.OUTCOME_FAILED, result); // final: acknowledged
        }
        return true;
    }

    /// @dev Emit a final outcome (already recorded) and acknowledge it when the sender asked for it.
    function _conclude(Envelope memory e, bytes32 id, uint8 outcome, bytes memory result) private {
        emit MessageProcessed(id, outcome, result);
        if (e.kind != Envelopes.KIND_MESSAGE || e.ackMode == Envelopes.ACK_NONE) return;
        if (e.ackMode == Envelopes.ACK_ON_FAILURE && outcome == Envelopes.OUTCOME_DELIVERED) return;
        _emitEnvelope(
            Envelopes.KIND_ACK,
            Envelopes.toBytes32(address(this)),
            e.sourceChain,
            e.sourceLayer,
            e.sender,
            e.gasLimit,
            0,
            Envelopes.ACK_NONE,
            Envelopes.ackBody(id, outcome, result)
        );
    }

    /// @dev Refuse an envelope not sent by `sourceLayer` of `sourceChain` to this contract.
    function _checkArrival(Envelope memory e, uint64 sourceChain, bytes32 sourceLayer) private view {
        if (e.version != Envelopes.VERSION) revert UnsupportedVersion(e.version);
        if (e.kind > Envelopes.KIND_ACK) revert UnsupportedKind(e.kind);
        if (e.sourceChain != sourceChain) revert WrongSourceChain(e.sourceChain);
        if (e.sourceLayer != sourceLayer) revert WrongSourceLayer(e.sourceLayer);
        if (e.destinationChain != block.chainid) revert WrongDestinationChain(e.destinationChain);
        if (e.destinationLayer != Envelopes.toBytes32(address(this))) revert WrongDestinationLayer(e.destinationLayer);
    }

    /// @dev Call the recipient's handler (handleMessage, or handleAck for kind 1) with exactly
    /// e.gasLimit; (true, returned bytes) or (false, revert data).
    function _execute(Envelope memory e, bytes32 id, uint64 blockNumber, uint32 txIndex)
        private
        returns (bool ok, bytes memory result)
    {
        uint256 word = uint256(e.recipient);
        address target = address(uint160(word));
        if (word >> 160 != 0 || target.code.length == 0) {
            return (false, abi.encodeWithSelector(RecipientNotContract.selector, e.recipient));
        }
        bytes memory data;
        if (e.kind == Envelopes.KIND_ACK) {
            (bytes32 acked, uint8 outcome, bytes memory ackResult) = abi.decode(e.body, (bytes32, uint8, bytes));
            data = abi.encodeCall(IAckRecipient.handleAck, (acked, outcome, ackResult));
        } else {
            data = abi.encodeCall(IMessageRecipient.handleMessage, (e.sourceChain, e.sender, e.body));
        }
        _origin = Origin(id, e.sourceChain, blockNumber, txIndex);
        _lock = IN_HANDLER;
        (ok, result) = _callExact(target, e.gasLimit, data);
        _lock = DELIVERING;
        if (ok) result = _returnedBytes(result);
    }

    /// @dev Call `target` with exactly `gasLimit` gas, keeping at most MAX_RESULT_BYTES of what it
    /// returns. Reverts InsufficientGas unless enough gas is left for the handler to get all of it.
    function _callExact(address target, uint64 gasLimit, bytes memory data)
        private
        returns (bool ok, bytes memory ret)
    {
        uint256 needed = uint256(gasLimit) + gasLimit / 63 + CALL_RESERVE;
        uint256 before = gasleft();
        if (before < needed) revert InsufficientGas(needed, before);
        uint256 cap = MAX_RESULT_BYTES;
        assembly ("memory-safe") {
            ok := call(gasLimit, target, 0, add(data, 32), mload(data), 0, 0)
            let size := returndatasize()
            if gt(size, cap) { size := cap }
            ret := mload(0x40)
            mstore(ret, size)
            returndatacopy(add(ret, 32), 0, size)
            mstore(0x40, add(add(ret, 32), and(add(size, 31), not(31))))
        }
        // an empty revert after the whole limit was spent is an out-of-gas (or INVALID) in the handler
        if (!ok && ret.length == 0 && before - gasleft() > gasLimit) {
            ret = abi.encodeWithSelector(HandlerOutOfGas.selector, gasLimit);
        }
    }

    /// @dev The `bytes` a handler returned (abi-encoded), cut to what MAX_RESULT_BYTES kept; the
    /// raw data when it is not an encoded `bytes`.
    function _returnedBytes(bytes memory ret) private pure returns (bytes memory out) {
        out = ret;
        if (ret.length < 64) return out;
        uint256 offset;
        uint256 len;
        assembly ("memory-safe") {
            offset := mload(add(ret, 32))
            len := mload(add(ret, 64))
        }
        if (offset != 32) return out;
        uint256 kept = ret.length - 64;
        if (len > kept) len = kept; // truncated copy
        assembly ("memory-safe") {
            out := add(ret, 64) // the length word then the bytes, inside `ret`
            mstore(out, len)
        }
    }

    /// @dev Emit an envelope from this layer with the next nonce; returns its id.
    function _emitEnvelope(
        uint8 kind,
        bytes32 sender,
        uint64 destinationChain,
        bytes32 destinationLayer,
        bytes32 recipient,
        uint64 gasLimit,
        uint64 expiry,
        uint8 ackMode,
        bytes memory body
    ) private returns (bytes32 id) {
        uint64 nonce = nextNonce;
        nextNonce = nonce + 1;
        Envelope memory e = Envelope({
            version: Envelopes.VERSION,
            kind: kind,
            nonce: nonce,
            sourceChain: uint64(block.chainid),
            sourceLayer: Envelopes.toBytes32(address(this)),
            sender: sender,
            destinationChain: destinationChain,
            destinationLayer: destinationLayer,
            recipient: recipient,
            gasLimit: gasLimit,
            expiry: expiry,
            ackMode: ackMode,
            body: body
        });
        id = Envelopes.idOf(e);
        emit MessageSent(id, Envelopes.encode(e));
    }

    function _freeMemory() private pure returns (uint256 p) {
        assembly ("memory-safe") {
            p := mload(0x40)
        }
    }

    /// @dev Give back the memory allocated since `p` was read (nothing allocated since is used again).
    function _releaseMemory(uint256 p) private pure {
        assembly ("memory-safe") {
            mstore(0x40, p)
        }
    }

    function _enter() private {
        if (_lock != IDLE) revert Reentrancy();
        _lock = DELIVERING;
    }

    function _remote(uint64 chain) private view returns (Remote memory r) {
        r = _remotes[chain];
        if (r.verifier == address(0)) revert UnknownChain(chain);
    }

    function _expired(Envelope memory e) private view returns (bool) {
        return e.expiry != 0 && block.timestamp > e.expiry;
    }

    function _channel(uint64 sourceChain, bytes32 sourceLayer) private pure returns (bytes32) {
        return keccak256(abi.encode(sourceChain, sourceLayer));
    }

    function _outcomeAt(bytes32 channel, uint64 nonce) private view returns (uint8) {
        return uint8((_outcomes[channel][nonce >> 7] >> ((nonce & 127) << 1)) & 3);
    }

    function _setOutcome(bytes32 channel, uint64 nonce, uint8 outcome) private {
        uint256 shift = (uint256(nonce) & 127) << 1;
        mapping(uint256 => uint256) storage words = _outcomes[channel];
        uint256 w = words[nonce >> 7];
        words[nonce >> 7] = (w & ~(uint256(3) << shift)) | (uint256(outcome) << shift);
    }
}
