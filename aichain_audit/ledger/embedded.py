"""The embedded chain: an in-process EVM (eth-tester on py-evm) persisted in SQLite.

It executes the real compiled registry contract in a real EVM (Prague rules, so
Cancun bytecode runs) with zero set-up. Its results are self-attested: the same
machine wrote and reads them, and its development keys are public.

Layout under ``home``::

    chain.sqlite3   py-evm key/value store (table ``kv``) + ``meta`` table, WAL mode
    chain.lock      filelock.FileLock serialising writer sessions across processes

Every :func:`open_embedded_chain` call is one *session*: it resumes the chain
from the persisted canonical head and runs inside ONE SQLite transaction.
A writer session holds the file lock from open to close, so "check registry ->
deploy if missing -> anchor -> mine -> commit" is atomic and concurrent
writers queue.  A crash or exception rolls the whole session back.
Reader sessions take no lock and see a consistent snapshot (WAL read txn).

Dev accounts are eth-tester's defaults: private keys 0x00..01 .. 0x00..0a
(accounts[0] = 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf), 1,000,000 ETH each.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from eth.abc import BlockAPI, SignedTransactionAPI
from eth.chains.base import MiningChain
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB
from eth.db.chain import ChainDB
from eth.exceptions import HeaderNotFound
from eth.exceptions import TransactionNotFound as EVMTransactionNotFound
from eth.vm.forks import PragueVM
from eth_bloom import BloomFilter
from eth_tester import EthereumTester, PyEVMBackend
from eth_tester.backends.pyevm.main import (
    generate_genesis_state_for_keys,
    get_default_account_keys,
    get_default_genesis_params,
)
from eth_tester.backends.pyevm.serializers import (
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_tester.exceptions import TransactionNotFound
from eth_typing import BlockNumber, Hash32
from eth_utils import encode_hex
from eth_utils.toolz import assoc
from filelock import FileLock
from web3 import EthereumTesterProvider, Web3

from aichain_audit.errors import AichainError

SCHEMA_VERSION = "1"
CHAIN_ID = 131277322940537  # eth-tester's default chain id
FORK = PragueVM  # pinned: a resumed chain must keep the rules it was created with
NUM_DEV_ACCOUNTS = 10


class ReadOnlyChainError(AichainError):
    """A write was attempted in a reader session (open with write=True)."""


class EmbeddedChainError(AichainError):
    """The embedded chain's files are missing, locked too long, or from another release."""


class SQLiteKV(BaseDB):
    """py-evm key/value DB on one SQLite table; transactions are managed by the session."""

    def __init__(self, conn: sqlite3.Connection, *, writable: bool) -> None:
        self._conn = conn
        self._writable = writable

    def __getitem__(self, key: bytes) -> bytes:
        row = self._conn.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return bytes(row[0])

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._check_writable()
        self._conn.execute("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", (key, value))

    def __delitem__(self, key: bytes) -> None:
        self._check_writable()
        if self._conn.execute("DELETE FROM kv WHERE k = ?", (key,)).rowcount == 0:
            raise KeyError(key)

    def _exists(self, key: bytes) -> bool:
        return self._conn.execute("SELECT 1 FROM kv WHERE k = ?", (key,)).fetchone() is not None

    def _check_writable(self) -> None:
        if not self._writable:
            raise ReadOnlyChainError("embedded chain opened read-only (use write=True)")


class EmbeddedMiningChain(MiningChain):
    """Same shape as eth-tester's internal tester chain (post-merge, constant gas limit)."""

    chain_id = CHAIN_ID
    vm_configuration = ((BlockNumber(0), FORK),)

    def create_header_from_parent(self, parent_header: Any, **header_params: Any) -> Any:
        params = assoc(header_params, "gas_limit", parent_header.gas_limit)
        return super().create_header_from_parent(parent_header, **params)

    def get_transaction_builder(self) -> Any:
        return super().get_vm().get_transaction_builder()


class PersistentPyEVMBackend(PyEVMBackend):
    """PyEVMBackend around an existing (resumed) chain instead of a fresh genesis."""

    def __init__(self, chain: EmbeddedMiningChain, account_keys: tuple[Any, ...]) -> None:
        # Deliberately skip PyEVMBackend.__init__: it would build a new in-memory genesis.
        self.chain = chain
        self.account_keys = account_keys

    def reset_to_genesis(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("the embedded chain cannot be reset; delete its home dir")

    def _locate(self, tx_hash: bytes) -> tuple[BlockAPI, SignedTransactionAPI, int]:
        """O(1) via py-evm's persisted tx-hash index (eth-tester scans every block)."""
        try:
            number, index = self.chain.chaindb.get_transaction_index(Hash32(tx_hash))
        except EVMTransactionNotFound:
            pending = self.chain.get_block()
            for i, tx in enumerate(pending.transactions):
                if tx.hash == tx_hash:
                    return pending, tx, i
            raise TransactionNotFound(
                f"No transaction found for hash: {encode_hex(tx_hash)}"
            ) from None
        block = self.chain.get_canonical_block_by_number(number)
        return block, block.transactions[index], index

    def get_transaction_by_hash(self, transaction_hash: bytes) -> dict[str, Any]:
        block, tx, index = self._locate(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        return cast(dict[str, Any], serialize_transaction(block, tx, index, is_pending))

    def get_transaction_receipt(self, transaction_hash: bytes) -> dict[str, Any]:
        block, tx, index = self._locate(transaction_hash)
        is_pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        return cast(
            dict[str, Any],
            serialize_transaction_receipt(
                block, receipts, tx, index, is_pending, self.chain.get_vm()
            ),
        )


class EmbeddedEthereumTester(EthereumTester):
    """eth_getLogs that skips blocks whose logs bloom rules the filter out.

    eth-tester re-serialises every block and receipt in the range (~1 ms/block);
    here only runs of candidate blocks are handed to eth-tester's own get_logs.
    """

    def get_logs(
        self, from_block: Any = None, to_block: Any = None, address: Any = None, topics: Any = None
    ) -> tuple[Any, ...]:
        self.validator.validate_inbound_filter_params(
            from_block=from_block, to_block=to_block, address=address, topics=topics
        )
        chaindb = self.backend.chain.chaindb
        head = chaindb.get_canonical_head().block_number
        named = {None: head, "latest": head, "safe": head, "finalized": head, "earliest": 0}
        lo, hi = (b if isinstance(b, int) else named.get(b) for b in (from_block, to_block))
        if lo is None or hi is None:  # "pending": no fast path
            return cast(tuple[Any, ...], super().get_logs(from_block, to_block, address, topics))
        _, _, addrs, tops = self.normalizer.normalize_inbound_filter_params(
            from_block=None, to_block=None, address=address, topics=topics
        )
        groups: list[tuple[bytes, ...]] = []  # each group: at least one member in the bloom
        if addrs is not None:
            groups.append(addrs if isinstance(addrs, tuple) else (addrs,))
        for topic in tops or ():
            alternatives = topic if isinstance(topic, tuple) else (topic,)
            if None not in alternatives:
                groups.append(alternatives)

        def candidate(n: int) -> bool:
            bloom = BloomFilter(chaindb.get_canonical_block_header_by_number(BlockNumber(n)).bloom)
            return all(any(item in bloom for item in group) for group in groups)

        logs: list[Any] = []
        run_start = None
        last = min(hi, head)
        for n in range(lo, last + 2):  # last + 1 is a sentinel that closes the final run
            if n <= last and candidate(n):
                run_start = n if run_start is None else run_start
            elif run_start is not None:
                logs += super().get_logs(run_start, n - 1, address, topics)
                run_start = None
        return tuple(logs)


def _connect(path: Path) -> sqlite3.Connection:
    # isolation_level=None: we issue BEGIN/COMMIT ourselves (one SQLite txn per session).
    conn = sqlite3.connect(path, isolation_level=None, timeout=60.0)
    conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer and vice versa
    conn.execute("PRAGMA synchronous=FULL")  # an anchor we report must survive power loss
    conn.execute(
        "CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID"
    )
    conn.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)")
    return conn


def _meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT k, v FROM meta").fetchall())


def _create_genesis(conn: sqlite3.Connection) -> None:
    """Create genesis once (caller holds the file lock); idempotent."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "genesis_hash" not in _meta(conn):
            db = AtomicDB(SQLiteKV(conn, writable=True))
            state = generate_genesis_state_for_keys(get_default_account_keys(NUM_DEV_ACCOUNTS))
            chain = EmbeddedMiningChain.from_genesis(db, get_default_genesis_params(), state)
            genesis = chain.get_canonical_block_header_by_number(BlockNumber(0))
            meta = {"schema": SCHEMA_VERSION, "chain_id": str(CHAIN_ID), "fork": FORK.fork,
                    "genesis_hash": genesis.hash.hex()}  # fmt: skip
            conn.executemany("INSERT INTO meta (k, v) VALUES (?, ?)", meta.items())
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _resume(conn: sqlite3.Connection, *, writable: bool) -> Web3:
    meta = _meta(conn)
    expected = {"schema": SCHEMA_VERSION, "chain_id": str(CHAIN_ID), "fork": FORK.fork}
    if any(meta.get(k) != v for k, v in expected.items()):
        raise EmbeddedChainError(
            f"the embedded chain's database was made by another release ({meta}); "
            f"move it aside to start a new chain"
        )
    db = AtomicDB(SQLiteKV(conn, writable=writable))
    try:
        ChainDB(db).get_canonical_head()
    except HeaderNotFound as exc:
        raise EmbeddedChainError("the embedded chain's database has no canonical head") from exc
    chain = EmbeddedMiningChain(db)  # pending header = child of the persisted canonical head
    backend = PersistentPyEVMBackend(chain, get_default_account_keys(NUM_DEV_ACCOUNTS))
    tester = EmbeddedEthereumTester(backend, auto_mine_transactions=True)
    return Web3(EthereumTesterProvider(tester))


class Session:
    """One open session: the Web3 instance and the chain's small metadata table."""

    def __init__(self, w3: Web3, conn: sqlite3.Connection, home: Path, writable: bool) -> None:
        self.w3 = w3
        self.home = home
        self._conn = conn
        self._writable = writable

    def get(self, key: str) -> str | None:
        return _meta(self._conn).get(key)

    def set(self, key: str, value: str) -> None:
        if not self._writable:
            raise ReadOnlyChainError("embedded chain opened read-only")
        self._conn.execute("INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)", (key, value))


def dev_keys() -> tuple[bytes, ...]:
    """The embedded chain's public development keys (eth-tester's: 1 .. 10)."""
    return tuple(k.to_bytes() for k in get_default_account_keys(NUM_DEV_ACCOUNTS))


def exists(home: Path) -> bool:
    return (home / "chain.sqlite3").is_file()


@contextmanager
def open_embedded_chain(
    home: Path, *, write: bool = False, lock_timeout: float = 120.0
) -> Iterator[Session]:
    """One session on the on-disk chain: commit on clean exit, roll back on error.

    A writer queues behind other writers (the file lock); after `lock_timeout`
    seconds it gives up with an error rather than waiting forever.
    """
    from filelock import Timeout

    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EmbeddedChainError(
            f"cannot create the embedded chain folder {home}: {exc.strerror}"
        ) from None
    lock = FileLock(home / "chain.lock", timeout=lock_timeout)
    if write:
        try:
            lock.acquire()  # flock: released by the OS if this process dies
        except Timeout:
            raise EmbeddedChainError(
                f"another process has held the embedded chain at {home} for {lock_timeout:.0f} s"
            ) from None
    try:
        conn = _connect(home / "chain.sqlite3")
        try:
            if "genesis_hash" not in _meta(conn):
                with lock:  # re-entrant for writers; brief for readers
                    _create_genesis(conn)
            # Writers also take SQLite's write lock up front; readers get a WAL snapshot.
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Session(_resume(conn, writable=write), conn, home, write)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        finally:
            conn.close()
    finally:
        if write:
            lock.release()
