"""Optuna's own plots of the study behind an Optuna sweep: optimization history, importances, slices.

An Optuna sweep dir is `outputs/optuna/<study_name>/<timestamp>/` with the study beside the sweep
dirs in `outputs/optuna/<study_name>/study.db` (conf/hparams_search/_optuna.yaml), so a run's study
is found a few dirs up from it. The study holds every trial of every invocation that resumed it,
so these plots cover the whole study even when the report names one sweep dir. A plot that cannot
be drawn (too few trials, one parameter, a damaged file) is skipped with a one-line note, and
Optuna's warning that its matplotlib plots are experimental is not passed on to the user.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from dlrun.report.collect import RunRecord
from dlrun.report.figures import file_name, make_dir

STUDY_FILE = "study.db"
STUDY_LEVELS_UP = 3  # <study>/<timestamp>/<job>/results.json: study.db is two dirs above a run dir
OPTUNA_DIR_PREFIX = "optuna_"


def find_studies(runs: list[RunRecord]) -> dict[Path, str | None]:
    """Each study.db found above these runs, with the monitor of its first run (Optuna's objective)."""
    studies: dict[Path, str | None] = {}
    for run in runs:
        for parent in list(run.run_dir.resolve().parents)[:STUDY_LEVELS_UP]:
            if (parent / STUDY_FILE).is_file():
                studies.setdefault(parent / STUDY_FILE, run.monitor)
                break
    return studies


def write_optuna_plots(runs: list[RunRecord], out: Path) -> tuple[list[Path], list[str]]:
    """Optuna's plots of each study found, in report_plots/optuna_<study name>/, and the notes."""
    written: list[Path] = []
    notes: list[str] = []
    studies = find_studies(runs)
    if not studies:
        return written, notes
    with quiet_optuna():
        for path, monitor in studies.items():
            study, problem = load_study(path)
            if study is None:
                notes.append(f"No Optuna plots for {path}: {problem}")
                continue
            pngs, study_notes = study_plots(study, monitor, out)
            written += pngs
            notes += study_notes
    return written, notes


def load_study(path: Path):
    """The study in this study.db (the one named as its dir, or its only one), or None and why not."""
    import optuna

    try:
        # Tables are never created or migrated: the report only reads the sweep's file.
        storage = optuna.storages.RDBStorage(f"sqlite:///{path}", skip_table_creation=True)
        names = optuna.study.get_all_study_names(storage)
        name = path.parent.name if path.parent.name in names else (names[0] if len(names) == 1 else None)
        if name is None:
            found = ", ".join(names) or "none"
            return None, f"it holds no study named {path.parent.name} (studies: {found})."
        return optuna.load_study(study_name=name, storage=storage), None
    except Exception as e:  # noqa: BLE001 - an untrusted file: any way it fails to load is a note, not a traceback
        return None, f"it cannot be read as an Optuna study ({_one_line(e)})."


def study_plots(study, monitor: str | None, out: Path) -> tuple[list[Path], list[str]]:
    """The study's optimization history, parameter importances and slice plot, each where it can be drawn."""
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as optuna_matplotlib

    name = study.study_name
    if len(study.directions) > 1:
        return [], [f"Optuna study {name} has several objectives; dlrun report draws single-objective studies only."]
    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not completed:
        return [], [f"Optuna study {name} has no completed trial yet, so there are no Optuna plots."]
    params = {key for trial in completed for key in trial.params}
    target = monitor or "objective value"
    plots: dict[str, Callable[[], object]] = {
        "optimization_history": lambda: optuna_matplotlib.plot_optimization_history(study, target_name=target),
        "param_importances": lambda: optuna_matplotlib.plot_param_importances(study, target_name=target),
        "slice": lambda: optuna_matplotlib.plot_slice(study, target_name=target),
    }
    skipped = {}
    if len(completed) < 2 or len(params) < 2:
        skipped["param_importances"] = (
            f"needs 2 completed trials and 2 parameters, the study has {len(completed)} and {len(params)}"
        )
    if len(completed) < 2 or not params:
        skipped["slice"] = f"needs 2 completed trials with parameters, the study has {len(completed)}"
    out = make_dir(out / f"{OPTUNA_DIR_PREFIX}{file_name(name)}")
    written: list[Path] = []
    notes = [f"Optuna study {name}: no {kind.replace('_', ' ')} plot ({why})." for kind, why in skipped.items()]
    for kind, draw in plots.items():
        if kind in skipped:
            continue
        path, problem = _draw(draw, out / f"{kind}.png")
        if path is not None:
            written.append(path)
        else:
            notes.append(f"Optuna study {name}: no {kind.replace('_', ' ')} plot ({problem}).")
    return written, notes


def _draw(draw: Callable[[], object], path: Path) -> tuple[Path | None, str | None]:
    """Save what Optuna drew (an Axes, or an array of them for several slices) and close its figure."""
    import matplotlib

    matplotlib.use("Agg")  # Optuna draws through pyplot: no display needed, and none exists in CI
    import matplotlib.pyplot as plt
    import numpy as np

    # Optuna switches pyplot's style to ggplot for good: rc_context puts the settings back afterwards.
    with matplotlib.rc_context():
        try:
            axes = draw()
            fig = np.ravel(np.asarray(axes, dtype=object))[0].figure
        except Exception as e:  # noqa: BLE001 - Optuna refuses studies it cannot draw in ways of its own
            plt.close("all")
            return None, _one_line(e)
        try:
            fig.savefig(path, dpi=100, bbox_inches="tight")
        finally:
            plt.close(fig)
    return path, None


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's experimental-plot warnings and its INFO logging kept from the user while it draws."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its sqlite storage announces set-up steps
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            # Optuna's own drawing trips matplotlib's layout warnings, which the user can do nothing about.
            warnings.filterwarnings("ignore", category=UserWarning, module="(matplotlib|optuna)")
            yield
    finally:
        optuna.logging.set_verbosity(level)


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__
