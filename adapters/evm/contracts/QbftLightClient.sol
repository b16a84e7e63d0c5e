// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

import {ILightClient} from "./ILightClient.sol";
import {RLPReader} from "./RLPReader.sol";

/// @title QbftLightClient: accepts headers of a Hyperledger Besu / GoQuorum QBFT (flavour 0) or
/// IBFT 2.0 (flavour 1) chain by their own committed seals, and follows validator-set changes.
/// @notice The policy is Besu's header validation, restricted to what a light client can see:
///  - extraData = RLP([vanity, [validators], vote, round, [seals]]); the header's `validators` list is
///    the set that must seal *that* header (Besu `BftValidatorsValidationRule`: it equals the vote
///    tally after the parent) and is sorted ascending.
///  - a header is valid when distinct validators of that set, at least ceil(2n/3) of them
///    (`BftHelpers.calculateRequiredValidatorQuorum`), committed-sealed it and no seal comes from a
///    non-validator (`BftCommitSealsValidationRule`).
///  - the client keeps the history of validator *epochs*: epoch i is the set S_i in force from block
///    start_i (the first block listing it) up to start_{i+1} - 1; the last epoch is open-ended. Epoch 0
///    starts at the checkpoint with the checkpoint's set.
///  - a header at number N is accepted in any order (older ones too, so a header pushed early by anyone
///    never makes an older final block unprovable) when it lists the set of the epoch that contains N
///    and a quorum of that set sealed it. Headers of the open epoch may skip any number of blocks.
///  - a header listing another set than the open epoch's opens a new epoch only as the child (number and
///    parentHash) of an accepted header of the open epoch, and only if the set differs from the open
///    epoch's by the one validator that the parent's vote named (add: `S + x`, drop: `S - x`): one
///    block's vote changes at most one member. So relayers submit the header carrying the deciding vote
///    and then its child, in order, before any header of the new epoch. The checkpoint header itself
///    is accepted (it carries the vote a change at checkpoint + 1 needs).
/// Security: a skipped-to header is trusted because a quorum of the open epoch's set sealed it; this is
/// safe while a quorum of that set stays honest, even after the chain has replaced it (relayers submit
/// set changes promptly). Seal membership is checked against the header's own list in calldata, which
/// must hash to the epoch's stored list hash (no per-validator storage reads).
/// Not checked: mixHash / difficulty / nonce constants, vanity length, round number, timestamps,
/// Besu "transitions" (validator overrides by block number) and contract-based validator selection.
contract QbftLightClient is ILightClient {
    struct HeaderRecord {
        bytes32 blockHash;
        bytes32 receiptsRoot;
    }

    /// @notice One validator epoch: the set (as the keccak of its RLP list in headers) from `start` on.
    struct Epoch {
        bytes32 validatorsHash;
        uint64 start;
    }

    /// @dev Calldata offsets of the parts of one header, filled by `_parse`.
    struct Parsed {
        uint256 number;
        bytes32 parentHash;
        bytes32 receiptsRoot;
        uint256 listStart; // first byte of the header list payload (field 0)
        uint256 extraItem; // first byte of the extraData item (its RLP prefix)
        uint256 extraNext; // first byte after the extraData item (mixHash item)
        uint256 headerEnd; // first byte after the header
        uint256 bodyStart; // first byte of the extraData list payload (the vanity item)
        uint256 validatorsItem; // first byte of the validators item
        uint256 voteStart; // first byte of the vote item (= end of the validators item)
        uint256 roundStart; // first byte of the round item (= end of the vote item)
        uint256 sealsStart; // first byte of the seals item (= end of the round item)
        uint256 sealsPayload; // first byte of the seals list payload
        uint256 sealsEnd; // first byte after the seals list (= end of the extraData payload)
        uint8 voteKind; // VOTE_NONE, VOTE_ADD or VOTE_DROP
        address voteRecipient;
    }

    event HeaderAccepted(uint256 indexed number, bytes32 blockHash, bytes32 receiptsRoot);
    event ValidatorsChanged(uint256 number, address[] validators);

    error NotEnoughSeals(uint256 got, uint256 need);
    error DuplicateSeal(address validator);
    error UnknownValidator(address signer);
    /// @notice The header is older than the checkpoint.
    error StaleHeader(uint256 number);
    error InvalidHeader();
    error InvalidExtraData();
    error ConflictingHeader(uint256 number);
    /// @notice The header lists a validator set this client cannot derive for its number.
    error UnexpectedValidatorSet(uint256 number);
    /// @notice A committed seal is not 65 bytes r||s||v with v in {0,1}, or recovers no address.
    error InvalidSeal();
    /// @notice The header's Besu block hash or its receipts root is zero (a zero root means "unknown").
    error ZeroRoot(uint256 number);
    /// @notice Constructor arguments: flavour > 1, checkpoint >= 2^64, validators empty or not ascending.
    error InvalidConfig();

    uint8 public constant FLAVOUR_QBFT = 0;
    uint8 public constant FLAVOUR_IBFT2 = 1;
    uint8 private constant VOTE_NONE = 0;
    uint8 private constant VOTE_ADD = 1;
    uint8 private constant VOTE_DROP = 2;

    /// @inheritdoc ILightClient
    uint64 public immutable sourceChainId;
    /// @notice 0 = QBFT, 1 = IBFT 2.0; they differ only in the extraData encoding and the hashes.
    uint8 public immutable flavour;
    /// @notice The trusted checkpoint: headers from this number on are accepted.
    uint64 public immutable checkpoint;

    /// @notice Accepted headers by block number: Besu's block hash and the receipts root.
    mapping(uint256 => HeaderRecord) public headers;

    // slot packing: what a plain update of the open epoch reads and writes shares one slot
    uint64 private _latest; // highest accepted number (the checkpoint before the first update)
    uint64 private _openStart; // first block of the open (last) epoch
    bytes32 private _openHash; // keccak of the RLP list of the open epoch's set, as headers carry it
    Epoch[] private _epochs;
    address[] private _validators; // the open epoch's set (views and set changes)
    /// @dev Votes of accepted headers that carry one: number => kind << 160 | recipient.
    mapping(uint256 => uint256) private _votes;

    /// @param checkpointNumber a trusted block number; headers from it on are accepted
    /// @param validators_ the set listed in the checkpoint header (the set that sealed it), strictly ascending
    /// @param flavour_ 0 = QBFT, 1 = IBFT 2.0
    constructor(uint64 sourceChainId_, uint256 checkpointNumber, address[] memory validators_, uint8 flavour_) {
        if (flavour_ > FLAVOUR_IBFT2 || checkpointNumber > type(uint64).max) revert InvalidConfig();
        sourceChainId = sourceChainId_;
        flavour = flavour_;
        checkpoint = uint64(checkpointNumber);
        _latest = uint64(checkpointNumber);
        _install(validators_, keccak256(_encodeAddressList(validators_)), checkpointNumber);
    }

    // ------------------------------------------------------------------ updates

    /// @notice Verify and store one RLP-encoded header (with its committed seals in extraData).
    function updateHeader(bytes calldata rlpHeader) external {
        _update(rlpHeader);
    }

    /// @inheritdoc ILightClient
    /// @dev The update is the RLP header, exactly as for `updateHeader`.
    function submitUpdate(bytes calldata update) external {
        _update(update);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ILightClient
    function receiptsRootOf(uint256 number) external view returns (bytes32) {
        return headers[number].receiptsRoot;
    }

    /// @notice The validator set of the open (latest) epoch, ascending.
    function validators() external view returns (address[] memory) {
        return _validators;
    }

    /// @notice Seals a header listing the open epoch's set needs: ceil(2n/3).
    function quorum() external view returns (uint256) {
        return _quorum(_validators.length);
    }

    /// @notice Highest accepted header number (the checkpoint before the first update).
    function latestNumber() external view returns (uint256) {
        return _latest;
    }

    /// @notice Number of validator epochs known (1 at deployment).
    function epochCount() external view returns (uint256) {
        return _epochs.length;
    }

    /// @notice Epoch `index`: its first block and the keccak of its validator list as headers carry it.
    function epochAt(uint256 index) external view returns (uint256 start, bytes32 validatorsHash) {
        Epoch storage e = _epochs[index];
        return (e.start, e.validatorsHash);
    }

    /// @notice The vote carried by the accepted header `number` (kind 0 none, 1 add, 2 drop).
    function voteAt(uint256 number) external view returns (address recipient, uint8 kind) {
        uint256 v = _votes[number];
        return (address(uint160(v)), uint8(v >> 160));
    }

    /// @notice The committed-seal digest and Besu's block hash of an RLP header (no checks on seals).
    function headerHashes(bytes calldata rlpHeader) external view returns (bytes32 commitHash, bytes32 blockHash) {
        Parsed memory p = _parse(rlpHeader);
        return (_hash(p, true), _hash(p, false));
    }

    /// @notice Signers of the header's committed seals, in seal order (no membership checks).
    function sealSigners(bytes calldata rlpHeader) external view returns (address[] memory signers) {
        Parsed memory p = _parse(rlpHeader);
        bytes32 digest = _hash(p, true);
        signers = new address[](_sealCount(p));
        uint256 ptr = p.sealsPayload;
        for (uint256 i; i < signers.length; ++i) {
            (signers[i], ptr) = _nextSeal(digest, ptr, p.sealsEnd);
        }
    }

    // ------------------------------------------------------------------ update internals

    function _update(bytes calldata h) private {
        Parsed memory p = _parse(h);
        bytes32 blockHash = _hash(p, false);
        if (blockHash == bytes32(0) || p.receiptsRoot == bytes32(0)) revert ZeroRoot(p.number);
        HeaderRecord storage rec = headers[p.number];
        bytes32 known = rec.blockHash;
        if (known != bytes32(0)) {
            if (known == blockHash) return; // already accepted (e.g. two relayers raced)
            revert ConflictingHeader(p.number);
        }
        if (p.number < checkpoint) revert StaleHeader(p.number);
        _checkEpoch(p);
        _checkSeals(p, _hash(p, true));
        rec.blockHash = blockHash;
        rec.receiptsRoot = p.receiptsRoot;
        if (p.number > _latest) _latest = uint64(p.number);
        if (p.voteKind != VOTE_NONE) _votes[p.number] = (uint256(p.voteKind) << 160) | uint160(p.voteRecipient);
        emit HeaderAccepted(p.number, blockHash, p.receiptsRoot);
    }

    /// @dev The header lists the set of the epoch containing its number, or opens a new epoch by
    /// the vote of its accepted parent in the open epoch.
    function _checkEpoch(Parsed memory p) private {
        bytes32 listedHash = _calldataHash(p.validatorsItem, p.voteStart);
        uint256 openStart = _openStart;
        if (p.number >= openStart) {
            if (listedHash == _openHash) return;
            _followValidators(p, listedHash, openStart);
            return;
        }
        if (listedHash != _epochHashAt(p.number)) revert UnexpectedValidatorSet(p.number);
    }

    /// @dev keccak of the validator list of the closed epoch containing `number` (binary search).
    function _epochHashAt(uint256 number) private view returns (bytes32) {
        uint256 lo; // _epochs[lo].start <= number < _epochs[hi].start
        uint256 hi = _epochs.length - 1; // number < _openStart = _epochs[last].start
        while (hi - lo > 1) {
            uint256 mid = (lo + hi) / 2;
            if (_epochs[mid].start <= number) lo = mid;
            else hi = mid;
        }
        return _epochs[lo].validatorsHash;
    }

    /// @dev Open a new epoch at `p` (a set change): `p` is the child of an accepted header of the open
    /// epoch whose vote names the one validator by which the listed set differs from the open set.
    function _followValidators(Parsed memory p, bytes32 listedHash, uint256 openStart) private {
        bytes32 parent = p.number > openStart ? headers[p.number - 1].blockHash : bytes32(0);
        if (parent == bytes32(0) || p.parentHash != parent) revert UnexpectedValidatorSet(p.number);
        uint256 vote = _votes[p.number - 1];
        address[] memory next = _readValidators(p);
        if (!_isVotedChange(next, address(uint160(vote)), vote >> 160)) revert UnexpectedValidatorSet(p.number);
        _install(next, listedHash, p.number);
    }

    /// @dev `next` is strictly ascending and equals the open set plus (add) or minus (drop) `x`.
    function _isVotedChange(address[] memory next, address x, uint256 kind) private view returns (bool) {
        address[] memory current = _validators;
        if (kind == VOTE_ADD ? next.length != current.length + 1 : (kind != VOTE_DROP || next.length + 1 != current.length)) {
            return false;
        }
        address prev;
        for (uint256 i; i < next.length; ++i) {
            if (next[i] <= prev) return false;
            prev = next[i];
        }
        (address[] memory longer, address[] memory shorter) = kind == VOTE_ADD ? (next, current) : (current, next);
        uint256 j;
        bool skipped;
        for (uint256 i; i < longer.length; ++i) {
            if (!skipped && longer[i] == x) {
                skipped = true;
                continue;
            }
            if (j == shorter.length || longer[i] != shorter[j]) return false;
            ++j;
        }
        return skipped;
    }

    /// @dev Every seal recovers (over the committed-seal digest) to a distinct validator of the header's
    /// own list (already matched to the epoch's set), and there are at least ceil(2n/3) of them.
    function _checkSeals(Parsed memory p, bytes32 digest) private pure {
        (uint256 listPtr, uint256 listLen,) = RLPReader.list(p.validatorsItem, p.voteStart, InvalidExtraData.selector);
        uint256 n = listLen / 21; // the list hashes to a stored one: 0x94-prefixed addresses, ascending
        uint256[] memory seen = new uint256[]((n >> 8) + 1); // bitmap by validator index
        uint256 got;
        uint256 ptr = p.sealsPayload;
        while (ptr < p.sealsEnd) {
            address signer;
            (signer, ptr) = _nextSeal(digest, ptr, p.sealsEnd);
            uint256 index = _indexOf(listPtr, n, signer);
            uint256 bit = 1 << (index & 0xff);
            if (seen[index >> 8] & bit != 0) revert DuplicateSeal(signer);
            seen[index >> 8] |= bit;
            ++got;
        }
        uint256 need = _quorum(n);
        if (got < need) revert NotEnoughSeals(got, need);
    }

    /// @dev Index of `signer` in the ascending calldata list of `n` 21-byte items at `listPtr`.
    function _indexOf(uint256 listPtr, uint256 n, address signer) private pure returns (uint256) {
        uint256 lo;
        uint256 hi = n;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            address v = address(uint160(_word(listPtr + 21 * mid) >> 88));
            if (v == signer) return mid;
            if (v < signer) lo = mid + 1;
            else hi = mid;
        }
        revert UnknownValidator(signer);
    }

    /// @dev Signer of the seal item at `ptr` and the offset after it.
    function _nextSeal(bytes32 digest, uint256 ptr, uint256 end) private pure returns (address signer, uint256 next) {
        uint256 payload;
        uint256 len;
        (payload, len, next) = RLPReader.str(ptr, end, InvalidExtraData.selector);
        if (len != 65) revert InvalidSeal();
        bytes32 r;
        bytes32 s;
        uint256 v;
        assembly ("memory-safe") {
            r := calldataload(payload)
            s := calldataload(add(payload, 32))
            v := byte(0, calldataload(add(payload, 64)))
        }
        if (v > 1) revert InvalidSeal(); // Besu seals carry the recovery id 0/1, not 27/28
        signer = ecrecover(digest, uint8(v + 27), r, s);
        if (signer == address(0)) revert InvalidSeal();
    }

    /// @dev Open the epoch of `set` (ascending, distinct, non-zero) at block `number`.
    function _install(address[] memory set, bytes32 listHash, uint256 number) private {
        if (set.length == 0 || set.length > type(uint32).max) revert InvalidConfig();
        delete _validators;
        address prev;
        for (uint256 i; i < set.length; ++i) {
            address v = set[i];
            if (v <= prev) revert InvalidConfig(); // ascending (Besu's order), distinct, non-zero
            _validators.push(v);
            prev = v;
        }
        _epochs.push(Epoch(listHash, uint64(number)));
        _openStart = uint64(number);
        _openHash = listHash;
        emit ValidatorsChanged(number, set);
    }

    function _quorum(uint256 n) private pure returns (uint256) {
        return (2 * n + 2) / 3; // ceil(2n/3)
    }

    // ------------------------------------------------------------------ parsing

    /// @dev Locate the fields the client uses; reverts InvalidHeader / InvalidExtraData on bad RLP.
    function _parse(bytes calldata h) private pure returns (Parsed memory p) {
        bytes4 bad = InvalidHeader.selector;
        uint256 start;
        assembly ("memory-safe") {
            start := h.offset
        }
        uint256 end = start + h.length;
        (uint256 ptr,, uint256 next) = RLPReader.list(start, end, bad);
        if (next != end) revert InvalidHeader();
        p.listStart = ptr;
        p.headerEnd = end;
        uint256 at;
        uint256 len;
        (at, len, ptr) = RLPReader.str(ptr, end, bad); // 0 parentHash
        if (len != 32) revert InvalidHeader();
        p.parentHash = bytes32(_word(at));
        ptr = RLPReader.skipN(ptr, 4, end, bad); // 1 ommers, 2 coinbase, 3 stateRoot, 4 txRoot
        (at, len, ptr) = RLPReader.str(ptr, end, bad); // 5 receiptsRoot
        if (len != 32) revert InvalidHeader();
        p.receiptsRoot = bytes32(_word(at));
        ptr = RLPReader.skipN(ptr, 2, end, bad); // 6 logsBloom, 7 difficulty
        (at, len, ptr) = RLPReader.str(ptr, end, bad); // 8 number
        if (len > 8) revert InvalidHeader();
        p.number = len == 0 ? 0 : _word(at) >> (256 - 8 * len);
        ptr = RLPReader.skipN(ptr, 3, end, bad); // 9 gasLimit, 10 gasUsed, 11 timestamp
        p.extraItem = ptr;
        (at, len, ptr) = RLPReader.str(ptr, end, bad); // 12 extraData
        p.extraNext = ptr;
        RLPReader.skipN(ptr, 2, end, bad); // 13 mixHash, 14 nonce must follow (later fields are kept as they are)
        _parseExtra(p, at, at + len);
    }

    /// @dev extraData = RLP([vanity, [validators], vote, round, [seals]]), nothing after it.
    function _parseExtra(Parsed memory p, uint256 start, uint256 end) private pure {
        bytes4 bad = InvalidExtraData.selector;
        (uint256 ptr,, uint256 next) = RLPReader.list(start, end, bad);
        if (next != end) revert InvalidExtraData();
        p.bodyStart = ptr;
        (,, ptr) = RLPReader.str(ptr, end, bad); // vanity
        p.validatorsItem = ptr;
        (,, ptr) = RLPReader.list(ptr, end, bad); // validators (items checked when a new set is read)
        p.voteStart = ptr;
        ptr = _parseVote(p, ptr, end);
        p.roundStart = ptr;
        uint256 len;
        (, len, ptr) = RLPReader.str(ptr, end, bad); // round: QBFT scalar, IBFT 2.0 4 bytes
        if (len > 32) revert InvalidExtraData();
        p.sealsStart = ptr;
        (p.sealsPayload,, ptr) = RLPReader.list(ptr, end, bad); // committed seals
        if (ptr != end) revert InvalidExtraData();
        p.sealsEnd = ptr;
    }

    /// @dev vote: none = 0xc0 (QBFT) or 0x80 (IBFT 2.0); else [recipient, kind] with add = 0xff,
    /// drop = empty string (QBFT) or 0x00 (IBFT 2.0). Both spellings are accepted in both flavours;
    /// the hashes cover the bytes as sent.
    function _parseVote(Parsed memory p, uint256 ptr, uint256 end) private pure returns (uint256 next) {
        bytes4 bad = InvalidExtraData.selector;
        (uint256 at, uint256 len, bool isList, uint256 after_) = RLPReader.item(ptr, end, bad);
        next = after_;
        if (len == 0) return next; // no vote
        if (!isList) revert InvalidExtraData();
        uint256 q;
        (q, len, ptr) = RLPReader.str(at, next, bad);
        if (len != 20) revert InvalidExtraData();
        p.voteRecipient = address(uint160(_word(q) >> 96));
        (q, len, ptr) = RLPReader.str(ptr, next, bad);
        if (ptr != next) revert InvalidExtraData();
        uint256 b = len == 0 ? 0 : _word(q) >> 248;
        if (len == 1 && b == 0xff) p.voteKind = VOTE_ADD;
        else if (len == 0 || (len == 1 && b == 0)) p.voteKind = VOTE_DROP;
        else revert InvalidExtraData();
    }

    /// @dev The listed validators as addresses; each item must be a 20-byte string (0x94 prefix).
    function _readValidators(Parsed memory p) private pure returns (address[] memory set) {
        (uint256 ptr, uint256 len,) = RLPReader.list(p.validatorsItem, p.voteStart, InvalidExtraData.selector);
        if (len % 21 != 0) revert InvalidExtraData();
        set = new address[](len / 21);
        for (uint256 i; i < set.length; ++i) {
            uint256 w = _word(ptr + 21 * i);
            if (w >> 248 != 0x94) revert InvalidExtraData();
            set[i] = address(uint160(w >> 88));
        }
    }

    function _sealCount(Parsed memory p) private pure returns (uint256 count) {
        uint256 ptr = p.sealsPayload;
        while (ptr < p.sealsEnd) {
            ptr = RLPReader.skip(ptr, p.sealsEnd, InvalidExtraData.selector);
            ++count;
        }
    }

    /// @dev keccak of the calldata bytes [from, to), via scratch memory.
    function _calldataHash(uint256 from, uint256 to) private pure returns (bytes32 digest) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            calldatacopy(ptr, from, sub(to, from))
            digest := keccak256(ptr, sub(to, from))
        }
    }

    function _word(uint256 at) private pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := calldataload(at)
        }
    }

    // ------------------------------------------------------------------ hashing

    /// @dev keccak of the header re-encoded with a reduced extraData (Besu `BftBlockHashing`):
    ///   commit (the digest validators seal), QBFT:  [vanity, validators, vote, round, []]
    ///   commit, IBFT 2.0:                           [vanity, validators, vote, round]
    ///   block hash (parentHash of the child), QBFT: [vanity, validators, vote, 0x80 (round 0), []]
    ///   block hash, IBFT 2.0:                       [vanity, validators, vote]
    /// Every other field keeps its exact bytes; only the extraData item and the two enclosing
    /// length prefixes (extraData string, header list) are rebuilt, in scratch memory.
    function _hash(Parsed memory p, bool commit) private view returns (bytes32 digest) {
        bool qbft = flavour == FLAVOUR_QBFT;
        // the kept part of the extraData list: [vanity, validators, vote] (+ round for the commit hash)
        uint256 keptEnd = commit ? p.sealsStart : p.roundStart;
        // the appended part: QBFT commit 0xc0 (empty seals); QBFT block hash 0x80 0xc0; IBFT 2.0 nothing
        uint256 tail = qbft ? (commit ? 0xc0 : 0x80c0) : 0;
        uint256 tailLen = qbft ? (commit ? 1 : 2) : 0;
        uint256 inner = keptEnd - p.bodyStart + tailLen; // extraData list payload
        uint256 extra = _prefixLen(inner) + inner; // extraData bytes (an RLP list)
        uint256 headLen = p.extraItem - p.listStart; // fields 0..11
        uint256 restLen = p.headerEnd - p.extraNext; // fields 13.. (mixHash, nonce, ...)
        uint256 payload = headLen + _prefixLen(extra) + extra + restLen;
        uint256 start;
        assembly ("memory-safe") {
            start := mload(0x40) // scratch: written and hashed, never allocated
        }
        uint256 ptr = _writePrefix(start, payload, 0xc0);
        ptr = _copy(ptr, p.listStart, headLen);
        ptr = _writePrefix(ptr, extra, 0x80);
        ptr = _writePrefix(ptr, inner, 0xc0);
        ptr = _copy(ptr, p.bodyStart, keptEnd - p.bodyStart);
        assembly ("memory-safe") {
            mstore(ptr, shl(sub(256, shl(3, tailLen)), tail)) // tailLen 0 writes nothing useful; overwritten next
            ptr := add(ptr, tailLen)
        }
        ptr = _copy(ptr, p.extraNext, restLen);
        assembly ("memory-safe") {
            digest := keccak256(start, sub(ptr, start))
        }
    }

    /// @dev RLP length prefix for a payload of `len` bytes (`base` 0x80 string, 0xc0 list) at `ptr`.
    function _writePrefix(uint256 ptr, uint256 len, uint256 base) private pure returns (uint256) {
        if (len < 56) {
            assembly ("memory-safe") {
                mstore8(ptr, add(base, len))
            }
            return ptr + 1;
        }
        uint256 ll = _byteLen(len);
        assembly ("memory-safe") {
            mstore8(ptr, add(add(base, 55), ll))
            mstore(add(ptr, 1), shl(sub(256, shl(3, ll)), len))
        }
        return ptr + 1 + ll;
    }

    function _copy(uint256 ptr, uint256 from, uint256 len) private pure returns (uint256) {
        assembly ("memory-safe") {
            calldatacopy(ptr, from, len)
        }
        return ptr + len;
    }

    function _prefixLen(uint256 len) private pure returns (uint256) {
        return len < 56 ? 1 : 1 + _byteLen(len);
    }

    function _byteLen(uint256 x) private pure returns (uint256 n) {
        while (x != 0) {
            ++n;
            x >>= 8;
        }
    }

    /// @dev RLP list of 20-byte strings, as a header's extraData lists validators.
    function _encodeAddressList(address[] memory set) private pure returns (bytes memory out) {
        uint256 len = 21 * set.length;
        out = new bytes(_prefixLen(len) + len);
        uint256 ptr;
        assembly ("memory-safe") {
            ptr := add(out, 0x20)
        }
        ptr = _writePrefix(ptr, len, 0xc0);
        for (uint256 i; i < set.length; ++i) {
            address v = set[i];
            assembly ("memory-safe") {
                mstore(ptr, or(shl(248, 0x94), shl(88, v))) // 0x94 = string of 20 bytes, then the address
            }
            ptr += 21;
        }
    }
}
