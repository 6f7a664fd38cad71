"""The run lifecycle every command uses: start -> lock -> resume state -> append outputs -> finish.

    run = start_run(out_dir, cfg, command="score", inputs={"data": path})   # locks out_dir, reopens on resume
    done = read_ids(run.file("scored.jsonl"))                                # the resume state
    ...append outputs with seqit.jsonl.JsonlWriter; failures as reject_row(...) in rejects.jsonl...
    run.record_usage("judge", teacher.usage_summary())                       # totals over every attempt
    run.finish(counts={"rows_in": 10, "scored": 9, "rejects": 1})          # writes the manifest, unlocks

A run dir holds config.yaml (resolved), manifest.json (version, git sha, argv, input hashes, counts,
timings, usage, status) and the stage's append-only outputs. The one resume rule: an item is done when
its id has a final row in the run's outputs; everything else is (re)done by running the same command
again, and nothing finished is sent twice (teacher calls are cached in the run's ledger). Only one
process may hold a run dir: a second one is refused at once with the holder's pid and host; a lock left
by a killed process is released by the kernel and taken over.

Rejects, in every stage, have one shape: {id, file, line, stage, field, reason, row} (field: the bad
field where one is known; stage-specific details under `detail`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from seqit import __version__
from seqit.config import dump_yaml, to_dict
from seqit.errors import ConfigError, SeqitError
from seqit.jsonl import write_json_atomic
from seqit.teachers.errors import redact_tree, redact_url_credentials

log = logging.getLogger(__name__)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, or of a directory's files (sorted relative paths + contents).

    A named pipe, socket or device (reading one would block forever) or an unreadable file is a
    one-line DataError; inside a directory only regular files are hashed.
    """
    import stat

    from seqit.errors import DataError

    path = Path(path)
    h = hashlib.sha256()
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            for p in sorted(q for q in path.rglob("*") if q.is_file()):
                h.update(str(p.relative_to(path)).encode() + b"\0")
                h.update(bytes.fromhex(sha256_file(p)))
            return h.hexdigest()
        if not stat.S_ISREG(mode):
            kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "not a regular file"
            raise DataError(f"{path}: is {kind}; seqit reads regular files and directories only")
        with open(path, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    except OSError as e:
        raise DataError(f"{path}: cannot read ({e.strerror or e})") from None
    return h.hexdigest()


def git_sha(where: Path | None = None) -> str | None:
    """The git commit of the seqit source tree (or `where`), if it is a git checkout."""
    where = where or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


USAGE_ROLES = ("teacher", "judge", "model")
USAGE_SAVE_EVERY_S = 5.0  # how stale a killed run's recorded cost may be


def sum_usage(a: dict[str, Any] | None, b: dict[str, Any] | None) -> dict[str, Any]:
    """Sum two usage summaries key by key (nested per-model tables too); flags are or-ed, other values dropped.

    >>> sum_usage({"requests": 2, "cost_usd": 0.5, "models": {"m": {"requests": 2}}}, {"requests": 1, "models": {"m": {"requests": 1}}})
    {'cost_usd': 0.5, 'models': {'m': {'requests': 3}}, 'requests': 3}
    """
    a, b = a or {}, b or {}
    out: dict[str, Any] = {}
    for key in set(a) | set(b):
        va, vb = a.get(key), b.get(key)
        if isinstance(va, dict) or isinstance(vb, dict):
            out[key] = sum_usage(va if isinstance(va, dict) else {}, vb if isinstance(vb, dict) else {})
        elif isinstance(va, bool) or isinstance(vb, bool):  # a flag (e.g. fake): true if any attempt had it
            out[key] = bool(va or vb)
        elif isinstance(va, (int, float)) or isinstance(vb, (int, float)):
            total = (va or 0) + (vb or 0)
            out[key] = round(total, 6) if isinstance(total, float) else total
    return dict(sorted(out.items()))


def reject_row(id: str | None, stage: str, reason: str, *, file: str | None = None, line: int | None = None,
               row: Any = None, field: str | None = None, **detail: Any) -> dict[str, Any]:
    """The one reject shape: {id, file, line, stage, field, reason, row} (+ stage details under `detail`).

    >>> reject_row("a1", "judge", "no valid score", raw="??")
    {'id': 'a1', 'file': None, 'line': None, 'stage': 'judge', 'field': None, 'reason': 'no valid score', 'row': None, 'detail': {'raw': '??'}}
    """
    out: dict[str, Any] = {"id": id, "file": file, "line": line, "stage": stage, "field": field, "reason": reason,
                           "row": row}
    if detail:
        out["detail"] = detail
    return out


class RunLock:
    """An exclusive, kernel-released lock on a path (flock on `<path>.lock` or `<dir>/.lock`).

    The lock file holds the holder's pid and host, for the refusal message. flock is released by the
    kernel when the process dies (kill -9 included), so a stale lock is simply taken over. A clean release
    removes the file (a finished run dir keeps no `.lock`); it is unlinked while still locked, and a taker
    checks that the file it locked is still the one at the path, so two processes never hold two files.
    """

    def __init__(self, target: Path, what: str):
        self.path = target / ".lock" if target.is_dir() else target.with_name(target.name + ".lock")
        self.what = what
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_holder(fd)
                os.close(fd)
                raise SeqitError(f"{self.what} is in use by another seqit process ({holder}); wait for it to "
                                 "finish, or stop it and rerun the same command to resume") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder released (and removed) it between our open and our flock: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            if _same_file(self._fd, self.path):
                self.path.unlink(missing_ok=True)  # while still locked: see the class docstring
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except FileNotFoundError:
        return False


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        return os.read(fd, 200).decode("utf-8", "replace").strip() or "pid unknown"
    except OSError:
        return "pid unknown"


@dataclass
class Run:
    """An open, locked run directory. Mutate `manifest` freely; `save()` writes it atomically; `finish()`
    (or `close(status)`) writes it a last time and releases the lock."""

    path: Path
    manifest: dict[str, Any]
    _t0: float = field(default_factory=time.monotonic)
    _locks: list[RunLock] = field(default_factory=list)
    _usage_before: dict[str, dict[str, Any]] = field(default_factory=dict)
    _usage_saved_at: float = field(default_factory=time.monotonic)

    def file(self, name: str) -> Path:
        return self.path / name

    def save(self) -> None:
        write_json_atomic(self.path / "manifest.json", redact_tree(self.manifest))  # no URL credentials on disk

    def add_counts(self, **counts: int) -> None:
        self.manifest.setdefault("counts", {}).update(counts)

    def lock(self, target: Path, what: str) -> None:
        """Also hold `target` (e.g. an output file outside the run dir) for as long as the run is open."""
        self._locks.append(RunLock(Path(target), what).acquire())

    def record_usage(self, role: str, usage: dict[str, Any]) -> None:
        """This attempt's usage for one teacher role (teacher, judge, model); kept per role and in total over
        every attempt of the run under manifest["usage"], so a resumed (or killed) run never loses earlier cost."""
        u = self.manifest.setdefault("usage", _empty_usage())
        u["this_attempt"][role] = usage
        u["roles"][role] = sum_usage(self._usage_before.get(role), usage)
        u["total"] = _total(u["roles"])

    def save_usage_every(self, role: str, summary: Callable[[], dict[str, Any]], every_s: float = USAGE_SAVE_EVERY_S) -> None:
        """Record and save `summary()` when `every_s` passed since the last such save: call it after each result,
        so a killed run's manifest keeps a near-current cost without a write per request."""
        now = time.monotonic()
        if now - self._usage_saved_at >= every_s:
            self.record_usage(role, summary())
            self.save()
            self._usage_saved_at = now

    def finish(self, counts: dict[str, Any] | None = None, status: str = "finished", **extra: Any) -> Path:
        if counts:
            self.add_counts(**counts)
        self.manifest.update(extra)
        self.close(status)
        return self.path

    def close(self, status: str) -> None:
        """Write the manifest with its final `status` (finished, stopped, failed, interrupted) and unlock."""
        timings = self.manifest.setdefault("timings", {})
        timings["finished_at"] = now_iso()
        timings["seconds"] = round(timings.get("seconds_before_resume", 0.0) + time.monotonic() - self._t0, 3)
        self.manifest["status"] = status
        self.save()
        self.release()

    def release(self) -> None:
        for lk in self._locks:
            lk.release()
        self._locks.clear()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._locks and self.manifest.get("status") == "running":  # left without finish(): say how
            self.close("interrupted" if exc_type is KeyboardInterrupt else "failed" if exc_type else "stopped")
        self.release()


def _empty_usage() -> dict[str, Any]:
    return {"total": {}, "roles": {}, "this_attempt": {}}


def _total(roles: dict[str, dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for u in roles.values():
        total = sum_usage(total, u)
    return total


def start_run(
    out_dir: str | Path,
    config: Any,
    command: str,
    inputs: dict[str, str | Path] | None = None,
    argv: list[str] | None = None,
) -> Run:
    """Create (or reopen, for resume) a run directory: lock it, write config.yaml and a 'running' manifest
    that already carries the usage of every earlier attempt."""
    path = check_run_dir(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    lock = RunLock(path, f"run directory {path}").acquire()
    try:
        return _open(path, lock, config, command, inputs, argv)
    except BaseException:
        lock.release()
        raise


def _open(path: Path, lock: RunLock, config: Any, command: str, inputs: dict[str, str | Path] | None,
          argv: list[str] | None) -> Run:
    config_text = redact_url_credentials(dump_yaml(config)) if config is not None else ""
    cfg_path = path / "config.yaml"
    previous = _read_previous_manifest(path)
    if previous and cfg_path.exists() and cfg_path.read_text(encoding="utf-8") != config_text:
        log.warning("%s was started with a different config; the new one is recorded (resume continues)", path)
    cfg_path.write_text(config_text, encoding="utf-8")
    before = (previous or {}).get("usage") or {}
    if not isinstance(before, dict) or "roles" not in before:
        before = _empty_usage()
    manifest: dict[str, Any] = {
        "seqit_version": __version__,
        "command": command,
        "argv": list(argv if argv is not None else sys.argv),
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "config": to_dict(config) if config is not None else None,
        "inputs": {name: describe_input(p) for name, p in (inputs or {}).items()},
        "counts": {},
        "timings": {"started_at": now_iso()},
        "status": "running",
        "attempts": 1,
        "usage": {"total": before.get("total", {}), "roles": dict(before.get("roles", {})), "this_attempt": {}},
    }
    if previous:
        manifest["attempts"] = int(previous.get("attempts", 1)) + 1
        manifest["timings"]["first_started_at"] = previous.get("timings", {}).get(
            "first_started_at", previous.get("timings", {}).get("started_at")
        )
        manifest["timings"]["seconds_before_resume"] = previous.get("timings", {}).get("seconds", 0.0) or 0.0
    run = Run(path=path, manifest=manifest, _locks=[lock], _usage_before=dict(manifest["usage"]["roles"]))
    run.save()
    return run


def check_run_dir(out_dir: str | Path) -> Path:
    """The run dir as a Path; ConfigError when a file (not a directory) is already there."""
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"--out/out_dir: {path} is a file, not a run directory; choose a directory")
    return path


def describe_input(p: str | Path) -> dict[str, Any]:
    """Path, sha256 and size of a local input; hub ids and missing paths are recorded as-is."""
    path = Path(p)
    if not path.exists():
        return {"path": str(p), "sha256": None}
    size = sum(q.stat().st_size for q in path.rglob("*") if q.is_file()) if path.is_dir() else path.stat().st_size
    return {"path": str(path.resolve()), "sha256": sha256_file(path), "bytes": size}


def _read_previous_manifest(path: Path) -> dict[str, Any] | None:
    import json

    mf = path / "manifest.json"
    if not mf.exists():
        return None
    try:
        return json.loads(mf.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


DEFAULT_MAX_REJECT_FRAC = 0.5  # the data commands' --max-reject-frac default


def outcome_problem(rows_in: int, outputs: int, rejects: int, max_reject_frac: float = DEFAULT_MAX_REJECT_FRAC) -> str | None:
    """Why a finished run must not pass as a success (its command exits 1), or None when it may.

    A run that produced nothing from non-empty input failed, whatever its reject count says; otherwise it
    fails when more than `max_reject_frac` of its input rows were rejected (1.0 turns that check off).

    >>> outcome_problem(20, 0, 20)
    'no output records from 20 input rows (20 rejected; see rejects.jsonl)'
    >>> outcome_problem(10, 4, 6, 0.5)
    '6 of 10 input rows rejected (60%), more than --max-reject-frac 0.5 (see rejects.jsonl)'
    >>> outcome_problem(10, 9, 1) is None and outcome_problem(0, 0, 0) is None
    True
    """
    if not 0 <= max_reject_frac <= 1:
        raise ConfigError(f"--max-reject-frac: must be in [0, 1], got {max_reject_frac}")
    if rows_in <= 0:
        return None
    if outputs <= 0:
        return f"no output records from {rows_in} input rows ({rejects} rejected; see rejects.jsonl)"
    if rejects / rows_in > max_reject_frac:
        return (f"{rejects} of {rows_in} input rows rejected ({100 * rejects / rows_in:.0f}%), "
                f"more than --max-reject-frac {max_reject_frac:g} (see rejects.jsonl)")
    return None
