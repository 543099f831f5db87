"""`dlrun report`: compare the runs of one or more sweeps from the results.json files they left.

collect.py finds and reads the files, table.py turns runs into sorted rows (seed groups averaged),
files.py writes report.csv and report.md, plots.py draws the optional PNGs.
"""
