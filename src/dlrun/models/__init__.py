"""Plain torch models: built from the data's description, callable without Lightning or Hydra.

Every model takes `input_shape` (one example's shape) and `num_outputs` from the data, plus its own
knobs from the config, so a user's own nn.Module plugs in by accepting the same two arguments.
"""

from dlrun.models.cnn import CNN
from dlrun.models.mlp import MLP

__all__ = ["CNN", "MLP"]
