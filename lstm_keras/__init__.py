"""A Keras 3 LSTM layer: fused cuDNN on GPU, fast portable fallback elsewhere."""

from lstm_keras.bidirectional import Bidirectional
from lstm_keras.cell import LSTMCell
from lstm_keras.lstm import LSTM
from lstm_keras.variants import (
    LayerNormLSTM,
    LayerNormLSTMCell,
    PeepholeLSTM,
    PeepholeLSTMCell,
)

__all__ = [
    "Bidirectional",
    "LSTM",
    "LSTMCell",
    "LayerNormLSTM",
    "LayerNormLSTMCell",
    "PeepholeLSTM",
    "PeepholeLSTMCell",
]
__version__ = "0.1.0"
