"""Run dirs: reading one (its files, its config, its weights), rebuilding the trained run it holds,
and reserving a new one."""
