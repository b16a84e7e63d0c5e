// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

// Test-only senders for TokenRouter: a contract that locks the native coin and refuses it back
// while `refusing` is set, so that its refund waits in TokenRouter.owed until it claims it.

interface ITokenRouterLock {
    function lockNative(uint64 chain, address recipient, uint64 expiry) external payable returns (bytes32);
    function claim(address payable to) external;
}

/// @title AppRefusingSender: locks through a TokenRouter; refuses native payments while `refusing`.
contract AppRefusingSender {
    error Refused();

    ITokenRouterLock public immutable router;
    bool public refusing = true;

    constructor(address router_) {
        router = ITokenRouterLock(router_);
    }

    function lock(uint64 chain, address recipient, uint64 expiry) external payable returns (bytes32) {
        return router.lockNative{value: msg.value}(chain, recipient, expiry);
    }

    /// @notice Start accepting the coin and claim what the router owes to `to`.
    function claimTo(address payable to) external {
        refusing = false;
        router.claim(to);
    }

    receive() external payable {
        if (refusing) revert Refused();
    }
}
