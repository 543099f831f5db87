"""The one way to rebuild a trained run: every verb that uses a trained network (eval, predict,
export, translate, and the verbs to come) opens it here.

`open_trained` opens the run dir (checked by dlrun.trust) and reads the chosen weights through the
safe loader before anything is built, so a checkpoint that carries code is refused first. The
`TrainedRun` then builds, from the run's own config or one composed anew, what a verb needs: the
data module (with the run's preprocessing), the network with those weights, or the task around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dlrun.run_dir.reading import RunDir, check_state_fits, open_run, restore_recorded_paths

if TYPE_CHECKING:
    from omegaconf import DictConfig
    from torch import Tensor, nn

    from dlrun.data.in_memory import InMemoryDataModule
    from dlrun.data.spec import DataSpec
    from dlrun.tasks import SupervisedTask


@dataclass
class TrainedRun:
    run: RunDir
    weights: Path  # the file the weights came from
    state: dict[str, Tensor]  # the network's tensors, by the model's own names

    @property
    def path(self) -> Path:
        return self.run.path

    def config(self) -> DictConfig:
        """The run's recorded config as it can be built here: relative data paths found from the dir
        training ran in, and `${paths.output_dir}` (which only a Hydra run knows) the run dir."""
        from omegaconf import open_dict

        recorded = self.run.recorded_config()
        cfg = recorded.copy()
        with open_dict(cfg):
            restore_recorded_paths(self.run, cfg, recorded)
            if "paths" in cfg:
                cfg.paths.output_dir = str(self.path)
        return cfg

    def data(self, cfg: DictConfig | None = None) -> InMemoryDataModule:
        """The data module of `cfg` (default: the run's own), which rebuilds the run's preprocessing."""
        from dlrun.building import build_data, quiet_lightning

        quiet_lightning()
        return build_data(self.config() if cfg is None else cfg)

    def model(self, spec: DataSpec, cfg: DictConfig | None = None) -> nn.Module:
        """The network for data described by `spec`, with the run's weights, in eval mode."""
        from dlrun.building import build_model

        model = build_model(self.config() if cfg is None else cfg, spec)
        check_state_fits(model, self.state, self.weights)
        return model.eval()

    def task(self, cfg: DictConfig) -> tuple[InMemoryDataModule, SupervisedTask]:
        """The data and the task around the network, as `cfg` (composed by the verb) describes them,
        with the run's weights, in eval mode."""
        from dlrun.building import build_task

        # The weights are the run's: transfer.pretrained is about how its training started.
        datamodule, task = build_task(cfg, start_from_transfer=False)
        check_state_fits(task.model, self.state, self.weights)
        return datamodule, task.eval()


def open_trained(
    run_dir: str | Path | RunDir, weights: str = "best", trust_config: bool = False, fall_back_to_last: bool = False
) -> TrainedRun:
    """The run at `run_dir` (or the run dir a verb has opened already) with its `weights` (best,
    last, or a weights file) read through the safe loader: a file holding pickled objects is refused
    before anything in it runs."""
    from dlrun.checkpoints import load_weights

    run = run_dir if isinstance(run_dir, RunDir) else open_run(run_dir, trust_config)
    path = run.weights_file(weights, fall_back_to_last)
    return TrainedRun(run, path, load_weights(path))
