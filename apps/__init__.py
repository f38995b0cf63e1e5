"""Applications built on lstm_keras."""
