// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {Administered} from "../messaging/Administered.sol";
import {WrappedToken} from "../WrappedToken.sol";
import {IMessageLayer} from "../messaging/IMessageLayer.sol";
import {IAckRecipient, IMessageRecipient} from "../messaging/IMessageRecipient.sol";

/// @title TokenRouter: the token bridge as an application of the message layer.
/// @notice Locks the native coin and registered ERC-20 tokens here and has the router of the
/// destination chain mint their wrapped counterpart; burns wrapped tokens here and has the router of
/// their origin chain unlock the original. Every transfer is sent with an expiry and with an
/// acknowledgement on failure: when the destination refuses it (expired, unknown asset, a recipient
/// that rejects the native coin, paused, over a limit) the failure acknowledgement refunds the sender
/// here, exactly once (the locked asset is unlocked, a burned wrapped token is minted again).
/// Collateral: `lockedFor(chain, token)` here equals the wrapped supply on `chain` once no transfer
/// is in flight; an unlock never takes more than was locked for the chain it comes from.
/// Administration (remote routers, wrapped tokens, registered tokens, limits) is the owner's (a Timelock).
/// @dev The user entry points hold a reentrancy lock; the handlers need none of their own: only the
/// layer calls them, and it refuses to deliver again while a handler runs. State is settled before
/// any untrusted call (native payments get NATIVE_TRANSFER_GAS).
contract TokenRouter is Administered, IMessageRecipient, IAckRecipient {
    /// @dev A transfer sent and not yet acknowledged: what to give back if it is refused.
    struct Pending {
        address sender;
        bool burned; // true: `asset` is a wrapped token burned here; false: a local asset locked here
        uint64 chain; // destination chain
        address asset; // local asset (address(0) = native coin) or the burned wrapped token
        uint256 amount;
    }

    struct WrappedInfo {
        uint64 remoteChain;
        address remoteToken;
    }

    event RemoteRouterSet(uint64 indexed chain, bytes32 router);
    event WrappedCreated(uint64 indexed remoteChain, address remoteToken, address wrapped, uint8 decimals);
    event TokenRegistered(uint64 indexed chain, address token, bool registered);
    event LimitSet(address indexed asset, uint256 maxPerTransfer);
    /// @notice A transfer left: `token` is the asset as the destination names it (a lock names the local
    /// asset, a burn names the original on the destination).
    event TransferSent(
        bytes32 indexed id,
        uint64 indexed destinationChain,
        bool burned,
        address token,
        address sender,
        address recipient,
        uint256 amount
    );
    /// @notice A transfer arrived (its message id is in the layer's MessageProcessed of the same transaction).
    event TransferReceived(uint64 indexed sourceChain, bool unlocked, address asset, address recipient, uint256 amount);
    /// @notice A refused transfer was refunded to its sender (outcome 2 failed, 3 expired; `reason` the
    /// destination's revert data).
    event Refunded(bytes32 indexed id, address sender, address asset, uint256 amount, uint8 outcome, bytes reason);
    /// @notice A transfer was acknowledged as delivered (only with an acknowledgement mode that sends one).
    event Settled(bytes32 indexed id);
    /// @notice A native refund the sender refused; it waits in `owed` for `claim`.
    event RefundOwed(address indexed sender, uint256 amount);

    error NotLayer(address caller);
    error UnknownSender(uint64 chain, bytes32 sender);
    error UnknownDestination(uint64 chain);
    error UnknownAsset(uint64 chain, address token);
    error WrappedExists(uint64 chain, address remoteToken);
    error TokenNotRegistered(uint64 chain, address token);
    error InvalidChain(uint64 chain);
    error ZeroAmount();
    error InvalidExpiry(uint64 expiry);
    error OverLimit(address asset, uint256 amount, uint256 limit);
    error InsufficientCollateral(uint64 chain, address token, uint256 locked, uint256 amount);
    error NativeTransferFailed(address recipient, uint256 amount);
    error TokenCallFailed(address token);
    error BadBody();
    error Reentrancy();

    uint8 private constant OUTCOME_DELIVERED = 1;
    uint8 private constant ACK_ON_FAILURE = 1;
    /// @notice Gas the destination's handler gets (a mint or an unlock with its checks).
    uint64 public constant HANDLER_GAS = 200_000;
    /// @notice Expiry used when a sender passes 0.
    uint64 public constant DEFAULT_TTL = 1 days;
    /// @notice Gas forwarded with a native-coin payment to an (untrusted) recipient.
    uint256 public constant NATIVE_TRANSFER_GAS = 30_000;

    /// @notice The MessageLayer this router sends through and accepts calls from.
    IMessageLayer public immutable layer;
    bool private _entered;

    mapping(uint64 => bytes32) private _remoteRouter;
    mapping(uint64 => mapping(address => address)) private _wrapped;
    mapping(address => WrappedInfo) private _wrappedInfo;
    mapping(uint64 => mapping(address => bool)) private _registered;
    mapping(uint64 => mapping(address => uint256)) private _locked;
    mapping(address => uint256) private _limit;
    mapping(bytes32 => Pending) private _pending;
    /// @notice Native refunds their sender refused, claimable with `claim`.
    mapping(address => uint256) public owed;

    constructor(address layer_, address owner_) Administered(owner_) {
        if (layer_ == address(0)) revert ZeroAddress();
        layer = IMessageLayer(layer_);
    }

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    modifier onlyLayer() {
        if (msg.sender != address(layer)) revert NotLayer(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ admin (owner = Timelock)

    /// @notice Set (or, with 0, remove) the router of `chain`, the only sender accepted from it.
    function setRemoteRouter(uint64 chain, bytes32 router) external onlyOwner {
        if (chain == block.chainid || chain == 0) revert InvalidChain(chain);
        _remoteRouter[chain] = router;
        emit RemoteRouterSet(chain, router);
    }

    /// @notice Deploy the wrapped token of `remoteToken` (address(0) = the native coin) of `remoteChain`.
    function createWrapped(
        uint64 remoteChain,
        address remoteToken,
        string calldata name,
        string calldata symbol,
        uint8 decimals
    ) external onlyOwner returns (address wrapped) {
        if (remoteChain == block.chainid || remoteChain == 0) revert InvalidChain(remoteChain);
        if (_wrapped[remoteChain][remoteToken] != address(0)) revert WrappedExists(remoteChain, remoteToken);
        bytes32 salt = keccak256(abi.encode(remoteChain, remoteToken));
        wrapped = address(new WrappedToken{salt: salt}(name, symbol, decimals));
        _wrapped[remoteChain][remoteToken] = wrapped;
        _wrappedInfo[wrapped] = WrappedInfo(remoteChain, remoteToken);
        emit WrappedCreated(remoteChain, remoteToken, wrapped, decimals);
    }

    /// @notice Allow (or stop) locking local ERC-20 `token` for `chain`.
    function registerToken(uint64 chain, address token, bool registered) external onlyOwner {
        if (chain == block.chainid || chain == 0) revert InvalidChain(chain);
        if (token == address(0) || _wrappedInfo[token].remoteChain != 0) revert UnknownAsset(uint64(block.chainid), token);
        _registered[chain][token] = registered;
        emit TokenRegistered(chain, token, registered);
    }

    /// @notice Largest amount of local `asset` (a wrapped token, a local token, address(0) = native) one
    /// incoming transfer may mint or unlock; 0 = no limit. A transfer over it is refused (and refunded).
    function setLimit(address asset, uint256 maxPerTransfer) external onlyOwner {
        _limit[asset] = maxPerTransfer;
        emit LimitSet(asset, maxPerTransfer);
    }

    // ------------------------------------------------------------------ user

    /// @notice Lock the sent native coin for `recipient` on `chain`; `expiry` unix seconds (0 = in DEFAULT_TTL).
    function lockNative(uint64 chain, address recipient, uint64 expiry)
        external
        payable
        nonReentrant
        whenNotPaused
        returns (bytes32 id)
    {
        _checkOutbound(chain, recipient, msg.value);
        _locked[chain][address(0)] += msg.value;
        id = _send(chain, false, address(0), address(0), recipient, msg.value, expiry);
    }

    /// @notice Lock `amount` of registered ERC-20 `token` (approved to this router) for `recipient` on `chain`.
    /// @dev The locked amount is what actually arrived (fee-on-transfer tokens lock less).
    function lockToken(address token, uint64 chain, address recipient, uint256 amount, uint64 expiry)
        external
        nonReentrant
        whenNotPaused
        returns (bytes32 id)
    {
        _checkOutbound(chain, recipient, amount);
        if (!_registered[chain][token]) revert TokenNotRegistered(chain, token);
        uint256 before = _balanceOf(token);
        _call(token, abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount)); // transferFrom
        uint256 received = _balanceOf(token) - before;
        if (received == 0) revert ZeroAmount();
        _locked[chain][token] += received;
        id = _send(chain, false, token, token, recipient, received, expiry);
    }

    /// @notice Burn `amount` of `wrapped` from the caller; `recipient` receives the original on its chain.
    function burn(address wrapped, address recipient, uint256 amount, uint64 expiry)
        external
        nonReentrant
        whenNotPaused
        returns (bytes32 id)
    {
        WrappedInfo memory info = _wrappedInfo[wrapped];
        if (info.remoteChain == 0) revert UnknownAsset(uint64(block.chainid), wrapped);
        _checkOutbound(info.remoteChain, recipient, amount);
        WrappedToken(wrapped).burn(msg.sender, amount);
        id = _send(info.remoteChain, true, wrapped, info.remoteToken, recipient, amount, expiry);
    }

    /// @notice Pay the caller's refused native refunds to `to`.
    function claim(address payable to) external nonReentrant {
        uint256 amount = owed[msg.sender];
        if (amount == 0) revert ZeroAmount();
        owed[msg.sender] = 0;
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert NativeTransferFailed(to, amount);
    }

    // ------------------------------------------------------------------ message layer

    /// @notice Mint (for a lock) or unlock (for a burn) a transfer from the router of `sourceChain`.
    /// Reverts, so that the layer acknowledges the failure and the source refunds, on an unknown sender
    /// or asset, while paused, over a limit, beyond the collateral locked for that chain, or when the
    /// recipient rejects the native coin.
    function handleMessage(uint64 sourceChain, bytes32 sender, bytes calldata body)
        external
        onlyLayer
        whenNotPaused
        returns (bytes memory)
    {
        if (sender == bytes32(0) || _remoteRouter[sourceChain] != sender) revert UnknownSender(sourceChain, sender);
        if (body.length != 128) revert BadBody();
        (bool burned, address token, address recipient, uint256 amount) = abi.decode(body, (bool, address, address, uint256));
        address asset;
        if (burned) {
            // the original of a wrapped token of `sourceChain`, locked here for that chain
            asset = token;
            uint256 locked = _locked[sourceChain][token];
            if (locked < amount) revert InsufficientCollateral(sourceChain, token, locked, amount);
            _checkLimit(asset, amount);
            _locked[sourceChain][token] = locked - amount;
            _pay(token, recipient, amount);
        } else {
            asset = _wrapped[sourceChain][token];
            if (asset == address(0)) revert UnknownAsset(sourceChain, token);
            _checkLimit(asset, amount);
            WrappedToken(asset).mint(recipient, amount);
        }
        emit TransferReceived(sourceChain, burned, asset, recipient, amount);
        return "";
    }

    /// @notice The destination's outcome of transfer `id`: on failure (2) or expiry (3) refund its sender,
    /// once; a second acknowledgement of the same transfer (or of an unknown one) does nothing.
    /// Reverts while paused (the layer keeps the acknowledgement for a retry).
    function handleAck(bytes32 id, uint8 outcome, bytes calldata result) external onlyLayer whenNotPaused {
        Pending memory p = _pending[id];
        if (p.sender == address(0)) return;
        delete _pending[id];
        if (outcome == OUTCOME_DELIVERED) {
            emit Settled(id);
            return;
        }
        if (p.burned) {
            WrappedToken(p.asset).mint(p.sender, p.amount);
        } else {
            _locked[p.chain][p.asset] -= p.amount;
            if (p.asset == address(0)) {
                if (!_sendNative(p.sender, p.amount)) {
                    owed[p.sender] += p.amount;
                    emit RefundOwed(p.sender, p.amount);
                }
            } else {
                _call(p.asset, abi.encodeWithSelector(0xa9059cbb, p.sender, p.amount)); // transfer
            }
        }
        emit Refunded(id, p.sender, p.asset, p.amount, outcome, result);
    }

    // ------------------------------------------------------------------ views

    function remoteRouter(uint64 chain) external view returns (bytes32) {
        return _remoteRouter[chain];
    }

    /// @notice The wrapped token here of `remoteToken` of `remoteChain`, or address(0).
    function wrappedOf(uint64 remoteChain, address remoteToken) external view returns (address) {
        return _wrapped[remoteChain][remoteToken];
    }

    /// @notice The origin (chain, token) of wrapped token `wrapped`; chain 0 when it is not one of ours.
    function originOf(address wrapped) external view returns (uint64 remoteChain, address remoteToken) {
        WrappedInfo memory info = _wrappedInfo[wrapped];
        return (info.remoteChain, info.remoteToken);
    }

    function isTokenRegistered(uint64 chain, address token) external view returns (bool) {
        return _registered[chain][token];
    }

    /// @notice Amount of local `token` (address(0) = native) locked here for `chain`: the collateral of
    /// the wrapped supply there.
    function lockedFor(uint64 chain, address token) external view returns (uint256) {
        return _locked[chain][token];
    }

    function limitOf(address asset) external view returns (uint256) {
        return _limit[asset];
    }

    /// @notice The transfer `id` waiting for its acknowledgement (sender address(0) when none).
    function pendingOf(bytes32 id) external view returns (Pending memory) {
        return _pending[id];
    }

    // ------------------------------------------------------------------ internal

    function _checkOutbound(uint64 chain, address recipient, uint256 amount) private view {
        if (amount == 0) revert ZeroAmount();
        if (recipient == address(0)) revert ZeroAddress();
        if (_remoteRouter[chain] == bytes32(0)) revert UnknownDestination(chain);
    }

    /// @dev Send the transfer message and remember what to refund. `asset` is the local asset taken
    /// from the sender, `token` the asset as the destination names it.
    function _send(
        uint64 chain,
        bool burned,
        address asset,
        address token,
        address recipient,
        uint256 amount,
        uint64 expiry
    ) private returns (bytes32 id) {
        if (expiry == 0) expiry = uint64(block.timestamp) + DEFAULT_TTL;
        else if (expiry <= block.timestamp) revert InvalidExpiry(expiry);
        bytes memory body = abi.encode(burned, token, recipient, amount);
        id = layer.send(chain, _remoteRouter[chain], body, HANDLER_GAS, expiry, ACK_ON_FAILURE);
        _pending[id] = Pending(msg.sender, burned, chain, asset, amount);
        emit TransferSent(id, chain, burned, token, msg.sender, recipient, amount);
    }

    function _checkLimit(address asset, uint256 amount) private view {
        uint256 limit = _limit[asset];
        if (limit != 0 && amount > limit) revert OverLimit(asset, amount, limit);
    }

    function _pay(address token, address recipient, uint256 amount) private {
        if (token == address(0)) {
            if (!_sendNative(recipient, amount)) revert NativeTransferFailed(recipient, amount);
        } else {
            _call(token, abi.encodeWithSelector(0xa9059cbb, recipient, amount)); // transfer
        }
    }

    function _sendNative(address to, uint256 amount) private returns (bool ok) {
        assembly ("memory-safe") {
            ok := call(NATIVE_TRANSFER_GAS, to, amount, 0, 0, 0, 0) // no return data copied
        }
    }

    /// @dev Call `target` with `data`; revert TokenCallFailed unless it succeeds and returns nothing or true.
    function _call(address target, bytes memory data) private {
        bool ok;
        assembly ("memory-safe") {
            ok := call(gas(), target, 0, add(data, 32), mload(data), 0, 32)
            switch returndatasize()
            case 0 { ok := and(ok, gt(extcodesize(target), 0)) }
            default { ok := and(ok, and(gt(returndatasize(), 31), eq(mload(0), 1))) }
        }
        if (!ok) revert TokenCallFailed(target);
    }

    function _balanceOf(address token) private view returns (uint256 bal) {
        (bool ok, bytes memory ret) = token.staticcall(abi.encodeWithSelector(0x70a08231, address(this)));
        if (!ok || ret.length < 32) revert TokenCallFailed(token);
        bal = abi.decode(ret, (uint256));
    }
}
