"""The durable request ledger: finished completions in SQLite (WAL), keyed by content hash.

Every successful completion is committed the moment it arrives, so `kill -9` at any moment loses
at most the requests that were in flight, and a rerun re-sends none of the finished ones.
Failures are NOT stored: a rerun retries them (a failure is a fact about one run, not about the
request). Secrets (API keys, base URLs) are never part of a key or a row.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from seqit.teachers.types import Completion, Usage

SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    texts TEXT NOT NULL,
    finish_reasons TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    latency_s REAL NOT NULL,
    attempts INTEGER NOT NULL,
    created_at REAL NOT NULL
)
"""


BATCH_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    local_id TEXT PRIMARY KEY,
    batch_id TEXT,
    input_file_id TEXT,
    status TEXT NOT NULL,
    requests TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
)
"""
# status: "uploading" (the input file is being uploaded), "uploaded" (file id known; creating the
# batch), "submitted" (batch id known), "folded" (results are in `completions`; final)


class Ledger:
    """SQLite ledger of finished completions. One connection, used from the event-loop thread."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: a committed row survives a process crash (kill -9); only power loss can
        # drop the last few commits.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.execute(SCHEMA)
        self._db.execute(BATCH_SCHEMA)

    def get(self, key: str) -> Completion | None:
        row = self._db.execute(
            "SELECT request_id, model, texts, finish_reasons, prompt_tokens, completion_tokens, latency_s, attempts "
            "FROM completions WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        rid, model, texts, reasons, pt, ct, lat, attempts = row
        return Completion(
            request_id=rid,
            texts=json.loads(texts),
            finish_reasons=json.loads(reasons),
            usage=Usage(pt, ct),
            model=model,
            latency_s=lat,
            cached=True,
            attempts=attempts,
        )

    def put(self, key: str, backend: str, comp: Completion) -> None:
        """Store a successful completion (autocommit: durable when this returns)."""
        if not comp.ok:
            raise ValueError("the ledger stores successful completions only")
        self._db.execute(
            "INSERT OR REPLACE INTO completions VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                key,
                comp.request_id,
                backend,
                comp.model,
                json.dumps(comp.texts, ensure_ascii=False),
                json.dumps(comp.finish_reasons),
                comp.usage.prompt_tokens,
                comp.usage.completion_tokens,
                comp.latency_s,
                comp.attempts,
                time.time(),
            ),
        )

    # -- provider batches (teacher.mode: batch): every step is recorded before the next one, so a
    # crash at any moment finds its batch again instead of submitting it twice

    def batch_begin(self, local_id: str, requests: list[list[str]]) -> None:
        """Record a batch about to be uploaded: `requests` = [[cache key, model], ...]."""
        now = time.time()
        self._db.execute("INSERT INTO batches VALUES (?,?,?,?,?,?,?)",
                         (local_id, None, None, "uploading", json.dumps(requests), now, now))

    def batch_update(self, local_id: str, **fields: str) -> None:
        cols = ", ".join(f"{k} = ?" for k in fields)
        self._db.execute(f"UPDATE batches SET {cols}, updated_at = ? WHERE local_id = ?",
                         (*fields.values(), time.time(), local_id))

    def open_batches(self) -> list[dict]:
        """Batches not yet folded into the ledger, oldest first."""
        rows = self._db.execute(
            "SELECT local_id, batch_id, input_file_id, status, requests FROM batches WHERE status != 'folded' "
            "ORDER BY created_at"
        ).fetchall()
        return [{"local_id": r[0], "batch_id": r[1], "input_file_id": r[2], "status": r[3],
                 "requests": json.loads(r[4])} for r in rows]

    def batches(self) -> list[dict]:
        rows = self._db.execute("SELECT local_id, batch_id, status FROM batches ORDER BY created_at").fetchall()
        return [{"local_id": r[0], "batch_id": r[1], "status": r[2]} for r in rows]

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]

    def close(self) -> None:
        self._db.close()


def cached_keys(path: str | Path, keys: list[str]) -> set[str]:
    """Which of `keys` an existing ledger already holds (read-only: creates and writes nothing)."""
    path = Path(path)
    if not path.exists() or not keys:
        return set()
    # a cleanly closed ledger has no -wal file: open it immutable so not even a -shm file is created;
    # after a crash the -wal holds recent rows, so read it (mode=ro) like any reader
    wal = path.with_name(path.name + "-wal")
    mode = "mode=ro" if wal.exists() else "immutable=1"
    db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?{mode}", uri=True)
    try:
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = db.execute(f"SELECT key FROM completions WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            found.update(r[0] for r in rows)
        return found
    finally:
        db.close()
