"""The parts of training a config picks by name: losses, regularizers, initializers, schedules.

Plain torch, like models/: no Lightning, no Hydra.
"""
