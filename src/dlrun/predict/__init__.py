"""`dlrun predict RUN_DIR INPUT`: a trained run's best weights applied to new data, preprocessed as
the run preprocessed its training data.

- run.py opens a run dir: its config, what kind of data it trained on, the data's description
  rebuilt from the preprocessing it saved (so the training data is not needed), and the network with
  its best weights through the safe loader.
- inputs.py reads INPUT (tables, lines of text, images; `-` is stdin), output.py writes the rows
  (CSV or JSON Lines; `-` or nothing is stdout).
- tables.py, images.py, texts.py, series.py and seq2seq.py are the readers of each kind: they turn
  INPUT into the network's inputs exactly as training did, and its outputs into predictions.
- modules.py holds the arithmetic of that preprocessing and of the read-out as torch modules, which
  `dlrun export` also puts into the exported graph.
"""
