"""Run dirs are untrusted input: what dlrun builds from one, and how a user's own runs stay trusted.

A run dir's `.hydra` files name `_target_` callables, and building them runs code with the user's
rights. `signature` signs the runs dlrun makes with a key that never leaves this user's data dir;
`allowed` says which callables dlrun builds from a run it did not sign; `targets` finds every
callable a config would build; `gate` puts them together for the verbs that open a run dir.
"""
