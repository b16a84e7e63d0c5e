// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "./ERC20.sol";

/// @title TestToken: a plain 18-decimal ERC-20 whose whole supply goes to the deployer (devnet and tests).
contract TestToken is ERC20 {
    constructor(string memory name_, string memory symbol_, uint256 supply) ERC20(name_, symbol_, 18) {
        _mint(msg.sender, supply);
    }
}
