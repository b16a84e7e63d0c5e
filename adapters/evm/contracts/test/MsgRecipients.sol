// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {IMessageLayer} from "../messaging/IMessageLayer.sol";
import {IAckRecipient, IMessageRecipient} from "../messaging/IMessageRecipient.sol";

// Test-only handlers for the MessageLayer tests: one that records what it receives, one that
// always reverts with data, one that burns all its gas, one that fails until switched on, one
// that re-enters the layer, and an application that sends and records acknowledgements.

/// @title MsgRecorder: records every message and returns "ok:" ++ body.
contract MsgRecorder is IMessageRecipient {
    struct Received {
        uint64 sourceChain;
        bytes32 sender;
        bytes body;
        bytes32 id;
        uint64 sourceBlock;
        uint32 sourceTxIndex;
        uint256 gasAtEntry;
    }

    address public immutable layer;
    Received[] private _received;

    constructor(address layer_) {
        layer = layer_;
    }

    function handleMessage(uint64 sourceChain, bytes32 sender, bytes calldata body) external returns (bytes memory) {
        uint256 g = gasleft();
        require(msg.sender == layer, "not the layer");
        (bytes32 id,, uint64 sourceBlock, uint32 sourceTxIndex) = IMessageLayer(layer).currentOrigin();
        _received.push(Received(sourceChain, sender, body, id, sourceBlock, sourceTxIndex, g));
        return abi.encodePacked("ok:", body);
    }

    function count() external view returns (uint256) {
        return _received.length;
    }

    function received(uint256 i) external view returns (Received memory) {
        return _received[i];
    }
}

/// @title MsgReverter: always reverts with Refused(body).
contract MsgReverter is IMessageRecipient {
    error Refused(bytes body);

    function handleMessage(uint64, bytes32, bytes calldata body) external pure returns (bytes memory) {
        revert Refused(body);
    }
}

/// @title MsgGasBurner: loops until its gas runs out.
contract MsgGasBurner is IMessageRecipient {
    uint256 public sink;

    function handleMessage(uint64, bytes32, bytes calldata) external returns (bytes memory) {
        while (true) {
            ++sink;
        }
        return "";
    }
}

/// @title MsgSwitch: reverts NotYet() until `flip()` is called; then counts deliveries.
contract MsgSwitch is IMessageRecipient {
    error NotYet();

    bool public on;
    uint256 public handled;

    function flip() external {
        on = true;
    }

    function handleMessage(uint64, bytes32, bytes calldata) external returns (bytes memory) {
        if (!on) revert NotYet();
        ++handled;
        return "switched";
    }
}

/// @title MsgReentrant: from its handler, calls the layer with `payload` (say deliverBatch or
/// retry of the message being handled) and records whether that call succeeded and its data.
contract MsgReentrant is IMessageRecipient {
    address public immutable layer;
    bytes public payload;
    uint256 public handled;
    bool public innerOk;
    bytes public innerData;

    constructor(address layer_) {
        layer = layer_;
    }

    function setPayload(bytes calldata payload_) external {
        payload = payload_;
    }

    function handleMessage(uint64, bytes32, bytes calldata) external returns (bytes memory) {
        ++handled;
        (innerOk, innerData) = layer.call(payload);
        return "";
    }
}

/// @title MsgApp: sends messages through the layer and records the acknowledgements it gets;
/// its ack handler reverts AckRefused() while `refuseAcks` is set.
contract MsgApp is IAckRecipient {
    struct Ack {
        bytes32 id;
        uint8 outcome;
        bytes result;
    }

    error AckRefused();

    IMessageLayer public immutable layer;
    bool public refuseAcks;
    Ack[] private _acks;

    constructor(address layer_) {
        layer = IMessageLayer(layer_);
    }

    function setRefuseAcks(bool refuse) external {
        refuseAcks = refuse;
    }

    function send(
        uint64 destinationChain,
        bytes32 recipient,
        bytes calldata body,
        uint64 gasLimit,
        uint64 expiry,
        uint8 ackMode
    ) external returns (bytes32) {
        return layer.send(destinationChain, recipient, body, gasLimit, expiry, ackMode);
    }

    function handleAck(bytes32 id, uint8 outcome, bytes calldata result) external {
        require(msg.sender == address(layer), "not the layer");
        if (refuseAcks) revert AckRefused();
        _acks.push(Ack(id, outcome, result));
    }

    function ackCount() external view returns (uint256) {
        return _acks.length;
    }

    function ackAt(uint256 i) external view returns (Ack memory) {
        return _acks[i];
    }
}

/// @title MsgEmpty: a handler that does nothing (for gas measurements).
contract MsgEmpty is IMessageRecipient {
    function handleMessage(uint64, bytes32, bytes calldata) external pure returns (bytes memory) {
        return "";
    }
}
