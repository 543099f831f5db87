"""`dlrun report`: compare the runs of one or more sweeps from the results.json files they left.

collect.py finds and reads the files; groups.py splits the runs by data, task and monitor (numbers
that mean different things are never ranked together); table.py turns a group's runs into sorted
rows (seed groups averaged, and each run on its own); numbers.py writes numbers for people;
files.py writes report.csv and report.md; plots.py draws the optional PNGs (parameter_plots.py,
curves.py, and optuna_plots.py for Optuna's own plots of a study).
"""
