"""The verbs behind cli.py that work on a finished run: argument handling and output, no training."""
