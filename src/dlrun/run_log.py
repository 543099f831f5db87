"""The run dir's train.log: what the terminal showed while the job ran, as plain text.

Hydra's job logging writes log records (dlrun's own notes among them) to `<run dir>/<job name>.log`,
but the epoch lines, Python warnings, the summary and error messages are printed, not logged. So for
the job's duration sys.stdout and sys.stderr are tees: the terminal gets every character as before,
and the same file gets each line with ANSI escape codes removed and carriage-return redraws reduced to
what they left on screen. A live display on a terminal (Rich's progress bar) writes past the tees,
straight to the terminal, or the file would hold every frame; the epoch lines go to the file instead
(`log_only`). Only rank 0 writes: the other ranks of a DDP run re-run the job in the same dir.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO, cast

# CSI (colours, cursor moves), OSC (titles, links) and the two-character escapes.
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


def plain(line: str) -> str:
    """A line as it stays on screen: without escape codes, and only what the last '\\r' left."""
    line = _ANSI.sub("", line).rstrip("\r")
    return line.rsplit("\r", 1)[-1]


class _LogFile:
    """Appends complete lines, made plain; a tee's writes may end mid-line or mid-escape code."""

    def __init__(self, path: Path) -> None:
        # Appending: a resumed run adds to its log, and Hydra's own file handler appends to it too.
        self._file = open(path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by close()
        self._pending = ""
        self._lock = threading.Lock()  # a warning may come from another thread

    def write(self, text: str) -> None:
        with self._lock:
            if self._file.closed:
                return
            *lines, self._pending = (self._pending + text).split("\n")
            # A redraw without newlines (tqdm's bar) would grow without bound: keep its last frame.
            redraw = self._pending.rfind("\r", 0, len(self._pending) - 1)
            if redraw >= 0:
                self._pending = self._pending[redraw + 1 :]
            if lines:
                self._file.write("".join(plain(line) + "\n" for line in lines))
                self._file.flush()  # in step with Hydra's file handler, which flushes every record

    def close(self) -> None:
        with self._lock:
            if self._pending.strip():
                self._file.write(plain(self._pending) + "\n")
            self._pending = ""
            self._file.close()


class _Tee:
    """A text stream that writes to `stream` and copies to the log; anything else is `stream`'s."""

    def __init__(self, stream: TextIO, log: _LogFile) -> None:
        self._stream = stream
        self._log = log

    def write(self, text: str) -> int:
        self._log.write(text)  # first: a closed terminal (a broken pipe) must not cost the log its line
        return self._stream.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding, ...: the terminal's
        return getattr(self._stream, name)


_active: _LogFile | None = None


def terminal(stream: TextIO) -> TextIO:
    """The stream under a tee: where a live display draws without reaching the log."""
    return stream._stream if isinstance(stream, _Tee) else stream


def log_only(line: str) -> None:
    """Write a line to the job's log and not to the terminal (no-op outside a job)."""
    if _active is not None:
        _active.write(line + "\n")


def keep_copying() -> None:
    """Tee sys.stdout and sys.stderr again if something replaced them during the job.

    Rich's live display swaps them for proxies that print above its bar, straight to the terminal,
    and puts back what it found when it stops.
    """
    if _active is None:
        return
    if not isinstance(sys.stdout, _Tee):
        sys.stdout = cast(TextIO, _Tee(sys.stdout, _active))
    if not isinstance(sys.stderr, _Tee):
        sys.stderr = cast(TextIO, _Tee(sys.stderr, _active))


@contextlib.contextmanager
def job_log(run_dir: Path, job_name: str) -> Iterator[None]:
    """While a job runs: its terminal output copied into its log (Hydra's file, else `<job name>.log`)."""
    from dlrun.distributed import is_rank_zero

    root = logging.getLogger()
    hydra_files = [h for h in root.handlers if isinstance(h, logging.FileHandler)]
    if not is_rank_zero():
        for handler in hydra_files:  # rank 0's log alone; the other ranks would add their copies
            root.removeHandler(handler)
            handler.close()
        yield
        return
    path = Path(hydra_files[0].baseFilename) if len(hydra_files) == 1 else run_dir / f"{job_name}.log"
    with capture(path):
        yield


@contextlib.contextmanager
def capture(path: Path) -> Iterator[None]:
    """Tee sys.stdout and sys.stderr into `path` inside the block; restore them after."""
    global _active
    log = _LogFile(path)
    saved = sys.stdout, sys.stderr
    outer = _active
    _active = log
    sys.stdout = cast(TextIO, _Tee(sys.stdout, log))
    sys.stderr = cast(TextIO, _Tee(sys.stderr, log))
    try:
        yield
    except SystemExit:  # the job has said why (dlrun's "Error: ..." line)
        raise
    except BaseException as e:
        # Re-raised to the top, where Python prints it once the log is closed.
        log.write("".join(traceback.format_exception(e)))
        raise
    finally:
        for stream in saved:
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr = saved
        _active = outer
        log.close()
