"""What every report plot shares: a bare Agg Figure, saving it, and the dir and file names it goes to."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from dlrun.errors import DlrunError


def figure(width: float = 6.4, height: float = 4.8, layout: Literal["constrained"] | None = "constrained"):
    """A bare Figure on the Agg canvas, never registered with pyplot (no backend, no global state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=100)
    return path


def make_dir(path: Path) -> Path:
    try:
        path.mkdir(exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise DlrunError(
            f"'{path}' exists and is not a dir; dlrun report --plots writes its PNGs into it. Move it away."
        ) from None
    except OSError as e:
        raise DlrunError(
            f"Cannot make '{path}' for the plots: {e.strerror or e}. Name a dir you can write to first."
        ) from None
    return path


def file_name(text: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_") or "value"
