"""Make the Fashion-MNIST subset that ships with dlrun (data=fashion_mnist_small) from the Debian files.

A seeded, stratified draw: the same number of training and test images from every class, kept in
their original order, with their indices into the full set for provenance. Run it again with the
same arguments and you get the same arrays:

    sudo apt-get install dataset-fashion-mnist
    python scripts/make_fashion_mnist_small.py
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import numpy as np

from dlrun.data.fashion_mnist import CLASS_NAMES, DEBIAN_ROOT, IDX_FILES, SMALL_SUBSET
from dlrun.data.idx import read_idx


def stratified_draw(labels: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """`per_class` indices of every class, drawn without replacement, in ascending order."""
    chosen = [rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in range(len(CLASS_NAMES))]
    return np.sort(np.concatenate(chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(DEBIAN_ROOT), help="directory of the IDX gz files")
    parser.add_argument("--out", type=Path, default=SMALL_SUBSET)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train-per-class", type=int, default=500)
    parser.add_argument("--test-per-class", type=int, default=100)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    arrays = {}
    for split, per_class in (("train", args.train_per_class), ("test", args.test_per_class)):
        images_name, labels_name = IDX_FILES[split]
        images = read_idx(args.root / f"{images_name}.gz")
        labels = read_idx(args.root / f"{labels_name}.gz").astype(np.int64)
        index = stratified_draw(labels, per_class, rng)
        arrays[f"{split}_images"] = images[index]  # uint8, (N, 28, 28)
        arrays[f"{split}_labels"] = labels[index]
        arrays[f"{split}_index"] = index.astype(np.int32)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    sizes = ", ".join(f"{k} {v.shape}" for k, v in arrays.items() if k.endswith("images"))
    print(f"wrote {args.out}: {sizes}; {args.out.stat().st_size / 1e6:.2f} MB; sha256 {digest}")


if __name__ == "__main__":
    main()
