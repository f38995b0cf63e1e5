"""Dataset builders and the small data the demos ship with.

Installed as `lstm_keras_datasets`: a top-level `datasets` package would shadow
Hugging Face's library of that name.
"""
