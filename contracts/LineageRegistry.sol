// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title LineageRegistry: tamper-evident anchors for ML model lineage roots
/// @author aichain-audit
/// @notice Records that the holder of an authorised anchoring key declared, at a given block,
///         that a lineage root (an RFC 9162 SHA-256 Merkle root over a model, its datasets and
///         its config) belongs to a subject (the model digest, or zero when there is no model).
///         A record proves that nobody changed the bytes, or the record, afterwards; it does not
///         prove that training used them. Trust comes from what the auditor pins: the chain,
///         this registry's address and the anchorers it trusts.
/// @dev    Immutable: no proxy, no upgrade path, no selfdestruct. Every anchor costs one fresh
///         storage slot (anchorer, block time, block number and revoked flag packed together).
///         Minimum EVM fork: Cancun (the contract is compiled with `evmVersion: "cancun"`).
///
///         Storage layout (declaration order, stable for the life of the deployment):
///           slot 0  owner                                       address
///           slot 1  pendingOwner                                address
///           slot 2  _anchorers[address]    -> Anchorer          one slot per address:
///                   authorised (bool, byte 0) | untrusted (bool, byte 1) | untrustedFrom (uint64, bytes 2..9)
///           slot 3  _records[root][subject] -> Record            one slot per anchor:
///                   anchorer (address, bytes 0..19) | timestamp (uint40, bytes 20..24)
///                   | blockNumber (uint48, bytes 25..30) | revoked (bool, byte 31)
///         (byte 0 = least significant byte of the slot, as solc packs structs.)
contract LineageRegistry {
    // ------------------------------------------------------------------ types

    /// @notice Trust state of a record as reported by {status} and {check}.
    /// @dev    Unknown: never anchored. Trusted: anchored, not revoked, and not at or after the
    ///         anchorer's untrusted-from block. Revoked: revoked by its anchorer or the owner.
    ///         Untrusted: anchored by a key the owner marked untrusted from a block at or before
    ///         the record's block (a leaked key). Revoked takes precedence over Untrusted.
    enum Status {
        Unknown,
        Trusted,
        Revoked,
        Untrusted
    }

    /// @dev One storage slot per anchor: 160 + 40 + 48 + 8 = 256 bits.
    struct Record {
        address anchorer;
        uint40 timestamp;
        uint48 blockNumber;
        bool revoked;
    }

    /// @dev One storage slot per anchorer, read once by {anchor}.
    struct Anchorer {
        bool authorised;
        bool untrusted;
        uint64 untrustedFrom;
    }

    // -------------------------------------------------------------- constants

    /// @notice Subject under which batch roots are stored: keccak256("aichain.batch.v1").
    /// @dev    A batch root is recorded as the record (batchRoot, BATCH_SUBJECT). Its leaves are
    ///         batchLeafHash(lineageRoot, subject) = SHA-256(0x00 || lineageRoot || subject) and the
    ///         batch tree is an RFC 9162 tree over those leaves, in the order the anchoring tool
    ///         chose (each lineage's index, size and audit path live in its receipt).
    ///         {anchor} refuses this subject so that batch and single records never mix.
    bytes32 public constant BATCH_SUBJECT = keccak256("aichain.batch.v1");

    // ---------------------------------------------------------------- storage

    /// @notice Current owner: grants and withdraws anchoring rights, may revoke any record,
    ///         and may mark an anchorer untrusted.
    address public owner;

    /// @notice Address that may complete a pending two-step ownership transfer (zero if none).
    address public pendingOwner;

    mapping(address => Anchorer) private _anchorers;
    mapping(bytes32 => mapping(bytes32 => Record)) private _records;

    // ----------------------------------------------------------------- events

    /// @notice A lineage root was anchored for a subject. All three fields are indexed so that
    ///         the roots of a subject, or the records of an anchorer, are found through logs.
    event Anchored(bytes32 indexed root, bytes32 indexed subject, address indexed anchorer);

    /// @notice A batch root over `count` lineages was anchored (stored as (batchRoot, BATCH_SUBJECT)).
    event BatchAnchored(bytes32 indexed batchRoot, uint32 count, address indexed anchorer);

    /// @notice A record was revoked by its anchorer or the owner.
    event Revoked(bytes32 indexed root, bytes32 indexed subject, address indexed by, string reason);

    /// @notice The owner proposed `newOwner`; ownership moves when `newOwner` calls {acceptOwnership}.
    event OwnershipTransferStarted(address indexed previousOwner, address indexed newOwner);

    /// @notice Ownership moved (also emitted at deployment with `previousOwner` zero).
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @notice `anchorer` may anchor from now on.
    event AnchorerGranted(address indexed anchorer);

    /// @notice `anchorer` may no longer anchor; its existing records keep their trust.
    event AnchorerWithdrawn(address indexed anchorer);

    /// @notice Records by `anchorer` at or after block `fromBlock` are untrusted (a leaked key).
    event AnchorerUntrusted(address indexed anchorer, uint64 fromBlock);

    // ----------------------------------------------------------------- errors

    /// @notice Caller is not the owner.
    error NotOwner();
    /// @notice `account` has no anchoring rights.
    error NotAnchorer(address account);
    /// @notice Caller is not the pending owner.
    error NotPendingOwner();
    /// @notice No record exists for (root, subject).
    error UnknownRecord(bytes32 root, bytes32 subject);
    /// @notice Caller is neither the record's anchorer nor the owner.
    error NotAllowedToRevoke();
    /// @notice The record is already revoked (its first reason stands).
    error AlreadyRevoked(bytes32 root, bytes32 subject);
    /// @notice The zero address is not accepted here.
    error ZeroAddress();
    /// @notice BATCH_SUBJECT is reserved for {anchorBatch}.
    error ReservedSubject();
    /// @notice A batch must hold at least one lineage.
    error EmptyBatch();
    /// @notice `account` was marked untrusted and cannot be granted anchoring rights again.
    error AnchorerIsUntrusted(address account);

    // ------------------------------------------------------------- modifiers

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    // ----------------------------------------------------------- constructor

    /// @notice The deployer becomes owner and anchorer.
    constructor() {
        owner = msg.sender;
        _anchorers[msg.sender].authorised = true;
        emit OwnershipTransferred(address(0), msg.sender);
        emit AnchorerGranted(msg.sender);
    }

    // ---------------------------------------------------------------- anchor

    /// @notice Anchor `root` for `subject`. Rights are checked now; the record keeps the caller.
    /// @dev    Idempotent: if (root, subject) is already recorded (revoked or not) nothing changes,
    ///         no event is emitted and `created` is false. Call it with eth_call first to learn
    ///         whether a transaction is needed.
    /// @param  root    RFC 9162 SHA-256 lineage root.
    /// @param  subject The model digest, or zero when the lineage has no model. Not BATCH_SUBJECT.
    /// @return created True when a new record was written.
    function anchor(bytes32 root, bytes32 subject) external returns (bool created) {
        if (subject == BATCH_SUBJECT) revert ReservedSubject();
        return _anchor(root, subject);
    }

    /// @notice Anchor one batch root covering `count` lineages, stored as (batchRoot, BATCH_SUBJECT).
    /// @dev    Only the batch root travels in calldata (EIP-7623 makes per-root calldata costly).
    ///         Leaves are batchLeafHash(lineageRoot, subject); each lineage proves membership with
    ///         {verifyInclusion}. Idempotent like {anchor}; `count` is only logged.
    /// @param  batchRoot RFC 9162 root over the batch leaves.
    /// @param  count     Number of leaves in the batch tree (at least 1).
    /// @return created   True when a new record was written.
    function anchorBatch(bytes32 batchRoot, uint32 count) external returns (bool created) {
        if (count == 0) revert EmptyBatch();
        created = _anchor(batchRoot, BATCH_SUBJECT);
        if (created) emit BatchAnchored(batchRoot, count, msg.sender);
    }

    function _anchor(bytes32 root, bytes32 subject) private returns (bool) {
        if (!_anchorers[msg.sender].authorised) revert NotAnchorer(msg.sender);
        Record storage rec = _records[root][subject];
        if (rec.anchorer != address(0)) return false;
        // One SSTORE of the whole slot, laid out exactly as solc packs `Record` (first member in
        // the lowest bits): anchorer | timestamp << 160 | blockNumber << 200 | revoked(0) << 248.
        // Field-by-field assignment costs an extra SLOAD and masking (about 120 gas).
        uint256 word = uint256(uint160(msg.sender)) | (uint256(uint40(block.timestamp)) << 160)
            | (uint256(uint48(block.number)) << 200);
        assembly ("memory-safe") {
            sstore(rec.slot, word)
        }
        if (subject != BATCH_SUBJECT) emit Anchored(root, subject, msg.sender);
        return true;
    }

    // ----------------------------------------------------------------- views

    /// @notice The stored record of (root, subject); an all-zero answer means it was never anchored.
    /// @return anchorer    Who anchored it (zero if unknown).
    /// @return timestamp   Block time of the anchoring block (seconds since the epoch).
    /// @return blockNumber The anchoring block.
    /// @return revoked     Whether it was revoked.
    function record(bytes32 root, bytes32 subject)
        external
        view
        returns (address anchorer, uint64 timestamp, uint64 blockNumber, bool revoked)
    {
        Record memory rec = _records[root][subject];
        return (rec.anchorer, rec.timestamp, rec.blockNumber, rec.revoked);
    }

    /// @notice Trust state of (root, subject). Rights withdrawn after anchoring do not change it.
    function status(bytes32 root, bytes32 subject) external view returns (Status) {
        return _status(_records[root][subject]);
    }

    /// @notice Everything an auditor needs about (root, subject) in one eth_call.
    /// @return st          Trust state, as {status}.
    /// @return anchorer    Who anchored it (zero if unknown).
    /// @return timestamp   Block time of the anchoring block.
    /// @return blockNumber The anchoring block.
    function check(bytes32 root, bytes32 subject)
        external
        view
        returns (Status st, address anchorer, uint64 timestamp, uint64 blockNumber)
    {
        Record memory rec = _records[root][subject];
        return (_status(rec), rec.anchorer, rec.timestamp, rec.blockNumber);
    }

    function _status(Record memory rec) private view returns (Status) {
        if (rec.anchorer == address(0)) return Status.Unknown;
        if (rec.revoked) return Status.Revoked;
        Anchorer memory a = _anchorers[rec.anchorer];
        if (a.untrusted && rec.blockNumber >= a.untrustedFrom) return Status.Untrusted;
        return Status.Trusted;
    }

    /// @notice Whether `account` may anchor now.
    function isAnchorer(address account) external view returns (bool) {
        return _anchorers[account].authorised;
    }

    /// @notice Whether `account` was marked untrusted, and from which block.
    function untrustedFrom(address account) external view returns (bool marked, uint64 fromBlock) {
        Anchorer memory a = _anchorers[account];
        return (a.untrusted, a.untrustedFrom);
    }

    /// @notice Interface version of this registry.
    function version() external pure returns (string memory) {
        return "aichain.registry/v1";
    }

    // --------------------------------------------------------------- revoke

    /// @notice Revoke a record (single or batch) with a reason; only its anchorer or the owner.
    /// @dev    An anchorer whose rights were withdrawn may still revoke its own records.
    ///         Revoking a batch record revokes every lineage proved against it.
    ///         Reverts UnknownRecord for a missing record and AlreadyRevoked the second time.
    function revoke(bytes32 root, bytes32 subject, string calldata reason) external {
        Record storage rec = _records[root][subject];
        address anchorer = rec.anchorer;
        if (anchorer == address(0)) revert UnknownRecord(root, subject);
        if (msg.sender != anchorer && msg.sender != owner) revert NotAllowedToRevoke();
        if (rec.revoked) revert AlreadyRevoked(root, subject);
        rec.revoked = true;
        emit Revoked(root, subject, msg.sender, reason);
    }

    // ---------------------------------------------------------------- roles

    /// @notice Give `account` anchoring rights. No-op (no event) if it already has them.
    function grantAnchorer(address account) external onlyOwner {
        if (account == address(0)) revert ZeroAddress();
        Anchorer storage a = _anchorers[account];
        if (a.untrusted) revert AnchorerIsUntrusted(account);
        if (a.authorised) return;
        a.authorised = true;
        emit AnchorerGranted(account);
    }

    /// @notice Withdraw `account`'s anchoring rights; its earlier records stay trusted.
    ///         No-op (no event) if it has none.
    function withdrawAnchorer(address account) external onlyOwner {
        Anchorer storage a = _anchorers[account];
        if (!a.authorised) return;
        a.authorised = false;
        emit AnchorerWithdrawn(account);
    }

    /// @notice Mark `account`'s key as leaked: its records with blockNumber >= `fromBlock` become
    ///         Untrusted, and its anchoring rights are withdrawn for good.
    /// @dev    Can only widen: a later call with a higher `fromBlock` keeps the lower one.
    function markUntrusted(address account, uint64 fromBlock) external onlyOwner {
        if (account == address(0)) revert ZeroAddress();
        Anchorer storage a = _anchorers[account];
        if (a.untrusted && a.untrustedFrom <= fromBlock) fromBlock = a.untrustedFrom;
        bool wasAuthorised = a.authorised;
        a.authorised = false;
        a.untrusted = true;
        a.untrustedFrom = fromBlock;
        if (wasAuthorised) emit AnchorerWithdrawn(account);
        emit AnchorerUntrusted(account, fromBlock);
    }

    /// @notice Start a two-step ownership transfer; a later call replaces the pending owner.
    function transferOwnership(address newOwner) external onlyOwner {
        if (newOwner == address(0)) revert ZeroAddress();
        pendingOwner = newOwner;
        emit OwnershipTransferStarted(msg.sender, newOwner);
    }

    /// @notice Complete a transfer: only the pending owner. Anchoring rights do not move with it.
    function acceptOwnership() external {
        if (msg.sender != pendingOwner) revert NotPendingOwner();
        address previous = owner;
        owner = msg.sender;
        delete pendingOwner;
        emit OwnershipTransferred(previous, msg.sender);
    }

    // ----------------------------------------------------- RFC 9162 proofs

    /// @notice Batch leaf hash: SHA-256(0x00 || root || subject), the RFC 9162 leaf hash of the
    ///         64 bytes root || subject.
    function batchLeafHash(bytes32 root, bytes32 subject) external pure returns (bytes32) {
        return sha256(abi.encodePacked(bytes1(0x00), root, subject));
    }

    /// @notice Verify an RFC 9162 (section 2.1.3.2) inclusion proof with SHA-256 (precompile 0x02).
    /// @param  leafHash Hash of the leaf (already leaf-hashed: SHA-256(0x00 || data)).
    /// @param  index    0-based leaf index.
    /// @param  size     Tree size (number of leaves).
    /// @param  proof    Audit path, from the leaf's sibling up to the root's child.
    /// @param  root     Expected tree root.
    /// @return True when the path leads from leafHash at index to root in a tree of size leaves.
    function verifyInclusion(
        bytes32 leafHash,
        uint256 index,
        uint256 size,
        bytes32[] calldata proof,
        bytes32 root
    ) external pure returns (bool) {
        if (index >= size) return false;
        uint256 fn = index;
        uint256 sn = size - 1;
        bytes32 r = leafHash;
        for (uint256 i = 0; i < proof.length; ++i) {
            if (sn == 0) return false;
            bytes32 p = proof[i];
            if ((fn & 1) == 1 || fn == sn) {
                r = sha256(abi.encodePacked(bytes1(0x01), p, r));
                if ((fn & 1) == 0) {
                    while ((fn & 1) == 0 && fn != 0) {
                        fn >>= 1;
                        sn >>= 1;
                    }
                }
            } else {
                r = sha256(abi.encodePacked(bytes1(0x01), r, p));
            }
            fn >>= 1;
            sn >>= 1;
        }
        return sn == 0 && r == root;
    }
}
