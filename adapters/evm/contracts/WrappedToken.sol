// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "./ERC20.sol";

/// @title WrappedToken: the ERC-20 a Bridge mints for an asset locked on a remote chain.
/// @notice Only the bridge that deployed it can mint and burn; it carries its original's decimals.
contract WrappedToken is ERC20 {
    error NotBridge();

    /// @notice The Bridge that deployed this token.
    address public immutable bridge;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_, decimals_) {
        bridge = msg.sender;
    }

    modifier onlyBridge() {
        if (msg.sender != bridge) revert NotBridge();
        _;
    }

    /// @notice Mint `amount` to `to` (bridge only).
    function mint(address to, uint256 amount) external onlyBridge {
        _mint(to, amount);
    }

    /// @notice Burn `amount` from `from` (bridge only; no allowance needed).
    function burn(address from, uint256 amount) external onlyBridge {
        _burn(from, amount);
    }
}
