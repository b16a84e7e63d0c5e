// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Timelock: the administrator of the message layer and its applications.
/// @notice The proposer (the consortium's governance address, e.g. a ConsortiumMultisig) schedules a
/// call; anyone executes it once its delay, at least `minDelay`, has passed; the proposer may cancel it
/// before. An operation is identified by keccak256(abi.encode(target, value, data, salt)) and runs at
/// most once. The Timelock's own settings (proposer, minimum delay) change only through a call it
/// makes to itself, i.e. through the same schedule and delay.
contract Timelock {
    event CallScheduled(bytes32 indexed id, address target, uint256 value, bytes data, bytes32 salt, uint256 readyAt);
    event CallExecuted(bytes32 indexed id, address target, uint256 value, bytes data);
    event Cancelled(bytes32 indexed id);
    event MinDelayChanged(uint256 previous, uint256 minDelay);
    event ProposerChanged(address previous, address proposer);

    error NotProposer(address caller);
    error NotSelf(address caller);
    error InvalidAddress();
    error DelayTooShort(uint256 delay, uint256 minDelay);
    error AlreadyScheduled(bytes32 id);
    error NotPending(bytes32 id);
    error NotReady(bytes32 id, uint256 readyAt, uint256 now_);
    error CallFailed(bytes32 id);

    /// @dev readyAt value of an executed operation.
    uint256 private constant DONE = 1;

    /// @notice The only address that may schedule and cancel operations.
    address public proposer;
    /// @notice The smallest delay an operation may be scheduled with (seconds).
    uint256 public minDelay;
    /// @dev id => 0 unknown, 1 done, otherwise the timestamp from which it may execute.
    mapping(bytes32 => uint256) private _readyAt;

    constructor(address proposer_, uint256 minDelay_) {
        if (proposer_ == address(0)) revert InvalidAddress();
        proposer = proposer_;
        minDelay = minDelay_;
        emit ProposerChanged(address(0), proposer_);
        emit MinDelayChanged(0, minDelay_);
    }

    modifier onlyProposer() {
        if (msg.sender != proposer) revert NotProposer(msg.sender);
        _;
    }

    modifier onlySelf() {
        if (msg.sender != address(this)) revert NotSelf(msg.sender);
        _;
    }

    receive() external payable {}

    /// @notice The id of the operation calling `target` with `value` and `data` (`salt` tells repeats apart).
    function operationId(address target, uint256 value, bytes calldata data, bytes32 salt)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(target, value, data, salt));
    }

    /// @notice Schedule a call to run no earlier than `delay` seconds from now (proposer only).
    /// Reverts DelayTooShort below `minDelay`, AlreadyScheduled for a pending or executed id.
    function schedule(address target, uint256 value, bytes calldata data, bytes32 salt, uint256 delay)
        external
        onlyProposer
        returns (bytes32 id)
    {
        if (delay < minDelay) revert DelayTooShort(delay, minDelay);
        id = operationId(target, value, data, salt);
        if (_readyAt[id] != 0) revert AlreadyScheduled(id);
        uint256 when = block.timestamp + delay;
        _readyAt[id] = when;
        emit CallScheduled(id, target, value, data, salt, when);
    }

    /// @notice Run a scheduled call whose delay has passed (anyone); it runs at most once.
    /// Reverts NotPending (unknown, cancelled or done), NotReady (too early) or with the callee's
    /// revert data (CallFailed when it has none); the operation then stays pending.
    function execute(address target, uint256 value, bytes calldata data, bytes32 salt)
        external
        payable
        returns (bytes memory result)
    {
        bytes32 id = operationId(target, value, data, salt);
        uint256 when = _readyAt[id];
        if (when <= DONE) revert NotPending(id);
        if (block.timestamp < when) revert NotReady(id, when, block.timestamp);
        _readyAt[id] = DONE;
        bool ok;
        (ok, result) = target.call{value: value}(data);
        if (!ok) {
            if (result.length == 0) revert CallFailed(id);
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result)) // the callee's own error
            }
        }
        emit CallExecuted(id, target, value, data);
    }

    /// @notice Drop a pending operation (proposer only).
    function cancel(bytes32 id) external onlyProposer {
        if (_readyAt[id] <= DONE) revert NotPending(id);
        delete _readyAt[id];
        emit Cancelled(id);
    }

    /// @notice 0 unknown or cancelled, 1 executed, otherwise the time from which it may execute.
    function readyAt(bytes32 id) external view returns (uint256) {
        return _readyAt[id];
    }

    /// @notice Whether `id` is scheduled and not yet executed.
    function isPending(bytes32 id) external view returns (bool) {
        return _readyAt[id] > DONE;
    }

    /// @notice Whether `id` has been executed.
    function isDone(bytes32 id) external view returns (bool) {
        return _readyAt[id] == DONE;
    }

    /// @notice Change the minimum delay (only through an operation of this Timelock).
    function setMinDelay(uint256 minDelay_) external onlySelf {
        emit MinDelayChanged(minDelay, minDelay_);
        minDelay = minDelay_;
    }

    /// @notice Hand the proposer role to `proposer_` (only through an operation of this Timelock).
    function setProposer(address proposer_) external onlySelf {
        if (proposer_ == address(0)) revert InvalidAddress();
        emit ProposerChanged(proposer, proposer_);
        proposer = proposer_;
    }
}
