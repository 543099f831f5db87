"""Which layers hold the weight matrices that initializers set and penalties shrink."""

from torch import nn

# Left to inference (a tuple of the exact classes), so that isinstance narrows a module to layers
# whose `weight` and `bias` are typed.
DENSE_AND_CONV_LAYERS = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)

RECURRENT_LAYERS: tuple[type[nn.RNNBase], ...] = (nn.RNN, nn.LSTM, nn.GRU)
