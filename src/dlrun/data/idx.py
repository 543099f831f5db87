"""Read IDX files (the format of MNIST and Fashion-MNIST), gzipped or not, with numpy alone.

IDX: two zero bytes, a type code, the number of dimensions, each dimension as a big-endian uint32,
then the values in big-endian row-major order.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from dlrun.errors import ConfigError

IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (`.gz` is decompressed), in native byte order."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        raise ConfigError(f"Could not read the IDX file {path}: {e}.") from None
    return parse_idx(data, str(path))


def parse_idx(data: bytes, name: str = "IDX data") -> np.ndarray:
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise ConfigError(
            f"{name} is not an IDX file: it should start with two zero bytes and a type code "
            f"({', '.join(hex(code) for code in IDX_TYPES)}), but starts with {data[:4].hex(' ')}."
        )
    dtype, ndim = IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ConfigError(f"{name} is truncated: it ends inside its header ({len(data)} bytes).")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ConfigError(
            f"{name} is truncated or corrupt: its header says shape {shape} of {dtype.name} "
            f"({expected} bytes with the header), but it holds {len(data)} bytes."
        )
    values = np.frombuffer(data, dtype=dtype, offset=header)
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(shape)
