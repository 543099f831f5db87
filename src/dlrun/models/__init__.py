"""Plain torch models: built from the data's description, callable without Lightning or Hydra.

Every model takes `input_shape` (one example's shape) and `num_outputs` from the data, plus its own
knobs from the config, so a user's own nn.Module plugs in by accepting the same two arguments.
"""

from dlrun.models.alexnet import AlexNet
from dlrun.models.cnn import CNN
from dlrun.models.lenet import LeNet5
from dlrun.models.mlp import MLP
from dlrun.models.pooling import MinPool2d
from dlrun.models.recurrent import RecurrentNet
from dlrun.models.resnet import ResNet
from dlrun.models.vgg import VGG

__all__ = ["AlexNet", "CNN", "LeNet5", "MLP", "MinPool2d", "RecurrentNet", "ResNet", "VGG"]
