"""dlrun's Optuna sweeper, where Hydra looks for plugins (`hydra_plugins` is a namespace package)."""
