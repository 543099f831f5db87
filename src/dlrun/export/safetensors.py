"""The safetensors writer: the network's weights through dlrun's safe saver, checked by reading the
file back."""

from __future__ import annotations

from pathlib import Path

from dlrun.errors import DlrunError
from dlrun.export.check import accept
from dlrun.export.result import Export


def write_safetensors(model, path: Path, result: Export) -> None:
    import dlrun
    from dlrun.checkpoints import load_weights, save_weights

    save_weights(model, path, metadata={"format": "pt", "dlrun_version": dlrun.__version__})
    back = load_weights(path)
    own = model.state_dict()
    if set(back) != set(own):
        raise DlrunError(
            f"The safetensors file written holds other tensors than the model ({sorted(set(own) ^ set(back))[:5]})."
        )
    diff = max((float((back[k].float() - own[k].float()).abs().max()) for k in own if own[k].numel()), default=0.0)
    accept(result, diff, f"read back {len(back)} tensors through dlrun's safe loader", "safetensors")
