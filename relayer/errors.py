"""Exception tree of the relayer.

    RelayerError                    root; every error the relayer raises on purpose
    ├── ConfigError                 bad configuration (fatal, exit 2); carries the key path
    ├── UsageError                  bad CLI argument (exit 2)
    ├── RetryableError              transient: try again later with backoff
    │   └── RpcError                an RPC endpoint failed or timed out
    │       └── RpcUnanswered       an endpoint lacks what it was asked for (lagging node)
    ├── FatalError                  retrying will not help
    │   ├── RpcAnswerError          an RPC answered something malformed or contradictory
    │   ├── VerificationError       a header, receipt or proof failed verification
    │   │   ├── BrokenLinkError     a header does not link to the one before it (reorg or lie)
    │   │   └── MisbehaviourError   two validly sealed headers at one height (carries evidence)
    │   ├── ProofError              a proof could not be built or does not verify
    │   ├── ContractRevert          a transaction or call reverted (decoded reason)
    │   └── StoreError              the state database is unusable
    │       ├── StoreRefused        not a state database this release can use (exit 2)
    │       └── StoreUnavailable    the PostgreSQL server cannot be reached now (a restart, a failover)
    ├── LeaseLost                   another process took over a lease this one worked under (fleet
    │                               mode): the write was refused; the work stops, the process stands by
    └── DevnetError                 the local devnet could not be started or stopped

Foreign exceptions (httpx, sqlite3, rlp) are translated at the boundary with
``raise ... from exc``; code above the boundary only sees this tree.
"""

from __future__ import annotations


class RelayerError(Exception):
    """Root of every error the relayer raises on purpose."""

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = {k: v for k, v in fields.items() if v is not None}

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.fields.items())
        return f"{self.message} ({where})" if where else self.message


class ConfigError(RelayerError):
    """A configuration value is missing or wrong; ``key`` is its dotted path."""

    def __init__(self, key: str, message: str, *, file: str | None = None) -> None:
        super().__init__(message, key=key, file=file)
        self.key = key
        self.file = file

    def __str__(self) -> str:
        prefix = f"{self.file}: " if self.file else ""
        return f"{prefix}{self.key}: {self.message}"


class UsageError(RelayerError):
    """A command-line argument is wrong."""


class RetryableError(RelayerError):
    """A transient failure; the caller backs off and tries again."""


class RpcError(RetryableError):
    """An RPC endpoint could not be reached, timed out, or answered an error."""


class RpcUnanswered(RpcError):
    """An endpoint answered without the data asked for (a null block below the head: it lags)."""


class FatalError(RelayerError):
    """A failure that retrying the same operation will not fix."""


class RpcAnswerError(FatalError):
    """An RPC answer is malformed or contradicts what was verified."""


class VerificationError(FatalError):
    """A header, receipt list or proof failed verification."""


class BrokenLinkError(VerificationError):
    """A header does not link to the one before it: a reorg, or an RPC that lies.

    ``fields`` name ``block`` (the header that does not link) and, where known,
    ``parent_hash`` and ``accepted_hash``. The core keeps reorg evidence when ``block`` is the
    one right after the light client's accepted head.
    """


class MisbehaviourError(VerificationError):
    """Two validly sealed headers at one height. ``evidence`` is JSON-able (``evidence_json()``)
    and is stored by the core before it halts the chain; ``number`` is the height."""

    def __init__(self, message: str, *, number: int, evidence: dict[str, object], **fields: object) -> None:
        super().__init__(message, **(fields if "block" in fields else fields | {"block": number}))
        self.number = number
        self._evidence_json = evidence

    def evidence_json(self) -> dict[str, object]:
        """The evidence as stored: both headers in the chain's own encoding, hashes and signers."""
        return dict(self._evidence_json)


class ProofError(FatalError):
    """An inclusion proof could not be built or does not verify."""


class ContractRevert(FatalError):
    """A contract call or transaction reverted; ``reason`` is the decoded error."""

    def __init__(self, reason: str, **fields: object) -> None:
        super().__init__(f"reverted: {reason}", **fields)
        self.reason = reason


class StoreError(FatalError):
    """The state database cannot be opened or written."""


class StoreRefused(StoreError):
    """The file is not a state database this release may use: another application's, written by
    a newer release, or not the schema its version says. Like a ConfigError (exit 2, no restart):
    retrying cannot help, the operator must act."""


class StoreUnavailable(StoreError):
    """The PostgreSQL store cannot be reached now (the server restarts or fails over, the network is
    down); nothing of the failed call was committed, or its commit is unknown and the journal settles
    it. The daemon's services wait and start again (``store.unavailable``) instead of stopping."""


class LeaseLost(RelayerError):
    """A fenced write found its lease at a newer token: another process holds the unit of work now.
    Nothing was written; neither retryable by the service (the lease is gone) nor fatal (the process
    goes back to standing by). Fields: ``lease``, ``token``."""


class DevnetError(RelayerError):
    """The local devnet could not be started or stopped."""
