// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "../ERC20.sol";

// Test-only contracts that attack the TokenRouter: a token that calls back into the sender before it
// moves balances (ERC-777 tokensToSend style), a sender that re-enters lockToken from that hook,
// and recipients of a native release that refuse it or burn every unit of gas they get.

interface ITokensSender {
    function tokensToSend(address from, address to, uint256 amount) external;
}

interface IRouterLock {
    function lockToken(address token, uint64 chain, address recipient, uint256 amount, uint64 expiry)
        external
        returns (bytes32);
}

/// @title HookToken: an ERC-20 whose transferFrom calls `from.tokensToSend` (when `from` is a
/// contract) before moving balances.
contract HookToken is ERC20 {
    constructor(string memory name_, string memory symbol_, uint256 supply, uint8 decimals_)
        ERC20(name_, symbol_, decimals_)
    {
        _mint(msg.sender, supply);
    }

    function transferFrom(address from, address to, uint256 value) external override returns (bool) {
        if (from.code.length != 0) ITokensSender(from).tokensToSend(from, to, value);
        uint256 allowed = allowance[from][msg.sender];
        if (allowed < value) revert InsufficientAllowance(msg.sender, allowed, value);
        allowance[from][msg.sender] = allowed - value;
        _transfer(from, to, value);
        return true;
    }
}

/// @title ReentrantLocker: locks `amount` and, from the token's hook, tries to lock again `depth` times.
contract ReentrantLocker is ITokensSender {
    IRouterLock public immutable router;
    address public immutable token;
    uint256 public immutable maxDepth;
    uint256 public depth;
    /// @notice Nested lockToken calls that succeeded / reverted, and the last revert data.
    uint256 public nestedOk;
    uint256 public nestedFailed;
    bytes public lastError;
    uint64 private _dst;
    address private _recipient;

    constructor(address router_, address token_, uint256 maxDepth_) {
        router = IRouterLock(router_);
        token = token_;
        maxDepth = maxDepth_;
    }

    function attack(uint64 dstChainId, address recipient, uint256 amount) external {
        depth = 0;
        _dst = dstChainId;
        _recipient = recipient;
        ERC20Approve(token).approve(address(router), type(uint256).max);
        router.lockToken(token, dstChainId, recipient, amount, 0);
    }

    function tokensToSend(address, address, uint256 amount) external {
        if (msg.sender != token || depth >= maxDepth) return;
        ++depth;
        try router.lockToken(token, _dst, _recipient, amount, 0) returns (bytes32) {
            ++nestedOk;
        } catch (bytes memory reason) {
            ++nestedFailed;
            lastError = reason;
        }
    }
}

interface ERC20Approve {
    function approve(address spender, uint256 value) external returns (bool);
}

/// @title RefusingRecipient: reverts on every native transfer.
contract RefusingRecipient {
    error Refused();

    receive() external payable {
        revert Refused();
    }
}

/// @title GasBurner: spins until it runs out of gas on every native transfer.
contract GasBurner {
    uint256 public spins;

    receive() external payable {
        while (true) {
            ++spins;
        }
    }
}
