"""Sentence translation: attention LSTM encoder-decoder, SentencePiece, beam search."""
