"""Read and write named entries of a .tflite flatbuffer's metadata table (no torch, no TensorFlow)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np


def read_metadata(blob: bytes) -> dict[str, str]:
    """Return the metadata entries whose contents are UTF-8 text. Raises ValueError on a damaged file."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(blob, 0)
    entries = {}
    for i in range(model.MetadataLength()):
        item = model.Metadata(i)
        buffer = model.Buffers(item.Buffer())
        if buffer.Offset() > 1:  # large models keep data past the flatbuffer
            data = blob[buffer.Offset() : buffer.Offset() + buffer.Size()]
        else:
            data = buffer.DataAsNumpy().tobytes() if buffer.DataLength() else b""
        try:
            entries[item.Name().decode()] = data.decode("utf-8")
        except UnicodeDecodeError:
            continue  # binary entries (e.g. runtime version padding) are not ours
    return entries


def write_metadata(blob: bytes, entries: Mapping[str, str]) -> bytes:
    """Return the model with `entries` added (replacing same-named ones); buffers are inlined (< 2 GB)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(blob), 0)
    for buffer in model.buffers:
        if buffer.offset and buffer.offset > 1:
            buffer.data = np.frombuffer(blob, np.uint8, count=buffer.size, offset=buffer.offset)
            buffer.offset = buffer.size = 0
    kept = [m for m in (model.metadata or []) if m.name.decode() not in entries]
    for name, text in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(text.encode("utf-8"), np.uint8)
        model.buffers.append(buffer)
        item = schema.MetadataT()
        item.name, item.buffer = name, len(model.buffers) - 1
        kept.append(item)
    model.metadata = kept
    builder = flatbuffers.Builder(len(blob) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
