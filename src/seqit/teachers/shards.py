"""Sharded runs: `--shard i/n` gives each of n processes (SLURM array tasks, Ray tasks, 8 GPU nodes)
a disjoint, deterministic part of one run, and `seqit merge` joins their run dirs.

A row belongs to shard sha256(id) mod n, so the assignment depends on nothing but the id: the same
on every machine, stable across resumes, and independent of row order. Each shard is a normal
resumable run in its own dir. `merge_runs` checks the shards came from the same command, config and
inputs (the manifests' hashes), that shards 0..n-1 are each there once, and that every id appears
exactly once; it concatenates the JSONL outputs, sums counts and usage, and unions the ledgers.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from seqit.errors import ConfigError, DataError


def parse_shard(spec: str | None) -> tuple[int, int] | None:
    """'3/8' -> (3, 8) (0-based index); None stays None."""
    if spec is None:
        return None
    try:
        i, n = (int(x) for x in str(spec).split("/"))
    except ValueError:
        raise ConfigError(f"--shard {spec!r}: expected I/N, e.g. 0/8 (0-based index, N shards)") from None
    if n < 1 or not 0 <= i < n:
        raise ConfigError(f"--shard {spec!r}: need 0 <= I < N")
    return i, n


def shard_of(row_id: str, n: int) -> int:
    """The shard (0..n-1) of an id: a stable hash, the same on every machine and Python version."""
    return int.from_bytes(hashlib.sha256(str(row_id).encode("utf-8")).digest()[:8], "big") % n


def in_shard(row_id: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or shard_of(row_id, shard[1]) == shard[0]


NOT_UNIQUE = ("rejects",)  # files where one id may legitimately appear several times


def _manifest(d: Path) -> dict[str, Any]:
    try:
        return json.loads((d / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{d}: not a run dir (manifest.json unreadable: {e})") from None


def _fingerprint(m: dict[str, Any]) -> dict[str, Any]:
    """What must be equal across shards: the command, the config (bar where each shard writes) and
    the inputs' hashes."""
    config = {k: v for k, v in (m.get("config") or {}).items() if k != "out_dir"}
    return {"command": m.get("command"), "config": config,
            "inputs": {k: (v or {}).get("sha256") for k, v in (m.get("inputs") or {}).items()}}


def _outputs(d: Path, m: dict[str, Any]) -> dict[str, Path]:
    """The shard's JSONL outputs by file name: the run dir's *.jsonl plus any listed in the manifest."""
    files = {p.name: p for p in sorted(d.glob("*.jsonl"))}
    for p in (m.get("outputs") or {}).values():
        if isinstance(p, str) and p.endswith(".jsonl") and Path(p).is_file():
            files.setdefault(Path(p).name, Path(p))
    return files


def merge_runs(shard_dirs: list[Path], out: Path) -> dict[str, Any]:
    """Join shard run dirs into `out`; raises DataError naming the first problem found."""
    from seqit.jsonl import write_json_atomic
    from seqit.teachers.usage import merge_usage

    if not shard_dirs:
        raise DataError("seqit merge: no shard dirs given")
    manifests = [_manifest(Path(d)) for d in shard_dirs]
    first = _fingerprint(manifests[0])
    seen: dict[int, Path] = {}
    count = None
    for d, m in zip(shard_dirs, manifests, strict=True):
        sh = m.get("shard")
        if not sh:
            raise DataError(f"{d}: not a sharded run (no 'shard' in its manifest; run it with --shard I/N)")
        if count is not None and sh["count"] != count:
            raise DataError(f"{d}: shard {sh['index']}/{sh['count']} does not match {count} shards of the others")
        count = sh["count"]
        if sh["index"] in seen:
            raise DataError(f"{d}: shard {sh['index']} given twice (also {seen[sh['index']]})")
        seen[sh["index"]] = Path(d)
        fp = _fingerprint(m)
        for part in ("command", "inputs", "config"):
            if fp[part] != first[part]:
                raise DataError(f"{d}: {part} differs from {shard_dirs[0]} (shards of one run need the same "
                                f"command, config and inputs)")
        if m.get("status") != "finished":
            raise DataError(f"{d}: shard {sh['index']} did not finish (status {m.get('status')!r}); rerun it first")
    missing = sorted(set(range(count)) - set(seen))
    if missing:
        raise DataError(f"shards {missing} of {count} missing (give every shard dir)")

    out.mkdir(parents=True, exist_ok=True)
    try:
        lines, owner = _concat_outputs(shard_dirs, manifests, out)
        if first["command"] == "complete":
            _check_complete_coverage(manifests[0], owner)
    except BaseException:
        for tmp in out.glob("*.jsonl.tmp"):
            tmp.unlink()
        raise
    for name in lines:
        (out / f"{name}.tmp").replace(out / name)
    _union_ledgers([Path(d) / "ledger.sqlite" for d in shard_dirs], out / "ledger.sqlite")

    counts: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    for m in manifests:
        for k, v in (m.get("counts") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                counts[k] = counts.get(k, 0) + v
        usage = merge_usage(usage, m.get("usage_total") or m.get("usage"))
    merged = {"command": "merge", "merged_command": first["command"], "config": first["config"],
              "inputs": manifests[0].get("inputs"), "shards": [{"index": i, "dir": str(seen[i])} for i in sorted(seen)],
              "last_attempt_counts": counts, "usage_total": usage, "lines": lines, "status": "finished"}
    write_json_atomic(out / "manifest.json", merged)
    return merged


def _concat_outputs(shard_dirs, manifests, out: Path) -> tuple[dict[str, int], dict[tuple[str, str], Path]]:
    owner: dict[tuple[str, str], Path] = {}
    lines: dict[str, int] = {}
    for d, m in zip(shard_dirs, manifests, strict=True):
        for name, path in _outputs(Path(d), m).items():
            with open(path, "rb") as src, open(out / f"{name}.tmp", "ab") as dst:
                for lineno, raw in enumerate(src, 1):
                    if not raw.strip():
                        continue
                    rid = _row_id(raw, path, lineno)
                    if name.startswith(NOT_UNIQUE):
                        if rid is not None:
                            owner.setdefault((name, rid), path)
                    else:
                        if rid is not None:
                            if (name, rid) in owner:
                                raise DataError(f"{path}:{lineno}: id {rid!r} also in {owner[name, rid]}")
                            owner[name, rid] = path
                    dst.write(raw if raw.endswith(b"\n") else raw + b"\n")
                    lines[name] = lines.get(name, 0) + 1
    return lines, owner


def _check_complete_coverage(m: dict[str, Any], owner: dict[tuple[str, str], Path]) -> None:
    """`seqit complete` shards: every input id ends once, as an answer or a recorded failure."""
    counts_done = {rid for (_name, rid) in owner}
    src = Path(((m.get("inputs") or {}).get("requests") or {}).get("path") or "")
    if not src.is_file():
        return
    want: set[str] = set()
    with open(src, "rb") as f:
        for raw in f:
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and isinstance(row.get("id"), (str, int)) and not isinstance(row.get("id"), bool):
                want.add(str(row["id"]))
    limit = (m.get("config") or {}).get("limit")
    missing = sorted(want - counts_done)
    if missing and limit is None:
        raise DataError(f"{len(missing)} request ids of {src} are in no shard's output or rejects "
                        f"(e.g. {missing[:3]}): a shard is unfinished; rerun it, then merge again")


def _row_id(raw: bytes, path: Path, lineno: int) -> str | None:
    try:
        row = json.loads(raw)
    except json.JSONDecodeError:
        raise DataError(f"{path}:{lineno}: not valid JSON") from None
    rid = row.get("id") if isinstance(row, dict) else None
    return str(rid) if rid is not None else None


def _union_ledgers(paths: list[Path], target: Path) -> None:
    """Copy every shard's finished completions into one ledger (so later runs reuse them all)."""
    from seqit.teachers.ledger import Ledger

    sources = [p for p in paths if p.is_file()]
    if not sources:
        return
    Ledger(target).close()  # creates the schema
    db = sqlite3.connect(str(target))
    try:
        for i, p in enumerate(sources):
            db.execute(f"ATTACH DATABASE ? AS s{i}", (str(p),))
            db.execute(f"INSERT OR IGNORE INTO completions SELECT * FROM s{i}.completions")
            db.commit()
            db.execute(f"DETACH DATABASE s{i}")
    finally:
        db.close()
