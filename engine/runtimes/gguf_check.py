"""A user's GGUF file checked before anything else reads it: transformers' GGUF loader converts it through the
`gguf` package's reader, and GGUF plans copy its tokenizer fields with that reader into the files llama.cpp
loads; both trust the header's counts and offsets. Files the product writes itself are not checked.

The `gguf` reader does the parsing; it is only made strict. The stock reader slices a memory map, so a read
past the end of a truncated file quietly returns a short array: the failure comes later as an unrelated
reshape error, and an absurd array length spins through empty reads. Here every read past the end, and every
count the file cannot hold, stops at once with the offset.
"""

from __future__ import annotations

import struct
from pathlib import Path

import gguf
import numpy as np
from gguf.gguf_reader import READER_SUPPORTED_VERSIONS

HEADER = struct.Struct("<4sIQQ")  # magic, version, tensor count, metadata count
# the fewest bytes one entry can take: a metadata pair (key length, type, a 1-byte value) and a tensor's info
# (name length, dimension count, type, offset)
MIN_KV_BYTES, MIN_TENSOR_BYTES = 8 + 4 + 1, 8 + 4 + 4 + 8
MIN_ITEM_BYTES = {gguf.GGUFValueType.STRING: 8, gguf.GGUFValueType.ARRAY: 12}


class GgufInvalid(ValueError):
    """A GGUF file that is truncated or corrupted; the message names the file and the problem."""


class _PastEnd(Exception):
    def __init__(self, offset: int, end: int):
        super().__init__(f"{end - offset:,} bytes at byte {offset:,} run past the end of the file")


class _StrictReader(gguf.GGUFReader):
    """The gguf package's reader, refusing to read past the end of the file or to loop over an array longer
    than the rest of the file can hold."""

    def _get(self, offset, dtype, count=1, override_order=None):
        end = int(offset) + np.dtype(dtype).itemsize * int(count)
        if end > self.data.size:
            raise _PastEnd(int(offset), end)
        return super()._get(offset, dtype, count, override_order)

    def _get_field_parts(self, orig_offs, raw_type):
        if raw_type == gguf.GGUFValueType.ARRAY:
            item = gguf.GGUFValueType(int(self._get(orig_offs, np.uint32)[0]))
            length = int(self._get(orig_offs + 4, np.uint64)[0])
            scalar = self.gguf_scalar_to_np.get(item)
            smallest = np.dtype(scalar).itemsize if scalar else MIN_ITEM_BYTES.get(item, 1)
            if length * smallest > self.data.size - orig_offs - 12:
                raise _PastEnd(orig_offs + 12, orig_offs + 12 + length * smallest)
        return super()._get_field_parts(orig_offs, raw_type)


def check_gguf(path: Path) -> None:
    """Refuse a truncated or corrupted GGUF with what is wrong: a cheap look at the header first, then the whole
    header, metadata and tensor table read by the gguf package, every tensor's data inside the file."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(HEADER.size)
    if len(head) < HEADER.size:
        raise GgufInvalid(f"{path} is {size} bytes, shorter than a GGUF header ({HEADER.size} bytes): "
                          "the file is truncated or not a GGUF file")
    magic, version, tensors, kvs = HEADER.unpack(head)
    if magic != b"GGUF":
        raise GgufInvalid(f"{path} is not a GGUF file: it starts with {magic!r}, not b'GGUF'")
    if version not in READER_SUPPORTED_VERSIONS:
        raise GgufInvalid(f"{path} says GGUF version {version}; only versions "
                          f"{', '.join(map(str, READER_SUPPORTED_VERSIONS))} are read (a corrupted header, or a "
                          "file from a newer llama.cpp)")
    if tensors * MIN_TENSOR_BYTES + kvs * MIN_KV_BYTES > size - HEADER.size:
        raise GgufInvalid(f"{path}'s header claims {tensors:,} tensors and {kvs:,} metadata entries, more than a "
                          f"file of {size:,} bytes can hold: the header is corrupted")
    try:
        reader = _StrictReader(path)
    except _PastEnd as error:
        raise GgufInvalid(f"{path} is truncated or corrupted: {error} ({size:,} bytes)") from error
    except Exception as error:  # the reader's own checks and numpy's, whatever the damage trips first
        raise GgufInvalid(f"{path} is corrupted: {type(error).__name__}: {error}") from error
    if not reader.tensors:
        raise GgufInvalid(f"{path} holds no tensors: there are no weights to load")
