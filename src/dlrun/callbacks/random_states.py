"""The random number generators' states in every checkpoint, so a resumed run draws the same
dropout masks and augmentations as the run it continues.

Lightning saves the model, optimizers, schedulers, loops and callbacks, but not the generators.
Everything is stored as tensors and plain numbers, which the weights-only loader accepts.
"""

from __future__ import annotations

import random
from typing import cast

import numpy as np
import pytorch_lightning as pl
import torch


class RandomStates(pl.Callback):
    def state_dict(self) -> dict:
        version, mersenne, gauss_next = random.getstate()
        # The global generator is an MT19937: its state is the legacy 5-tuple (numpy's stubs also allow a dict).
        legacy_state = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
        _, keys, position, has_gauss, cached_gaussian = legacy_state
        return {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "python": {
                "version": version,
                "state": torch.tensor(mersenne, dtype=torch.int64),
                "gauss_next": gauss_next,
            },
            "numpy": {
                "keys": torch.from_numpy(keys.astype(np.int64)),
                "position": int(position),
                "has_gauss": int(has_gauss),
                "cached_gaussian": float(cached_gaussian),
            },
        }

    def load_state_dict(self, state_dict: dict) -> None:
        torch.set_rng_state(state_dict["torch"])
        if state_dict["cuda"] and torch.cuda.is_available() and len(state_dict["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
        py = state_dict["python"]
        random.setstate((py["version"], tuple(py["state"].tolist()), py["gauss_next"]))
        state = state_dict["numpy"]
        np.random.set_state(
            (
                "MT19937",
                state["keys"].numpy().astype(np.uint32),
                state["position"],
                state["has_gauss"],
                state["cached_gaussian"],
            )
        )
