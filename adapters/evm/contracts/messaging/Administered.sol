// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title Administered: an owner (moved in two steps), guardians who may pause at once, and a
/// pause only the owner lifts.
/// @notice In production the owner is a Timelock whose proposer is the consortium's M-of-N
/// governance; guardians are individual operators who can stop the contract in an emergency.
abstract contract Administered {
    /// @notice Administrator of this contract.
    address public owner;
    /// @notice While true the contract refuses its guarded operations (whenNotPaused).
    bool public paused;
    /// @notice Proposed next owner; becomes owner when it calls acceptOwnership.
    address public pendingOwner;
    /// @notice Addresses allowed to pause.
    mapping(address => bool) public isGuardian;

    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    event GuardianSet(address indexed guardian, bool enabled);
    event Paused(address indexed by);
    event Unpaused(address indexed by);

    error NotOwner(address caller);
    error NotPendingOwner(address caller);
    error NotGuardian(address caller);
    error IsPaused();
    error NotPaused();
    error ZeroAddress();

    constructor(address owner_) {
        if (owner_ == address(0)) revert ZeroAddress();
        owner = owner_;
        emit OwnershipTransferred(address(0), owner_);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        _;
    }

    modifier whenNotPaused() {
        if (paused) revert IsPaused();
        _;
    }

    /// @notice Propose `newOwner` (address(0) cancels a pending proposal). Owner only (NotOwner).
    function transferOwnership(address newOwner) external onlyOwner {
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(owner, newOwner);
    }

    /// @notice Become owner; only the pending owner may call (NotPendingOwner).
    function acceptOwnership() external {
        address next = pendingOwner;
        if (msg.sender != next || next == address(0)) revert NotPendingOwner(msg.sender);
        emit OwnershipTransferred(owner, next);
        owner = next;
        pendingOwner = address(0);
    }

    /// @notice Allow (`enabled`) or stop `guardian` pausing. Owner only (NotOwner); ZeroAddress for address(0).
    function setGuardian(address guardian, bool enabled) external onlyOwner {
        if (guardian == address(0)) revert ZeroAddress();
        isGuardian[guardian] = enabled;
        emit GuardianSet(guardian, enabled);
    }

    /// @notice Pause at once. A guardian or the owner (NotGuardian otherwise); IsPaused if already paused.
    function pause() external {
        if (!isGuardian[msg.sender] && msg.sender != owner) revert NotGuardian(msg.sender);
        if (paused) revert IsPaused();
        paused = true;
        emit Paused(msg.sender);
    }

    /// @notice Lift the pause. Owner only (NotOwner; a guardian cannot); NotPaused if not paused.
    function unpause() external onlyOwner {
        if (!paused) revert NotPaused();
        paused = false;
        emit Unpaused(msg.sender);
    }
}
