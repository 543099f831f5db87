"""The `dlrun` command. Imports nothing heavy at module top, so `dlrun --help` stays instant."""

from __future__ import annotations

from pathlib import Path

import typer

from dlrun import threads  # noqa: F401  # its first import marks when dlrun started: trainer.threads=auto measures the machine's load from then
from dlrun.errors import user_error
from dlrun.process_exit import skip_final_collection

skip_final_collection()

app = typer.Typer(
    name="dlrun",
    help="Config-driven deep-learning experiments: Hydra configs, Lightning training, TensorBoard logs.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def print_version(wanted: bool) -> None:
    if wanted:
        from dlrun import __version__  # dlrun/__init__.py imports nothing, so --version stays instant

        typer.echo(f"dlrun {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", "-V", callback=print_version, is_eager=True, help="Print dlrun's version and exit."
    ),
) -> None:
    if ctx.invoked_subcommand is None:  # bare `dlrun`: show the verbs, and that is not an error
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}

# A run dir is untrusted input (README: Opening run dirs and checkpoints safely).
TRUST_HELP = (
    "Build whatever the run dir's config names, as in a run of your own. Needed only for a run dir dlrun did not sign "
    "for you (someone else's, or edited) that names classes beyond dlrun's own; give it only if you trust its maker. "
    "DLRUN_TRUST_CONFIG=1 says the same for scripts."
)


def trust_option() -> bool:
    return typer.Option(False, "--trust-config", help=TRUST_HELP)


TRAIN_HELP = """Train a model; every argument goes to Hydra.

\b
Examples:
  dlrun train                                 MLP on digits (the default)
  dlrun train model=cnn optimizer=sgd optimizer.momentum=0.9
  dlrun train -m model=mlp,cnn seed=0,1,2     a sweep: one run dir per job
  dlrun train debug=fast                      a few batches, one epoch
  dlrun train --config-dir my_conf model=mine your own config options

\b
Override grammar: key=value to change, +key=value to add, ~key to delete,
group=option to pick a config (see `dlrun ls`), a,b,c to sweep with -m.
Hydra's own flags work too: --cfg job, --config-dir DIR, --hydra-help.
"""


@app.command(context_settings=PASS_THROUGH, help=TRAIN_HELP)
def train(ctx: typer.Context) -> None:
    from dlrun.commands.train import train_command

    raise typer.Exit(train_command(list(ctx.args)))


@app.command(context_settings=PASS_THROUGH)
def show(ctx: typer.Context) -> None:
    """Print the composed, resolved config for these overrides and validate it."""
    from dlrun.commands.show import show_command

    raise typer.Exit(show_command(list(ctx.args)))


@app.command(name="ls")
def list_options(
    group: str = typer.Argument(None, help="A config group, e.g. model; all groups when omitted."),
    config_dir: str = typer.Option(None, "--config-dir", "-cd", help="Your own config dir, as in train."),
) -> None:
    """List the config groups and their options, each with a one-line description."""
    from dlrun.commands.ls import list_command

    raise typer.Exit(list_command(group, config_dir))


@app.command()
def translate(
    run_dir: str = typer.Argument(..., help="A Seq2Seq run dir made by `dlrun train`."),
    texts: list[str] = typer.Argument(None, help="Sources to decode; none: read --input or stdin."),
    input_file: str = typer.Option(None, "--input", "-i", help="A file with one source per line (- for stdin)."),
    beam: int = typer.Option(None, "--beam", help="Beam size (1 = greedy); default: the run's model.beam_size."),
    attention: bool = typer.Option(
        False, "--attention", help="After each output, the source token each output token attends to most (greedy)."
    ),
    trust_config: bool = trust_option(),
) -> None:
    """Decode sources with a trained Seq2Seq run's best weights; prints one output per line."""
    from dlrun.commands.translate import translate_run
    from dlrun.errors import DlrunError

    try:
        for output in translate_run(run_dir, list(texts or []), input_file, beam, attention, trust_config):
            typer.echo(output)
    except DlrunError as e:
        raise typer.Exit(user_error(str(e))) from None


@app.command()
def report(
    dirs: list[str] = typer.Argument(..., help="Sweep dirs or run dirs made by `dlrun train`; searched at any depth."),
    plots: bool = typer.Option(False, "--plots", help="Also draw PNGs into report_plots/ of the first dir."),
    runs: bool = typer.Option(False, "--runs", help="Also print each run on its own row (report.md has them always)."),
) -> None:
    """Compare runs, best first, per data, task and monitor: seed repeats averaged, failures listed."""
    from dlrun.commands.report import report as print_report
    from dlrun.errors import DlrunError

    try:
        print_report([Path(d) for d in dirs], plots=plots, each_run=runs)
    except DlrunError as e:
        raise typer.Exit(user_error(str(e))) from None


@app.command()
def doctor(
    family: list[str] = typer.Option(
        None, "--family", "-f", help="Fit only this model family (repeatable); default: all."
    ),
) -> None:
    """Check the installation: versions, devices, optional data, and a few training steps of every model family."""
    from dlrun.commands.doctor import doctor as check
    from dlrun.errors import DlrunError

    try:
        code = check(list(family or []))
    except DlrunError as e:
        raise typer.Exit(user_error(str(e))) from None
    raise typer.Exit(code)


@app.command()
def completion(
    shell: str = typer.Argument(..., help="bash, zsh or fish."),
) -> None:
    """Print the shell completion script; e.g. add  eval "$(dlrun completion bash)"  to ~/.bashrc."""
    from dlrun.commands.completion import completion_script

    verbs = list(typer.main.get_command(app).commands)  # type: ignore[attr-defined]  # the app is a group of commands
    try:
        typer.echo(completion_script(shell, verbs), nl=False)
    except ValueError as e:
        raise typer.Exit(user_error(str(e))) from None


@app.command()
def predict(
    run_dir: str = typer.Argument(..., help="A run dir made by `dlrun train`."),
    input_path: str = typer.Argument(
        ...,
        metavar="INPUT",
        help="Tables: CSV/Parquet with the run's feature columns. Images, audio (WAV): a file, a folder or a glob. Text: one "
        "text per line, or a CSV with --column. Series: a CSV of the run's columns. Seq2Seq: one source per line. "
        "- reads stdin.",
    ),
    output: str = typer.Option(
        None, "--output", "-o", help="The file to write (.csv or .jsonl); default or -: stdout."
    ),
    output_format: str = typer.Option(None, "--format", help="csv or jsonl; default: by --output's suffix, else csv."),
    column: str = typer.Option(None, "--column", help="Text runs: the column of texts when INPUT is a table."),
    force: bool = typer.Option(False, "--force", help="Overwrite --output if it exists."),
    trust_config: bool = trust_option(),
) -> None:
    """Predict with a trained run's best weights on new data, preprocessed as the run's training data was."""
    from dlrun.commands.predict import predict as run_predict
    from dlrun.errors import DlrunError

    try:
        run_predict(Path(run_dir), input_path, output, output_format, column, force, trust_config)
    except DlrunError as e:
        raise typer.Exit(user_error(str(e))) from None


@app.command(context_settings=PASS_THROUGH)
def resume(
    ctx: typer.Context,
    run_dir: str = typer.Argument(..., help="The run dir to continue."),
    trust_config: bool = trust_option(),
) -> None:
    """Continue an interrupted run from its last checkpoint, in its dir, with its config; overrides
    may only lengthen it (trainer.max_epochs=N)."""
    from dlrun.commands.resume import resume as continue_run
    from dlrun.errors import DlrunError

    try:
        code = continue_run(Path(run_dir), list(ctx.args), trust_config)
    except DlrunError as e:
        raise typer.Exit(user_error(str(e))) from None
    raise typer.Exit(code)


@app.command(name="eval")
def evaluate(
    run_dir: str = typer.Argument(..., help="A run dir made by `dlrun train`."),
    overrides: list[str] = typer.Argument(
        None, help="Hydra overrides on top of the run's own, e.g. data=csv data.path=new.csv, data.batch_size=8."
    ),
    weights: str = typer.Option(
        "best",
        "--weights",
        help="best (checkpoints/weights.safetensors, else best.ckpt), last (last.ckpt), or a weights file.",
    ),
    config_dir: str = typer.Option(
        None, "--config-dir", "-cd", help="Your own config dir; default: the one the run was trained with, if any."
    ),
    trust_config: bool = trust_option(),
) -> None:
    """Test a run's weights again; prints the metrics and writes a new eval-<time>.json in the run dir.

    The run's own config and overrides are composed again with OVERRIDES on top, so the same command
    tests on the run's test split or, with e.g. data.path=new.csv, on other data."""
    from dlrun.commands.eval import evaluate as run_eval
    from dlrun.commands.eval import print_evaluation, write_evaluation
    from dlrun.errors import DlrunError

    try:
        result = run_eval(Path(run_dir), list(overrides or []), weights, config_dir, trust_config)
        write_evaluation(result)
    except DlrunError as e:
        raise typer.Exit(user_error(str(e))) from None
    print_evaluation(result)


@app.command()
def export(
    run_dir: str = typer.Argument(..., help="A run dir made by `dlrun train`."),
    export_format: str = typer.Option(..., "--format", "-f", help="onnx, torchscript or safetensors."),
    output: str = typer.Option(None, "--output", "-o", help="The dir to write into; default: RUN_DIR/export."),
    weights: str = typer.Option("best", "--weights", help="best, last or a weights file, as in `dlrun eval`."),
    trust_config: bool = trust_option(),
) -> None:
    """Export a run's network, with its input preprocessing, as ONNX, TorchScript or safetensors.

    Writes model.onnx, model.pt or model.safetensors and a description next to it (model.onnx.json...:
    inputs, outputs, classes, preprocessing; vocabulary files copied beside it). Formats sit side by
    side; each export is checked against torch's outputs on the run's test split before it is kept."""
    from dlrun.commands.export import export as run_export
    from dlrun.commands.export import print_export
    from dlrun.errors import DlrunError

    try:
        result = run_export(Path(run_dir), export_format, output, weights, trust_config)
    except DlrunError as e:
        raise typer.Exit(user_error(str(e))) from None
    print_export(result)
