// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ERC20} from "../ERC20.sol";
import {IMessageLayer} from "../messaging/IMessageLayer.sol";
import {IAckRecipient, IMessageRecipient} from "../messaging/IMessageRecipient.sol";

/// @title WrappedLitecoin: wrapped LTC (8 decimals, 1 unit = 1 litoshi) minted for deposits to the
/// consortium's Litecoin custody and burned to be released there.
/// @notice The application of a LitecoinDepositVerifier deployment (its `application`): the MessageLayer
/// `layer` calls `handleMessage` with a proven deposit whose envelope came from chain `litecoinChain`
/// and custody `custody` (the P2WSH witness program, the envelope's sender). The body is the Litecoin
/// family's deposit body version 1 (relayer_litecoin.source.deposit_body):
/// 0x01 || txid (32, display order) || amount in litoshis (8, big-endian) || destination chain (8) ||
/// recipient length (1) || recipient (here a 20-byte EVM address).
/// A Litecoin transaction is minted for at most once (`minted[txid]`), whatever block or nonce it is
/// proven in (a reorg that moves it to another height gives it another message id).
/// `burn(litecoinAddress, amount)` destroys the caller's tokens and sends the burn as a message through
/// `layer` to `litecoinChain` (recipient and destinationLayer: the custody program; no gas limit, expiry or
/// acknowledgement), burn body version 1: 0x01 || amount in litoshis (8, big-endian) || the address's ASCII
/// bytes (1..90). The operators release it: they pay `amount` less the stated fee from the custody to that
/// address, marked with the message id.
/// The release is proven back as the burn's acknowledgement (LitecoinDepositVerifier's release proof: a
/// custody spend carrying the burn's marker): `handleAck` records it once, `releaseOf[messageId]` = (txid,
/// litoshis paid to the address), and emits `ReleaseConfirmed`.
contract WrappedLitecoin is ERC20, IMessageRecipient, IAckRecipient {
    uint8 public constant BODY_VERSION = 1;
    uint256 public constant MAX_ADDRESS = 90; // a bech32 address is at most 90 characters

    /// @notice The MessageLayer whose deliveries this application accepts.
    address public immutable layer;
    /// @notice The consortium's chain id of Litecoin (the envelope's sourceChain).
    uint64 public immutable litecoinChain;
    /// @notice The custody's witness program (the envelope's sender and source layer).
    bytes32 public immutable custody;

    /// @notice Litecoin transactions already minted for (txid, display order).
    mapping(bytes32 => bool) public minted;
    /// @notice Burns so far; each burn's `nonce` (the release side's key besides the message id).
    uint64 public burns;
    /// @notice The amount (litoshis) of each burn this application made, by message id (0: none).
    mapping(bytes32 => uint64) public burnOf;

    /// @notice A burn's release on Litecoin, once acknowledged.
    struct Release {
        bytes32 txid; // display order
        uint64 paid; // litoshis paid to the burn's address
    }

    /// @notice The acknowledged release of each burn, by message id (zero until acknowledged).
    mapping(bytes32 => Release) public releaseOf;

    event DepositMinted(bytes32 indexed txid, address indexed recipient, uint64 amount);
    /// @notice A burn to be released on Litecoin: `amount` litoshis (less the stated fee) to `litecoinAddress`
    /// (the address as text, e.g. "rltc1q..."), `nonce` counting burns from 1, `messageId` the id of the
    /// message `layer` sent for it (the release's marker).
    /// @notice The release of burn `messageId` was proven: Litecoin transaction `txid` paid `paid` litoshis.
    event ReleaseConfirmed(bytes32 indexed messageId, bytes32 txid, uint64 paid);
    event BurnedForLitecoin(
        uint64 indexed nonce, address indexed from, string litecoinAddress, uint64 amount, bytes32 messageId
    );

    error NotLayer(address caller);
    error UnknownSource(uint64 sourceChain, bytes32 sender);
    error BadBody();
    error WrongChain(uint64 destinationChain);
    error AlreadyMinted(bytes32 txid);
    error BadAddress();
    error ZeroAmount();
    error ZeroParameter();
    error UnknownBurn(bytes32 messageId);
    error AlreadyReleased(bytes32 messageId, bytes32 txid);
    error UnexpectedOutcome(uint8 outcome);
    error BadAckResult();

    constructor(address layer_, uint64 litecoinChain_, bytes32 custody_) ERC20("Wrapped LTC", "WLTC", 8) {
        if (layer_ == address(0) || litecoinChain_ == 0 || custody_ == bytes32(0)) revert ZeroParameter();
        layer = layer_;
        litecoinChain = litecoinChain_;
        custody = custody_;
    }

    /// @inheritdoc IMessageRecipient
    /// @dev Reverts NotLayer, UnknownSource (another chain or custody), BadBody (version, length, a
    /// recipient that is not 20 bytes), WrongChain (a deposit for another chain), AlreadyMinted, ZeroAmount.
    /// Returns abi.encode(txid, amount).
    function handleMessage(uint64 sourceChain, bytes32 sender, bytes calldata body)
        external
        returns (bytes memory)
    {
        if (msg.sender != layer) revert NotLayer(msg.sender);
        if (sourceChain != litecoinChain || sender != custody) revert UnknownSource(sourceChain, sender);
        if (body.length != 50 + 20 || uint8(body[0]) != BODY_VERSION || uint8(body[49]) != 20) revert BadBody();
        bytes32 txid = bytes32(body[1:33]);
        uint64 amount = uint64(bytes8(body[33:41]));
        uint64 destination = uint64(bytes8(body[41:49]));
        address recipient = address(bytes20(body[50:70]));
        if (destination != block.chainid) revert WrongChain(destination);
        if (amount == 0) revert ZeroAmount();
        if (minted[txid]) revert AlreadyMinted(txid);
        minted[txid] = true;
        _mint(recipient, amount);
        emit DepositMinted(txid, recipient, amount);
        return abi.encode(txid, amount);
    }

    /// @notice Burn `amount` litoshis of the caller's wrapped LTC to be released to `litecoinAddress`, sent
    /// as a message to the custody on `litecoinChain`; returns the burn's nonce and the message id.
    /// @dev Reverts ZeroAmount, BadAddress (empty, longer than 90 or not printable ASCII),
    /// InsufficientBalance, and whatever the layer's `send` reverts with (IsPaused, UnknownChain when it
    /// has no Litecoin remote). The address is checked for form only: a wrong address is the caller's loss.
    function burn(string calldata litecoinAddress, uint64 amount)
        external
        returns (uint64 nonce, bytes32 messageId)
    {
        if (amount == 0) revert ZeroAmount();
        bytes calldata a = bytes(litecoinAddress);
        if (a.length == 0 || a.length > MAX_ADDRESS) revert BadAddress();
        for (uint256 i; i < a.length; ++i) {
            if (uint8(a[i]) < 0x21 || uint8(a[i]) > 0x7e) revert BadAddress();
        }
        _burn(msg.sender, amount);
        nonce = ++burns;
        bytes memory body = abi.encodePacked(BODY_VERSION, amount, a);
        messageId = IMessageLayer(layer).send(litecoinChain, custody, body, 0, 0, 0);
        burnOf[messageId] = amount;
        emit BurnedForLitecoin(nonce, msg.sender, litecoinAddress, amount, messageId);
    }

    /// @inheritdoc IAckRecipient
    /// @dev The release of a burn, proven on Litecoin (the layer delivers it from the Litecoin remote only:
    /// its verifier proves releases of the custody). Reverts NotLayer, UnknownSource (an acknowledgement from
    /// another chain), UnknownBurn (no burn of this application has that id), UnexpectedOutcome (a release is
    /// only ever "delivered"), BadAckResult (not abi.encode(bytes32 txid, uint64 paid)), AlreadyReleased.
    function handleAck(bytes32 id, uint8 outcome, bytes calldata result) external {
        if (msg.sender != layer) revert NotLayer(msg.sender);
        (, uint64 sourceChain,,) = IMessageLayer(layer).currentOrigin();
        if (sourceChain != litecoinChain) revert UnknownSource(sourceChain, bytes32(0));
        if (burnOf[id] == 0) revert UnknownBurn(id);
        if (outcome != 1) revert UnexpectedOutcome(outcome);
        if (result.length != 64 || uint256(bytes32(result[32:64])) >> 64 != 0) revert BadAckResult();
        (bytes32 txid, uint64 paid) = abi.decode(result, (bytes32, uint64));
        bytes32 known = releaseOf[id].txid;
        if (known != bytes32(0)) revert AlreadyReleased(id, known);
        releaseOf[id] = Release(txid, paid);
        emit ReleaseConfirmed(id, txid, paid);
    }
}
