"""A Keras 3 LSTM layer: fused cuDNN on GPU, fast portable fallback elsewhere."""

from lstm_keras.cell import LSTMCell
from lstm_keras.lstm import LSTM

__all__ = ["LSTM", "LSTMCell"]
__version__ = "0.1.0"
