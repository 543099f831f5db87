"""train.log in the run dir: what the terminal showed for the run, as plain text (README: What a run
leaves behind)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import copy_run, run_cli

# On the CPU Lightning replaces 16-mixed by bf16-mixed and says so in a Python warning.
RUN = ("train", "data=iris", "debug=fast", "logger=none", "trainer.precision=16-mixed")


def lines_of(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    assert "\x1b[" not in text and "\r" not in text, text
    return text.splitlines()


def in_order(wanted: list[str], lines: list[str]) -> bool:
    """Whether `wanted` appears in `lines` in this order (other lines may come between)."""
    remaining = iter(lines)
    return all(any(line == want for line in remaining) for want in wanted)


def epoch_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("epoch ")]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("run-log")
    done = run_cli(root, *RUN, "hydra.run.dir=run")
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "run", done


@pytest.mark.slow
def test_the_log_holds_the_epoch_lines_warnings_and_summary_the_terminal_showed(trained):
    run, done = trained
    log = lines_of(run / "train.log")
    shown = done.stdout.splitlines()
    assert epoch_lines(done.stdout) and "dlrun: run completed" in shown
    summary = shown[shown.index("dlrun: run completed") :]
    assert any(str(run) in line for line in summary)
    assert in_order(epoch_lines(done.stdout) + summary, log), "\n".join(log)
    warning = next(line for line in done.stderr.splitlines() if "precision='bf16-mixed'" in line)
    assert warning in log
    assert log.index(warning) < log.index(epoch_lines(done.stdout)[0])  # where the terminal showed it


@pytest.mark.slow
def test_a_resumed_run_appends_to_its_log(trained, tmp_path):
    before = (copy_run(trained[0], tmp_path / "run") / "train.log").read_text(encoding="utf-8")
    done = run_cli(tmp_path, "resume", "run", "trainer.max_epochs=2")
    assert done.returncode == 0, done.stdout + done.stderr
    log = (tmp_path / "run" / "train.log").read_text(encoding="utf-8")
    assert log.startswith(before) and len(log) > len(before)
    assert (
        epoch_lines(done.stdout)
        == epoch_lines(log[len(before) :])
        == [line for line in epoch_lines(done.stdout) if line.startswith("epoch 2/2")]
    )
    assert log.count("dlrun: run completed") == 2


@pytest.mark.slow
def test_each_job_of_a_sweep_logs_its_own_lines(dlrun, tmp_path):
    done = dlrun("train", "-m", "data=iris", "debug=fast", "logger=none", "seed=0,1", "hydra.sweep.dir=sweep")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "\x1b[" not in done.stdout + done.stderr
    shown = done.stdout.splitlines()
    starts = [i for i, line in enumerate(shown) if line.startswith("epoch ")]
    assert len(starts) == 2
    for number, start in enumerate(starts):
        # The job's lines on the terminal: its epoch line to the end of its summary's table.
        job_lines = shown[start : next(i for i in range(start, len(shown)) if shown[i].startswith("└")) + 1]
        log = lines_of(tmp_path / "sweep" / str(number) / "train.log")
        assert in_order(job_lines, log), "\n".join(log)
        assert epoch_lines("\n".join(log)) == [shown[start]] and log.count("dlrun: run completed") == 1
        assert not any("[HYDRA]" in line for line in log), "\n".join(log)  # the launcher's lines are the sweep's


@pytest.mark.slow
def test_a_failed_run_logs_its_error(dlrun, tmp_path):
    (tmp_path / "a.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    done = dlrun("train", "data=csv", "data.path=a.csv", "data.target=nope", "debug=fast", "hydra.run.dir=run")
    assert done.returncode == 2, done.stdout + done.stderr
    error = next(line for line in done.stderr.splitlines() if line.startswith("Error:"))
    assert "'nope' is not a column" in error
    assert error in lines_of(tmp_path / "run" / "train.log")


def test_the_log_gets_plain_lines_and_a_live_display_stays_on_the_terminal(tmp_path, monkeypatch):
    import io
    import sys

    from dlrun import run_log
    from dlrun.callbacks.progress import LiveProgress, progress_bar

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(sys, "stdout", screen)
    with run_log.capture(tmp_path / "train.log"):
        print("\x1b[1;31mred\x1b[0m and \x1b]8;;https://x\x1b\\link\x1b]8;;\x1b\\")
        for frame in ("\r 10%|#", "\r 50%|#####", "\r100%|##########"):  # tqdm's redraws
            sys.stdout.write(frame)
        sys.stdout.write("\n")
        print("split ", end="")
        print("line")
        run_log.log_only("epoch 1/1  for the log alone")
        bar = progress_bar()
        assert isinstance(bar, LiveProgress) and bar._console_kwargs["file"] is screen
        print("unfinished", end="")
    assert sys.stdout is screen
    assert (tmp_path / "train.log").read_text().splitlines() == [
        "red and link",
        "100%|##########",
        "split line",
        "epoch 1/1  for the log alone",
        "unfinished",
    ]
    assert "epoch 1/1" not in screen.getvalue() and "\x1b[1;31m" in screen.getvalue()
