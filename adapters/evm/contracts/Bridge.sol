// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ILightClient} from "./ILightClient.sol";
import {MerklePatricia, InvalidProof} from "./MerklePatricia.sol";
import {RLPReader} from "./RLPReader.sol";
import {WrappedToken} from "./WrappedToken.sol";

/// @title Bridge: locks and unlocks local assets, mints and burns wrapped remote assets.
/// @notice Deliveries carry a receipt of the source chain and its Merkle-Patricia proof against a
/// header accepted by the source chain's light client; every fact is checked here.
/// Every state-changing entry point is guarded against reentrancy. In `deliverBatch` each proven
/// message executes in its own self-call with a fixed gas budget: one that cannot be executed
/// (a recipient refusing the coin, a token without wrapped counterpart) emits `MessageFailed`
/// and stays undelivered for a retry while the rest of the batch is delivered.
contract Bridge {
    using RLPReader for uint256;

    /// @notice A receipt inclusion proof: `key` = rlp(transactionIndex), `nodes` root to leaf,
    /// `logIndex` = index of the log within that receipt.
    struct ReceiptProof {
        uint256 blockNumber;
        bytes key;
        bytes[] nodes;
        uint256 logIndex;
    }

    struct Remote {
        address bridge;
        address lightClient;
    }

    struct WrappedInfo {
        uint64 remoteChainId;
        address remoteToken;
    }

    /// @dev Receipts roots already fetched by one deliverBatch call.
    struct RootCache {
        uint256[] numbers;
        bytes32[] roots;
        uint256 count;
    }

    /// @dev A decoded Locked/Burned log.
    struct Message {
        bool burned;
        uint64 nonce;
        address token;
        address recipient;
        uint256 amount;
    }

    event Locked(
        uint64 nonce,
        uint64 srcChainId,
        uint64 dstChainId,
        address token,
        address sender,
        address recipient,
        uint256 amount
    );
    event Burned(
        uint64 nonce,
        uint64 srcChainId,
        uint64 dstChainId,
        address token,
        address sender,
        address recipient,
        uint256 amount
    );
    event Delivered(bytes32 indexed messageId, uint64 srcChainId, uint64 nonce);
    /// @notice A proven message of a batch whose execution failed; it stays undelivered (retryable).
    /// `reason` is the revert data of the execution (a custom error of this contract).
    event MessageFailed(bytes32 indexed messageId, uint64 srcChainId, uint64 nonce, bytes reason);
    event WrappedCreated(uint64 remoteChainId, address remoteToken, address wrapped, uint8 decimals);
    event TokenRegistered(uint64 dstChainId, address token, bool registered);
    event RemoteRegistered(uint64 chainId, address remoteBridge, address lightClient);
    event PausedSet(bool paused);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error UnknownSourceChain(uint64 chainId);
    error HeaderNotAccepted(uint64 srcChainId, uint256 number);
    error InvalidReceipt();
    error LogIndexOutOfRange();
    error WrongEmitter(address emitter);
    error WrongEvent(bytes32 topic0);
    error WrongSourceChain(uint64 chainId);
    error WrongDestination(uint64 chainId);
    error AlreadyDelivered(bytes32 messageId);
    error UnknownAsset(uint64 chainId, address token);
    error Paused();
    error NotOwner();
    error InvalidAddress();
    error ZeroAmount();
    error UnknownDestination(uint64 chainId);
    error WrappedExists(uint64 remoteChainId, address remoteToken);
    error TokenNotRegistered(uint64 dstChainId, address token);
    error TokenCallFailed(address token);
    error NativeTransferFailed(address recipient, uint256 amount);
    error MessageOutOfGas(uint256 gasBudget);
    error InsufficientGas(uint256 needed, uint256 left);
    error Reentrancy();
    error NotSelf();

    bytes32 private constant LOCKED_TOPIC = keccak256("Locked(uint64,uint64,uint64,address,address,address,uint256)");
    bytes32 private constant BURNED_TOPIC = keccak256("Burned(uint64,uint64,uint64,address,address,address,uint256)");
    bytes4 private constant ERR_RECEIPT = bytes4(keccak256("InvalidReceipt()"));
    uint256 private constant ACCEPT_LOCKED = 1;
    uint256 private constant ACCEPT_BURNED = 2;
    /// @notice Gas each message of a batch executes with (mint, unlock, transfer), whatever the
    /// transaction's gas limit: a batch without this much left reverts (InsufficientGas) instead
    /// of failing messages for want of gas.
    uint256 public constant MESSAGE_GAS = 200_000;
    /// @notice Gas forwarded with a native-coin release to the (untrusted) recipient.
    uint256 public constant NATIVE_TRANSFER_GAS = 30_000;
    /// @dev Gas kept back, beyond MESSAGE_GAS and its 1/63, to encode the self-call and record its outcome.
    uint256 private constant OUTCOME_GAS = 15_000;

    /// @notice Administrator: registers remotes, creates wrapped tokens, pauses.
    address public owner;
    /// @notice While paused, no lock, burn or delivery succeeds.
    bool public paused;
    /// @notice Nonce of the next Locked/Burned message (shared counter, starts at 1).
    uint64 public nextNonce = 1;
    /// @dev Reentrancy lock (packed in the slot of owner, paused and nextNonce: cheap to toggle).
    bool private _entered;

    mapping(uint64 => Remote) private _remotes;
    mapping(uint64 => mapping(address => address)) private _wrapped;
    mapping(address => WrappedInfo) private _wrappedInfo;
    /// @dev dstChainId => local ERC-20 => may be locked for that destination
    mapping(uint64 => mapping(address => bool)) private _registeredTokens;
    /// @dev srcChainId => nonce / 256 => bitmap of delivered nonces
    mapping(uint64 => mapping(uint256 => uint256)) private _delivered;

    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    modifier nonReentrant() {
        if (_entered) revert Reentrancy();
        _entered = true;
        _;
        _entered = false;
    }

    // ------------------------------------------------------------------ admin

    /// @notice Register (or replace) the bridge and light client of remote chain `chainId`.
    function registerRemote(uint64 chainId, address remoteBridge_, address lightClient)
        external
        onlyOwner
        nonReentrant
    {
        if (chainId == block.chainid || chainId == 0) revert UnknownSourceChain(chainId);
        if (remoteBridge_ == address(0) || lightClient == address(0)) revert InvalidAddress();
        if (ILightClient(lightClient).sourceChainId() != chainId) revert InvalidAddress();
        _remotes[chainId] = Remote(remoteBridge_, lightClient);
        emit RemoteRegistered(chainId, remoteBridge_, lightClient);
    }

    /// @notice Deploy the wrapped token for `remoteToken` of `remoteChainId` (address(0) = its native coin),
    /// with the original's `decimals`.
    function createWrapped(
        uint64 remoteChainId,
        address remoteToken,
        string calldata name,
        string calldata symbol,
        uint8 decimals
    ) external onlyOwner nonReentrant returns (address wrapped) {
        if (remoteChainId == block.chainid || remoteChainId == 0) revert UnknownSourceChain(remoteChainId);
        if (_wrapped[remoteChainId][remoteToken] != address(0)) revert WrappedExists(remoteChainId, remoteToken);
        bytes32 salt = keccak256(abi.encode(remoteChainId, remoteToken));
        wrapped = address(new WrappedToken{salt: salt}(name, symbol, decimals));
        _wrapped[remoteChainId][remoteToken] = wrapped;
        _wrappedInfo[wrapped] = WrappedInfo(remoteChainId, remoteToken);
        emit WrappedCreated(remoteChainId, remoteToken, wrapped, decimals);
    }

    /// @notice Allow (or stop) locking local ERC-20 `token` for `dstChainId`; register it only once the
    /// destination has its wrapped counterpart. Wrapped tokens leave through `burn`, never here.
    function registerToken(uint64 dstChainId, address token, bool registered) external onlyOwner nonReentrant {
        if (dstChainId == block.chainid || dstChainId == 0) revert UnknownDestination(dstChainId);
        if (token == address(0) || _wrappedInfo[token].remoteChainId != 0) revert UnknownAsset(uint64(block.chainid), token);
        _registeredTokens[dstChainId][token] = registered;
        emit TokenRegistered(dstChainId, token, registered);
    }

    /// @notice Stop or resume locks, burns and deliveries.
    function setPaused(bool paused_) external onlyOwner nonReentrant {
        paused = paused_;
        emit PausedSet(paused_);
    }

    /// @notice Hand the administrator role to `newOwner`.
    function transferOwnership(address newOwner) external onlyOwner nonReentrant {
        if (newOwner == address(0)) revert InvalidAddress();
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    // ------------------------------------------------------------------ user

    /// @notice Lock the sent native coin for `recipient` on `dstChainId`.
    function lockNative(uint64 dstChainId, address recipient) external payable nonReentrant returns (uint64 nonce) {
        _checkOutbound(dstChainId, recipient, msg.value);
        nonce = _takeNonce();
        emit Locked(nonce, uint64(block.chainid), dstChainId, address(0), msg.sender, recipient, msg.value);
    }

    /// @notice Lock `amount` of ERC-20 `token` (approved to this bridge) for `recipient` on `dstChainId`.
    /// `token` must be registered for `dstChainId` (registerToken).
    /// @dev The locked amount is what actually arrived (fee-on-transfer tokens lock less).
    function lockToken(address token, uint64 dstChainId, address recipient, uint256 amount)
        external
        nonReentrant
        returns (uint64 nonce)
    {
        _checkOutbound(dstChainId, recipient, amount);
        if (token == address(0) || _wrappedInfo[token].remoteChainId != 0) revert UnknownAsset(uint64(block.chainid), token);
        if (!_registeredTokens[dstChainId][token]) revert TokenNotRegistered(dstChainId, token);
        uint256 before = _balanceOf(token);
        _call(token, abi.encodeWithSelector(0x23b872dd, msg.sender, address(this), amount)); // transferFrom
        uint256 received = _balanceOf(token) - before;
        if (received == 0) revert ZeroAmount();
        nonce = _takeNonce();
        emit Locked(nonce, uint64(block.chainid), dstChainId, token, msg.sender, recipient, received);
    }

    /// @notice Burn `amount` of `wrapped` from the caller; `recipient` receives the original on its chain.
    function burn(address wrapped, address recipient, uint256 amount) external nonReentrant returns (uint64 nonce) {
        WrappedInfo memory info = _wrappedInfo[wrapped];
        if (info.remoteChainId == 0) revert UnknownAsset(uint64(block.chainid), wrapped);
        _checkOutbound(info.remoteChainId, recipient, amount);
        WrappedToken(wrapped).burn(msg.sender, amount);
        nonce = _takeNonce();
        emit Burned(nonce, uint64(block.chainid), info.remoteChainId, info.remoteToken, msg.sender, recipient, amount);
    }

    // ------------------------------------------------------------------ delivery

    /// @notice Mint the wrapped asset of a proven `Locked` log of `srcChainId`.
    /// Any failure reverts.
    function mint(uint64 srcChainId, ReceiptProof calldata p) external nonReentrant {
        _deliverOne(srcChainId, p, ACCEPT_LOCKED);
    }

    /// @notice Release the original asset of a proven `Burned` log of `srcChainId`. Any failure reverts.
    function unlock(uint64 srcChainId, ReceiptProof calldata p) external nonReentrant {
        _deliverOne(srcChainId, p, ACCEPT_BURNED);
    }

    /// @notice Deliver many `Locked`/`Burned` messages of `srcChainId`, optionally after a light-client update.
    /// Already delivered messages are skipped. A proof that does not check out reverts the whole batch;
    /// a proven message whose execution fails emits `MessageFailed` and stays undelivered, the others
    /// are delivered. Reverts InsufficientGas when less than a message's budget is left before it.
    /// @return delivered number of messages delivered by this call
    function deliverBatch(uint64 srcChainId, bytes calldata lightClientUpdate, ReceiptProof[] calldata proofs)
        external
        nonReentrant
        returns (uint256 delivered)
    {
        if (paused) revert Paused();
        Remote memory r = _remote(srcChainId);
        if (lightClientUpdate.length != 0) ILightClient(r.lightClient).submitUpdate(lightClientUpdate);
        RootCache memory cache = RootCache(new uint256[](proofs.length), new bytes32[](proofs.length), 0);
        for (uint256 i; i < proofs.length; ++i) {
            ReceiptProof calldata p = proofs[i];
            bytes32 root = _cachedRoot(cache, r.lightClient, srcChainId, p.blockNumber);
            Message memory m = _verify(srcChainId, r.bridge, root, p, ACCEPT_LOCKED | ACCEPT_BURNED);
            if (_isDelivered(srcChainId, m.nonce)) continue;
            if (_executeIsolated(srcChainId, r.bridge, m)) ++delivered;
        }
    }

    /// @notice The effects of one proven message (delivered bit, then mint or release); only this
    /// contract calls it, from `deliverBatch`, so that a failure rolls back this message alone.
    function executeMessage(uint64 srcChainId, Message calldata m) external {
        if (msg.sender != address(this)) revert NotSelf();
        _markDelivered(srcChainId, m.nonce);
        _execute(srcChainId, m);
    }

    // ------------------------------------------------------------------ views

    /// @notice Whether message `nonce` of `srcChainId` has been delivered here.
    function isDelivered(uint64 srcChainId, uint64 nonce) external view returns (bool) {
        return _isDelivered(srcChainId, nonce);
    }

    /// @notice Whether local ERC-20 `token` may be locked for `dstChainId`.
    function isTokenRegistered(uint64 dstChainId, address token) external view returns (bool) {
        return _registeredTokens[dstChainId][token];
    }

    /// @notice Word `index` of the delivered bitmap of `srcChainId` (bit `nonce % 256` of word `nonce / 256`).
    function deliveredWord(uint64 srcChainId, uint256 index) external view returns (uint256) {
        return _delivered[srcChainId][index];
    }

    /// @notice keccak256(abi.encodePacked(srcChainId, remoteBridge(srcChainId), nonce)).
    function messageId(uint64 srcChainId, uint64 nonce) external view returns (bytes32) {
        return _messageId(srcChainId, _remotes[srcChainId].bridge, nonce);
    }

    /// @notice The registered bridge of `chainId`, or address(0).
    function remoteBridge(uint64 chainId) external view returns (address) {
        return _remotes[chainId].bridge;
    }

    /// @notice The light client of `chainId`, or address(0).
    function lightClientOf(uint64 chainId) external view returns (address) {
        return _remotes[chainId].lightClient;
    }

    /// @notice The wrapped token of `remoteToken` of `remoteChainId`, or address(0).
    function wrappedOf(uint64 remoteChainId, address remoteToken) external view returns (address) {
        return _wrapped[remoteChainId][remoteToken];
    }

    // ------------------------------------------------------------------ internals

    function _remote(uint64 srcChainId) private view returns (Remote memory r) {
        r = _remotes[srcChainId];
        if (r.bridge == address(0)) revert UnknownSourceChain(srcChainId);
    }

    /// @dev The receipts root of block `number`, asking the light client once per distinct block.
    function _cachedRoot(RootCache memory cache, address lightClient, uint64 srcChainId, uint256 number)
        private
        view
        returns (bytes32 root)
    {
        uint256 n = cache.count;
        for (uint256 j; j < n; ++j) {
            if (cache.numbers[j] == number) return cache.roots[j];
        }
        root = _receiptsRoot(lightClient, srcChainId, number);
        cache.numbers[n] = number;
        cache.roots[n] = root;
        cache.count = n + 1;
    }

    function _receiptsRoot(address lightClient, uint64 srcChainId, uint256 number) private view returns (bytes32 root) {
        root = ILightClient(lightClient).receiptsRootOf(number);
        if (root == bytes32(0)) revert HeaderNotAccepted(srcChainId, number);
    }

    /// @dev mint/unlock: verify one proof and execute its message; any failure reverts.
    function _deliverOne(uint64 srcChainId, ReceiptProof calldata p, uint256 accept) private {
        Remote memory r = _remote(srcChainId);
        bytes32 root = _receiptsRoot(r.lightClient, srcChainId, p.blockNumber);
        Message memory m = _verify(srcChainId, r.bridge, root, p, accept);
        bytes32 id = _messageId(srcChainId, r.bridge, m.nonce);
        if (_isDelivered(srcChainId, m.nonce)) revert AlreadyDelivered(id);
        _markDelivered(srcChainId, m.nonce);
        _execute(srcChainId, m);
        emit Delivered(id, srcChainId, m.nonce);
    }

    /// @dev Run `executeMessage` for `m` with exactly MESSAGE_GAS (63/64 rule: the caller must hold a
    /// little more); true when it succeeded (Delivered), false when it failed (MessageFailed).
    function _executeIsolated(uint64 srcChainId, address srcBridge, Message memory m) private returns (bool) {
        uint256 needed = MESSAGE_GAS + MESSAGE_GAS / 63 + OUTCOME_GAS;
        uint256 left = gasleft();
        if (left < needed) revert InsufficientGas(needed, left);
        bytes32 id = _messageId(srcChainId, srcBridge, m.nonce);
        try this.executeMessage{gas: MESSAGE_GAS}(srcChainId, m) {
            emit Delivered(id, srcChainId, m.nonce);
            return true;
        } catch (bytes memory reason) {
            // an empty revert after the whole budget was used up is an out-of-gas inside the message
            if (reason.length == 0 && left - gasleft() >= MESSAGE_GAS) {
                reason = abi.encodeWithSelector(MessageOutOfGas.selector, MESSAGE_GAS);
            }
            emit MessageFailed(id, srcChainId, m.nonce, reason);
            return false;
        }
    }

    /// @dev Decode the log a proof proves against `root` and check it is a message for this chain.
    function _verify(uint64 srcChainId, address srcBridge, bytes32 root, ReceiptProof calldata p, uint256 accept)
        private
        view
        returns (Message memory m)
    {
        (uint256 vp, uint256 vl) = MerklePatricia.verify(root, p.key, p.nodes);
        m = _decodeLog(vp, vl, p.logIndex, srcChainId, srcBridge, accept);
    }

    function _isDelivered(uint64 srcChainId, uint64 nonce) private view returns (bool) {
        return (_delivered[srcChainId][nonce >> 8] >> (nonce & 0xff)) & 1 == 1;
    }

    function _markDelivered(uint64 srcChainId, uint64 nonce) private {
        _delivered[srcChainId][nonce >> 8] |= 1 << (nonce & 0xff);
    }

    function _execute(uint64 srcChainId, Message memory m) private {
        if (m.burned) _release(m);
        else _mintWrapped(srcChainId, m);
    }

    /// @dev Decode and check log `logIndex` of the consensus-encoded receipt at [vp, vp+vl).
    function _decodeLog(uint256 vp, uint256 vl, uint256 logIndex, uint64 srcChainId, address srcBridge, uint256 accept)
        private
        view
        returns (Message memory m)
    {
        (uint256 ptr, uint256 end) = _findLog(vp, vl, logIndex);
        address emitter;
        (emitter, ptr) = _emitter(ptr, end);
        if (emitter != srcBridge) revert WrongEmitter(emitter);
        (bytes32 topic0, uint256 dataPtr, uint256 dataLen) = _topicAndData(ptr, end);
        if (topic0 == LOCKED_TOPIC && accept & ACCEPT_LOCKED != 0) {
            m.burned = false;
        } else if (topic0 == BURNED_TOPIC && accept & ACCEPT_BURNED != 0) {
            m.burned = true;
        } else {
            revert WrongEvent(topic0);
        }
        if (dataLen != 224) revert InvalidReceipt();
        // data: nonce, srcChainId, dstChainId, token, sender, recipient, amount
        uint256 evSrc = _word(dataPtr + 32);
        if (evSrc != srcChainId) revert WrongSourceChain(uint64(evSrc));
        uint256 evDst = _word(dataPtr + 64);
        if (evDst != block.chainid) revert WrongDestination(uint64(evDst));
        m.nonce = uint64(_word(dataPtr));
        m.token = address(uint160(_word(dataPtr + 96)));
        m.recipient = address(uint160(_word(dataPtr + 160)));
        m.amount = _word(dataPtr + 192);
    }

    /// @dev Payload [ptr, end) of log `logIndex` of the receipt at [vp, vp+vl).
    function _findLog(uint256 vp, uint256 vl, uint256 logIndex) private pure returns (uint256 ptr, uint256 end) {
        end = vp + vl;
        if (_byteAt(vp) < 0x80) ++vp; // typed receipt: type || rlp(list)
        uint256 len;
        uint256 nx;
        (ptr, len, nx) = vp.list(end, ERR_RECEIPT);
        if (nx != end) revert InvalidReceipt();
        end = ptr + len;
        ptr = ptr.skipN(3, end, ERR_RECEIPT); // status or post-state root, cumulativeGasUsed, logsBloom
        (ptr, len,) = ptr.list(end, ERR_RECEIPT); // logs
        end = ptr + len;
        for (uint256 i; i < logIndex; ++i) {
            if (ptr >= end) revert LogIndexOutOfRange();
            ptr = ptr.skipN(1, end, ERR_RECEIPT);
        }
        if (ptr >= end) revert LogIndexOutOfRange();
        (ptr, len,) = ptr.list(end, ERR_RECEIPT); // [address, [topics], data]
        end = ptr + len;
    }

    /// @dev Emitter of the log payload at `ptr` and the offset of its topics.
    function _emitter(uint256 ptr, uint256 end) private pure returns (address emitter, uint256 next) {
        (uint256 ap, uint256 al, uint256 an) = ptr.str(end, ERR_RECEIPT);
        if (al != 20) revert InvalidReceipt();
        return (address(uint160(_word(ap) >> 96)), an);
    }

    /// @dev First topic (0 if none) and the data of a log, from its topics list at `ptr`.
    function _topicAndData(uint256 ptr, uint256 end)
        private
        pure
        returns (bytes32 topic0, uint256 dataPtr, uint256 dataLen)
    {
        (uint256 tp, uint256 tl, uint256 tn) = ptr.list(end, ERR_RECEIPT);
        if (tl != 0) {
            (uint256 t0, uint256 t0l,) = tp.str(tp + tl, ERR_RECEIPT);
            if (t0l != 32) revert InvalidReceipt();
            topic0 = bytes32(_word(t0));
        }
        (dataPtr, dataLen,) = tn.str(end, ERR_RECEIPT);
    }

    function _mintWrapped(uint64 srcChainId, Message memory m) private {
        address wrapped = _wrapped[srcChainId][m.token];
        if (wrapped == address(0)) revert UnknownAsset(srcChainId, m.token);
        if (paused) revert Paused();
        _call(wrapped, abi.encodeWithSelector(WrappedToken.mint.selector, m.recipient, m.amount));
    }

    function _release(Message memory m) private {
        if (paused) revert Paused();
        if (m.token == address(0)) {
            address to = m.recipient;
            uint256 amount = m.amount;
            bool ok;
            assembly ("memory-safe") {
                ok := call(NATIVE_TRANSFER_GAS, to, amount, 0, 0, 0, 0) // no return data copied
            }
            if (!ok) revert NativeTransferFailed(to, amount);
        } else {
            _call(m.token, abi.encodeWithSelector(0xa9059cbb, m.recipient, m.amount)); // transfer
        }
    }

    function _checkOutbound(uint64 dstChainId, address recipient, uint256 amount) private view {
        if (paused) revert Paused();
        if (amount == 0) revert ZeroAmount();
        if (recipient == address(0)) revert InvalidAddress();
        if (_remotes[dstChainId].bridge == address(0)) revert UnknownDestination(dstChainId);
    }

    function _takeNonce() private returns (uint64 nonce) {
        nonce = nextNonce;
        nextNonce = nonce + 1;
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

    function _messageId(uint64 srcChainId, address srcBridge, uint64 nonce) private pure returns (bytes32) {
        return keccak256(abi.encodePacked(srcChainId, srcBridge, nonce));
    }

    function _word(uint256 ptr) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := calldataload(ptr)
        }
    }

    function _byteAt(uint256 ptr) private pure returns (uint256 b) {
        assembly ("memory-safe") {
            b := byte(0, calldataload(ptr))
        }
    }
}
