// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title ConsortiumMultisig: M of N consortium members approve a call before it runs.
/// @notice A member submits a call (counting as its approval), other members approve it, and once
/// `threshold` members approve, anyone executes it, once. Used as the Timelock's proposer: a change
/// to the message layer needs M approvals here and then the Timelock's delay. The member set and
/// threshold change only through a call this contract makes to itself (i.e. M approvals).
contract ConsortiumMultisig {
    struct Call {
        address target;
        uint256 value;
        bytes data;
        bool executed;
        uint32 approvals;
    }

    event Submitted(uint256 indexed callId, address indexed member, address target, uint256 value, bytes data);
    event Approved(uint256 indexed callId, address indexed member);
    event Revoked(uint256 indexed callId, address indexed member);
    event Executed(uint256 indexed callId);
    event MembersChanged(address[] members, uint256 threshold);

    error NotMember(address caller);
    error NotSelf(address caller);
    error InvalidMembers();
    error UnknownCall(uint256 callId);
    error AlreadyExecuted(uint256 callId);
    error AlreadyApproved(uint256 callId, address member);
    error NotApproved(uint256 callId, address member);
    error NotEnoughApprovals(uint256 callId, uint256 approvals, uint256 threshold);
    error CallFailed(uint256 callId);

    /// @notice Approvals needed to execute a call.
    uint256 public threshold;
    address[] private _members;
    mapping(address => bool) public isMember;
    /// @dev Bumped on every member change: approvals given under an older member set no longer count.
    uint256 public generation;
    Call[] private _calls;
    /// @dev generation => callId => member => approved
    mapping(uint256 => mapping(uint256 => mapping(address => bool))) private _approved;
    /// @dev callId => generation its approval count belongs to
    mapping(uint256 => uint256) private _callGeneration;

    constructor(address[] memory members_, uint256 threshold_) {
        _setMembers(members_, threshold_);
    }

    modifier onlyMember() {
        if (!isMember[msg.sender]) revert NotMember(msg.sender);
        _;
    }

    receive() external payable {}

    /// @notice Propose calling `target` with `value` and `data`; counts as the caller's approval.
    function submit(address target, uint256 value, bytes calldata data) external onlyMember returns (uint256 callId) {
        callId = _calls.length;
        _calls.push(Call(target, value, data, false, 0));
        _callGeneration[callId] = generation;
        emit Submitted(callId, msg.sender, target, value, data);
        _approve(callId);
    }

    /// @notice Approve call `callId` (members only, once each).
    function approve(uint256 callId) external onlyMember {
        _approve(callId);
    }

    /// @notice Withdraw the caller's approval of a call not yet executed.
    function revoke(uint256 callId) external onlyMember {
        _refresh(callId);
        if (!_approved[generation][callId][msg.sender]) revert NotApproved(callId, msg.sender);
        _approved[generation][callId][msg.sender] = false;
        --_calls[callId].approvals;
        emit Revoked(callId, msg.sender);
    }

    /// @notice Run call `callId` once it has `threshold` approvals (anyone, once).
    /// Reverts with the callee's revert data (CallFailed when it has none); the call can then be executed again.
    function execute(uint256 callId) external returns (bytes memory result) {
        _refresh(callId);
        Call storage c = _calls[callId];
        if (c.approvals < threshold) revert NotEnoughApprovals(callId, c.approvals, threshold);
        c.executed = true;
        bool ok;
        (ok, result) = c.target.call{value: c.value}(c.data);
        if (!ok) {
            if (result.length == 0) revert CallFailed(callId);
            assembly ("memory-safe") {
                revert(add(result, 32), mload(result)) // the callee's own error
            }
        }
        emit Executed(callId);
    }

    /// @notice Replace the members and threshold (only through a call of this contract, i.e. M approvals).
    /// Approvals of calls not yet executed are dropped.
    function setMembers(address[] calldata members_, uint256 threshold_) external {
        if (msg.sender != address(this)) revert NotSelf(msg.sender);
        _setMembers(members_, threshold_);
    }

    // ------------------------------------------------------------------ views

    function members() external view returns (address[] memory) {
        return _members;
    }

    function callCount() external view returns (uint256) {
        return _calls.length;
    }

    /// @notice Call `callId`: target, value, data, executed, approvals under the current member set.
    function callOf(uint256 callId)
        external
        view
        returns (address target, uint256 value, bytes memory data, bool executed, uint256 approvals)
    {
        if (callId >= _calls.length) revert UnknownCall(callId);
        Call storage c = _calls[callId];
        approvals = _callGeneration[callId] == generation ? c.approvals : 0;
        return (c.target, c.value, c.data, c.executed, approvals);
    }

    function hasApproved(uint256 callId, address member) external view returns (bool) {
        return _approved[generation][callId][member];
    }

    // ------------------------------------------------------------------ internal

    function _approve(uint256 callId) private {
        _refresh(callId);
        if (_approved[generation][callId][msg.sender]) revert AlreadyApproved(callId, msg.sender);
        _approved[generation][callId][msg.sender] = true;
        ++_calls[callId].approvals;
        emit Approved(callId, msg.sender);
    }

    /// @dev Check the call exists and is not executed; restart its count after a member change.
    function _refresh(uint256 callId) private {
        if (callId >= _calls.length) revert UnknownCall(callId);
        Call storage c = _calls[callId];
        if (c.executed) revert AlreadyExecuted(callId);
        if (_callGeneration[callId] != generation) {
            _callGeneration[callId] = generation;
            c.approvals = 0;
        }
    }

    function _setMembers(address[] memory members_, uint256 threshold_) private {
        if (threshold_ == 0 || threshold_ > members_.length) revert InvalidMembers();
        for (uint256 i; i < _members.length; ++i) isMember[_members[i]] = false;
        for (uint256 i; i < members_.length; ++i) {
            address m = members_[i];
            if (m == address(0) || isMember[m]) revert InvalidMembers();
            isMember[m] = true;
        }
        _members = members_;
        threshold = threshold_;
        ++generation;
        emit MembersChanged(members_, threshold_);
    }
}
