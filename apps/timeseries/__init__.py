"""Multi-step time-series forecasting with the custom LSTM (hourly weather)."""
