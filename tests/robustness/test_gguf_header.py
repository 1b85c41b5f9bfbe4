"""A GGUF header that lies about its sizes is refused before anything is allocated for it."""

from __future__ import annotations

import resource
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llm_lineage.weights.gguf_header import GGUFHeader


def _string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def _gguf(*, n_tensors: int | None = None, n_kv: int | None = None, dims: tuple[int, ...] = (4, 2),
          n_dims: int | None = None, array_count: int | None = None, name_length: int | None = None) -> bytes:
    """One F32 tensor and two metadata entries (an int and an int array), with any field overridden."""
    values = [1, 2, 3]
    kv = _string("general.alignment") + struct.pack("<II", 4, 32)
    kv += _string("test.array") + struct.pack("<IIQ", 9, 5, len(values) if array_count is None else array_count)
    kv += struct.pack(f"<{len(values)}i", *values)
    name = _string("weight")
    if name_length is not None:
        name = struct.pack("<Q", name_length) + b"weight"
    info = name + struct.pack("<I", len(dims) if n_dims is None else n_dims) + struct.pack(f"<{len(dims)}Q", *dims)
    info += struct.pack("<IQ", 0, 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1 if n_tensors is None else n_tensors, 2 if n_kv is None else n_kv)
    body = head + kv + info
    body += b"\0" * (-len(body) % 32)
    return body + np.arange(int(np.prod(dims)) if max(dims) < 1000 else 8, dtype=np.float32).tobytes()


def _write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "m.gguf"
    path.write_bytes(data)
    return path


def test_a_well_formed_file_reads(tmp_path):
    header = GGUFHeader(_write(tmp_path, _gguf()))
    assert header.fields["test.array"] == [1, 2, 3] and header.tensors[0].shape == (4, 2)
    assert header.data(header.tensors[0]).ravel().tolist() == list(range(8))


@pytest.mark.parametrize("lie, message", [
    (dict(n_tensors=2 ** 40), "more than"),
    (dict(n_kv=2 ** 62), "more than"),
    (dict(dims=(2 ** 32, 2 ** 32)), "past the end"),
    (dict(n_dims=1000), "dimensions"),
    (dict(array_count=2 ** 60), "past the end"),
    (dict(name_length=2 ** 50), "past the end"),
])
def test_declared_sizes_beyond_the_file_are_refused_without_allocating(tmp_path, lie, message):
    path = _write(tmp_path, _gguf(**lie))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ValueError, match=message):
        GGUFHeader(path)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB: nothing sized by the lie


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_corruption_is_a_value_error_or_a_header(tmp_path, data):
    good = bytearray(_gguf())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(good) - 1))
        good[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(good)))
    path = _write(tmp_path, bytes(good[:cut]))
    try:
        header = GGUFHeader(path)
    except ValueError:
        return
    for info in header.tensors:  # whatever was accepted can be read within the file
        header.data(info)
