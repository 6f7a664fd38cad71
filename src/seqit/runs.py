"""Run directories: resolved config.yaml, manifest.json (version, git sha, argv, input hashes,
counts, timings), and the rule that resuming = running the same command again.

    run = start_run(out_dir, cfg, command="convert", inputs={"data": path})
    ...write outputs with seqit.jsonl.JsonlWriter, skipping read_ids(...) already present...
    run.finish(counts={"rows_in": 10, "records_out": 9, "rejects": 1})
"""

from __future__ import annotations

import hashlib
import logging
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from seqit import __version__
from seqit.config import dump_yaml, to_dict
from seqit.errors import ConfigError
from seqit.jsonl import write_json_atomic
from seqit.teachers.errors import redact_tree, redact_url_credentials

log = logging.getLogger(__name__)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, or of a directory's files (sorted relative paths + contents)."""
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(path)).encode() + b"\0")
            h.update(bytes.fromhex(sha256_file(p)))
        return h.hexdigest()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
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


@dataclass
class Run:
    """An open run directory. Mutate `manifest` freely; `finish()` (or `save()`) writes it atomically."""

    path: Path
    manifest: dict[str, Any]
    _t0: float = field(default_factory=time.monotonic)

    def file(self, name: str) -> Path:
        return self.path / name

    def save(self) -> None:
        write_json_atomic(self.path / "manifest.json", redact_tree(self.manifest))  # no URL credentials on disk

    def add_counts(self, **counts: int) -> None:
        self.manifest.setdefault("counts", {}).update(counts)

    def finish(self, counts: dict[str, Any] | None = None, **extra: Any) -> Path:
        if counts:
            self.add_counts(**counts)
        self.manifest.update(extra)
        timings = self.manifest.setdefault("timings", {})
        timings["finished_at"] = now_iso()
        timings["seconds"] = round(timings.get("seconds_before_resume", 0.0) + time.monotonic() - self._t0, 3)
        self.manifest["status"] = "finished"
        self.save()
        return self.path


def start_run(
    out_dir: str | Path,
    config: Any,
    command: str,
    inputs: dict[str, str | Path] | None = None,
    argv: list[str] | None = None,
) -> Run:
    """Create (or reopen, for resume) a run directory and write config.yaml + a 'running' manifest."""
    path = check_run_dir(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    config_text = redact_url_credentials(dump_yaml(config)) if config is not None else ""
    cfg_path = path / "config.yaml"
    previous = _read_previous_manifest(path)
    if previous and cfg_path.exists() and cfg_path.read_text(encoding="utf-8") != config_text:
        log.warning("%s was started with a different config; the new one is recorded (resume continues)", path)
    cfg_path.write_text(config_text, encoding="utf-8")
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
    }
    if previous:
        manifest["attempts"] = int(previous.get("attempts", 1)) + 1
        manifest["timings"]["first_started_at"] = previous.get("timings", {}).get(
            "first_started_at", previous.get("timings", {}).get("started_at")
        )
        manifest["timings"]["seconds_before_resume"] = previous.get("timings", {}).get("seconds", 0.0) or 0.0
    run = Run(path=path, manifest=manifest)
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
