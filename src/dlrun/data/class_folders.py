"""A folder of labelled files: one subfolder per class, named after it (image_folder, audio_folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlrun.checks import check_exists
from dlrun.errors import ConfigError


def find_class_files(
    root: Path, suffixes: tuple[str, ...], what: str, example: tuple[str, str], empty_hint: str = ""
) -> tuple[list[str], list[Path], np.ndarray]:
    """Class names (sorted subfolder names), every file under them whose suffix is one of `suffixes`,
    and each file's class index. `what` names the files in errors ("images", "WAV files"), `example`
    two file paths under two classes (e.g. ("cat/1.jpg", "dog/1.jpg")), `empty_hint` what to do with a
    class folder that has none."""
    check_exists(root, "data.path", f"Point it at a folder with one subfolder of {what} per class.")
    if not root.is_dir():
        raise ConfigError(f"data.path '{root}' is a file; point it at a folder with one subfolder of {what} per class.")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        found = f"only '{folders[0].name}'" if folders else "none"
        raise ConfigError(
            f"data.path '{root}' needs one subfolder per class (at least 2), named after the class, with "
            f"that class's {what} in it; it has {found}. E.g. {root}/{example[0]} and {root}/{example[1]}."
        )
    files, labels = [], []
    for label, folder in enumerate(folders):
        # Hidden files and folders are editors' and OS's (.ipynb_checkpoints, macOS ._x.jpg), not data.
        found_files = sorted(
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in suffixes
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(folder).parts)
        )
        if not found_files:
            raise ConfigError(
                f"The class folder '{folder}' under data.path holds no {what} ({', '.join(suffixes)}). "
                f"Add the class's {what} to it{empty_hint}, or move the folder out of '{root}'."
            )
        files += found_files
        labels += [label] * len(found_files)
    return [f.name for f in folders], files, np.asarray(labels)
