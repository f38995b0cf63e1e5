"""`python -m lstm_keras`: the same as the `lstm-keras` console script."""

import sys

from lstm_keras.runner.cli import main

if __name__ == "__main__":
    sys.exit(main())
