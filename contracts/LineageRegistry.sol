// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title LineageRegistry: tamper-evident anchors for ML model lineage roots
/// @author aichain-audit
/// @notice Records that the holder of an authorised anchoring key declared, at a given block,
///         that a lineage root (an RFC 9162 SHA-256 Merkle root over a model, its datasets and
///         its config) belongs to a subject (the model digest, or zero when there is no model).
///         Records are keyed by (root, subject, anchorer): every anchorer's declaration stands on
///         its own, nobody can take, block or revoke another anchorer's record (only the owner
///         may revoke any), and several anchorers can attest the same lineage.
///         A record proves that nobody changed the bytes, or the record, afterwards; it does not
///         prove that training used them. Trust comes from what the auditor pins: the chain,
///         this registry's address and the anchorers it trusts.
/// @dev    Immutable: no proxy, no upgrade path, no selfdestruct, no immutables (the runtime code
///         is identical in every deployment, so a client can compare it byte for byte). Every
///         new record costs one fresh storage slot, written with a single SSTORE.
///         Minimum EVM fork: Cancun (the contract is compiled with `evmVersion: "cancun"`).
///
///         Storage layout (declaration order, stable for the life of the deployment):
///           slot 0  owner                                          address
///           slot 1  pendingOwner                                   address
///           slot 2  deployedAt                                     uint256 (deployment block)
///           slot 3  _anchorers[address]  -> Anchorer              one slot per address:
///                   authorised (bool, byte 0) | untrusted (bool, byte 1)
///                   | untrustedFrom (uint64, bytes 2..9)
///           slot 4  _records[root][subject][anchorer] -> Record    one slot per record:
///                   timestamp (uint40, bytes 0..4) | blockNumber (uint48, bytes 5..10)
///                   | revokedBlock (uint48, bytes 11..16) | revokedByOwner (bool, byte 17)
///         (byte 0 = least significant byte of the slot, as solc packs structs; the slot of
///         _records[r][s][a] is keccak256(a . keccak256(s . keccak256(r . 4))), each 32 bytes.)
contract LineageRegistry {
    // ------------------------------------------------------------------ types

    /// @notice Trust state of a record as reported by {check}.
    /// @dev    Unknown:   no record of (root, subject, anchorer).
    ///         Revoked:   the record was revoked and the revocation counts: it was made by the
    ///                    owner, or by the anchorer before the anchorer's untrusted-from block
    ///                    (a revocation the anchorer made at or after that block, i.e. possibly
    ///                    by whoever holds the leaked key, does not count).
    ///         Untrusted: the anchorer is marked untrusted and the record's block is at or
    ///                    after its untrusted-from block.
    ///         Trusted:   otherwise.
    ///         Precedence: a counting revocation (Revoked) over Untrusted over Trusted.
    enum Status {
        Unknown,
        Trusted,
        Revoked,
        Untrusted
    }

    /// @dev One storage slot per record: 40 + 48 + 48 + 8 = 144 bits.
    ///      blockNumber == 0 means "no record" (no transaction runs in the genesis block).
    struct Record {
        uint40 timestamp;
        uint48 blockNumber;
        uint48 revokedBlock;
        bool revokedByOwner;
    }

    /// @dev One storage slot per anchorer, read once by {anchor}.
    struct Anchorer {
        bool authorised;
        bool untrusted;
        uint64 untrustedFrom;
    }

    // -------------------------------------------------------------- constants

    /// @notice Subject under which batch roots are stored: keccak256("aichain.batch.v1").
    /// @dev    A batch root is recorded as the record (batchRoot, BATCH_SUBJECT, anchorer). Its
    ///         leaves are batchLeafHash(lineageRoot, subject) = SHA-256(0x00 || lineageRoot ||
    ///         subject) and the batch tree is an RFC 9162 tree over those leaves, in the order the
    ///         anchoring tool chose (each lineage's index, size and audit path live in its
    ///         receipt). {anchor} refuses this subject so that batch and single records never mix.
    bytes32 public constant BATCH_SUBJECT = keccak256("aichain.batch.v1");

    // ---------------------------------------------------------------- storage

    /// @notice Current owner: grants and withdraws anchoring rights, may revoke any record,
    ///         and may mark an anchorer untrusted.
    address public owner;

    /// @notice Address that may complete a pending two-step ownership transfer (zero if none).
    address public pendingOwner;

    /// @notice Block number of the deployment: where a scan of this registry's events starts.
    /// @dev    In storage, not immutable: an immutable is patched into the runtime code, which
    ///         would make the runtime code differ between deployments.
    uint256 public deployedAt;

    mapping(address => Anchorer) private _anchorers;
    mapping(bytes32 => mapping(bytes32 => mapping(address => Record))) private _records;

    // ----------------------------------------------------------------- events

    /// @notice `anchorer` anchored a lineage root for a subject (single anchors only, emitted
    ///         only when the record is created). All three fields are indexed so that the roots
    ///         of a subject, the anchorers of a root, or the records of an anchorer are found
    ///         through logs.
    event Anchored(bytes32 indexed root, bytes32 indexed subject, address indexed anchorer);

    /// @notice `anchorer` anchored a batch root over `count` lineages, stored as
    ///         (batchRoot, BATCH_SUBJECT, anchorer). Emitted only when the record is created.
    event BatchAnchored(bytes32 indexed batchRoot, uint32 count, address indexed anchorer);

    /// @notice The record (root, subject, anchorer) was revoked by `by` (its anchorer or the owner).
    event Revoked(
        bytes32 indexed root, bytes32 indexed subject, address indexed anchorer, address by, string reason
    );

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
    /// @notice No record exists for (root, subject, anchorer).
    error UnknownRecord(bytes32 root, bytes32 subject, address anchorer);
    /// @notice Caller is neither the record's anchorer nor the owner.
    error NotAllowedToRevoke();
    /// @notice The record is already revoked and that revocation counts (its first reason stands).
    error AlreadyRevoked(bytes32 root, bytes32 subject, address anchorer);
    /// @notice The zero address is not accepted here.
    error ZeroAddress();
    /// @notice BATCH_SUBJECT is reserved for {anchorBatch}.
    error ReservedSubject();
    /// @notice A batch must hold at least one lineage.
    error EmptyBatch();
    /// @notice `account` was marked untrusted: it cannot be granted anchoring rights again, nor
    ///         revoke its records.
    error AnchorerIsUntrusted(address account);

    // ------------------------------------------------------------- modifiers

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    // ----------------------------------------------------------- constructor

    /// @notice The deployer becomes owner and anchorer; the deployment block is kept in {deployedAt}.
    constructor() {
        owner = msg.sender;
        deployedAt = block.number;
        _anchorers[msg.sender].authorised = true;
        emit OwnershipTransferred(address(0), msg.sender);
        emit AnchorerGranted(msg.sender);
    }

    // ---------------------------------------------------------------- anchor

    /// @notice Record that the caller declares `root` for `subject`. Rights are checked now.
    /// @dev    Idempotent per anchorer: if the caller already holds a record of (root, subject),
    ///         revoked or not, nothing changes, no event is emitted and `created` is false. Call
    ///         it with eth_call first to learn whether a transaction is needed. Other anchorers'
    ///         records of the same (root, subject) neither block nor change the caller's.
    /// @param  root    RFC 9162 SHA-256 lineage root.
    /// @param  subject The model digest, or zero when the lineage has no model. Not BATCH_SUBJECT.
    /// @return created True when a new record was written.
    function anchor(bytes32 root, bytes32 subject) external returns (bool created) {
        if (subject == BATCH_SUBJECT) revert ReservedSubject();
        created = _anchor(root, subject);
        if (created) emit Anchored(root, subject, msg.sender);
    }

    /// @notice Anchor one batch root covering `count` lineages, stored as
    ///         (batchRoot, BATCH_SUBJECT, caller).
    /// @dev    Only the batch root travels in calldata (EIP-7623 makes per-root calldata costly).
    ///         Leaves are batchLeafHash(lineageRoot, subject); each lineage proves membership with
    ///         {verifyInclusion}. Idempotent per anchorer like {anchor}; `count` is only logged.
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
        Record storage rec = _records[root][subject][msg.sender];
        if (rec.blockNumber != 0) return false;
        // One SSTORE of the whole slot, laid out exactly as solc packs `Record` (first member in
        // the lowest bits): timestamp | blockNumber << 40 | revokedBlock(0) << 88
        // | revokedByOwner(0) << 136. Field-by-field assignment costs an extra SLOAD and masking.
        uint256 word = uint256(uint40(block.timestamp)) | (uint256(uint48(block.number)) << 40);
        assembly ("memory-safe") {
            sstore(rec.slot, word)
        }
        return true;
    }

    // ----------------------------------------------------------------- views

    /// @notice Trust state and times of (root, subject, anchorer) in one eth_call.
    /// @return st           Trust state (see {Status}).
    /// @return timestamp    Block time of the anchoring block (seconds since the epoch; 0 if unknown).
    /// @return blockNumber  The anchoring block (0 if unknown).
    /// @return revokedBlock The block of the revocation (0 if not revoked), whether it counts or not.
    function check(bytes32 root, bytes32 subject, address anchorer)
        external
        view
        returns (Status st, uint64 timestamp, uint64 blockNumber, uint64 revokedBlock)
    {
        Record memory rec = _records[root][subject][anchorer];
        return (_status(rec, anchorer), rec.timestamp, rec.blockNumber, rec.revokedBlock);
    }

    /// @notice The stored record of (root, subject, anchorer); all zero means there is none.
    /// @return timestamp      Block time of the anchoring block (seconds since the epoch).
    /// @return blockNumber    The anchoring block (0: no record).
    /// @return revokedBlock   The block of the revocation (0: not revoked).
    /// @return revokedByOwner Whether the owner (rather than the anchorer) made that revocation.
    function record(bytes32 root, bytes32 subject, address anchorer)
        external
        view
        returns (uint64 timestamp, uint64 blockNumber, uint64 revokedBlock, bool revokedByOwner)
    {
        Record memory rec = _records[root][subject][anchorer];
        return (rec.timestamp, rec.blockNumber, rec.revokedBlock, rec.revokedByOwner);
    }

    function _status(Record memory rec, address anchorer) private view returns (Status) {
        if (rec.blockNumber == 0) return Status.Unknown;
        Anchorer memory a = _anchorers[anchorer];
        if (_revocationCounts(rec, a)) return Status.Revoked;
        if (a.untrusted && rec.blockNumber >= a.untrustedFrom) return Status.Untrusted;
        return Status.Trusted;
    }

    /// @dev A revocation counts when it exists and was made by the owner, or by the anchorer
    ///      before the anchorer's untrusted-from block.
    function _revocationCounts(Record memory rec, Anchorer memory a) private pure returns (bool) {
        if (rec.revokedBlock == 0) return false;
        return rec.revokedByOwner || !a.untrusted || rec.revokedBlock < a.untrustedFrom;
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
        return "aichain.registry/v2";
    }

    // --------------------------------------------------------------- revoke

    /// @notice Revoke the record (root, subject, anchorer), single or batch, with a reason; only
    ///         by its anchorer or the owner. The reason lives only in the {Revoked} event.
    /// @dev    An anchorer whose rights were withdrawn may still revoke its own records; one
    ///         marked untrusted may not (AnchorerIsUntrusted), the owner always may. Reverts
    ///         UnknownRecord for a missing record and AlreadyRevoked when the record already
    ///         carries a revocation that counts. A revocation that does not count (made by the
    ///         anchorer at or after its untrusted-from block) can be replaced by the owner's.
    ///         Revoking a batch record revokes every lineage proved against it.
    function revoke(bytes32 root, bytes32 subject, address anchorer, string calldata reason) external {
        Record storage rec = _records[root][subject][anchorer];
        Record memory cur = rec;
        if (cur.blockNumber == 0) revert UnknownRecord(root, subject, anchorer);
        Anchorer memory a = _anchorers[anchorer];
        bool byOwner = msg.sender == owner;
        if (!byOwner) {
            if (msg.sender != anchorer) revert NotAllowedToRevoke();
            if (a.untrusted) revert AnchorerIsUntrusted(anchorer);
        }
        if (_revocationCounts(cur, a)) revert AlreadyRevoked(root, subject, anchorer);
        rec.revokedBlock = uint48(block.number);
        rec.revokedByOwner = byOwner;
        emit Revoked(root, subject, anchorer, msg.sender, reason);
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
    ///         Untrusted, its revocations made at or after `fromBlock` stop counting, it can no
    ///         longer revoke, and its anchoring rights are withdrawn for good.
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
