"""A Keras 3 LSTM layer: fused cuDNN on GPU, fast portable fallback elsewhere."""
