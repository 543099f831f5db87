"""The pieces of `dlrun export` (the verb itself, its argument checks and file placement, is
dlrun.commands.export).

- result.py names each format's file and holds the record of one export (what was written and
  checked).
- signature.py says what the network takes (inputs, and lengths for variable-length sequences) and
  calls it so; the run itself is rebuilt by dlrun.run_dir.rebuilding, as for every verb.
- check.py cuts the test split into the example batch and the checked batches, and refuses an
  export whose outputs are further than TOLERANCE from torch's.
- raw_inputs.py is what ONNX and TorchScript export: the run's preprocessing (predict's own modules,
  dlrun.predict.modules), the network and predict's read-out, so the file takes raw inputs.
- onnx.py, torchscript.py and safetensors.py each write one format and check it.
- unpacked_recurrent.py is the packing-free form of RecurrentNet that the ONNX exporter can trace.
- description.py writes model.<format>.json and the metadata inside the file: what the exported
  file takes and gives.
"""
