"""Dataset builders and the small data the demos ship with (imported as lstm_keras_datasets)."""
