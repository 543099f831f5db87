"""What `dlrun train -m` prints when its sweep ends: how many jobs completed, which failed and why,
and the best run; its exit code is 1 when any job did not complete."""

from __future__ import annotations

from pathlib import Path

from dlrun.report.collect import SEED, RunRecord, best_value_of, collect, parse_overrides, varied_keys

SWEEP_FAILED_EXIT_CODE = 1


def summarize_sweep(sweep_dir: Path) -> int:
    """Print the summary of the jobs under `sweep_dir` and return the sweep's exit code."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(soft_wrap=True, stderr=False)
    if not sweep_dir.is_dir() or not any(sweep_dir.rglob("results.json")):
        return 0  # nothing ran (e.g. --cfg); Hydra has said why
    records = collect([sweep_dir]) + silent_jobs(sweep_dir)
    counts: dict[str, int] = {}
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    console.print(f"[bold]dlrun sweep:[/bold] {len(records)} jobs: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    shown = [*varied_keys(records), SEED]
    unfinished = [record for record in records if record.status != "completed"]
    for record in unfinished:
        said = f"{_overrides(record, shown)} ({record.run_dir}): {record.error or 'no error recorded'}"
        console.print(f"  [red]{record.status}[/red] {escape(said)}")
    best = best_run(records)
    if best is not None:
        console.print(
            escape(f"  best: {best.monitor} {best.best_value:.4f} with {_overrides(best, shown)} in {best.run_dir}")
        )
    console.print(escape(f"  all of them: dlrun report {sweep_dir}"))
    return SWEEP_FAILED_EXIT_CODE if unfinished else 0


def silent_jobs(sweep_dir: Path) -> list[RunRecord]:
    """Jobs that started (Hydra wrote their .hydra) but whose process died before results.json."""
    import yaml

    silent = []
    for overrides_file in sorted(sweep_dir.glob("*/.hydra/overrides.yaml")):
        job_dir = overrides_file.parent.parent
        if not (job_dir / "results.json").exists():
            overrides = parse_overrides(yaml.safe_load(overrides_file.read_text()) or [])
            silent.append(
                RunRecord(
                    job_dir,
                    "died",
                    overrides,
                    error="its process ended before it wrote results.json (killed, or out of memory?)",
                )
            )
    return silent


def best_run(records: list[RunRecord]) -> RunRecord | None:
    """The completed run with the best monitored value, in its run's own direction."""
    scored = [r for r in records if r.status == "completed" and r.best_value is not None]
    if not scored:
        return None
    sign = -1.0 if scored[0].monitor_mode == "max" else 1.0
    return min(scored, key=lambda r: sign * best_value_of(r))


def _overrides(record: RunRecord, keys: list[str]) -> str:
    """The overrides that tell this job from the others (all of them when none differ)."""
    named = {k: v for k, v in record.overrides.items() if k in keys} or record.overrides
    return " ".join(f"{k}={v}" for k, v in named.items()) or "(no overrides)"
