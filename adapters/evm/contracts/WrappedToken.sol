// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "./ERC20.sol";

/// @title WrappedToken: the ERC-20 a TokenRouter mints for an asset locked on a remote chain.
/// @notice Only its minter (the router that deployed it) can mint and burn; it carries its original's decimals.
contract WrappedToken is ERC20 {
    error NotMinter(address caller);

    /// @notice The contract that deployed this token (a TokenRouter), the only one that mints and burns.
    address public immutable minter;

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_, decimals_) {
        minter = msg.sender;
    }

    modifier onlyMinter() {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        _;
    }

    /// @notice Mint `amount` to `to` (minter only).
    function mint(address to, uint256 amount) external onlyMinter {
        _mint(to, amount);
    }

    /// @notice Burn `amount` from `from` (minter only; no allowance needed).
    function burn(address from, uint256 amount) external onlyMinter {
        _burn(from, amount);
    }
}
