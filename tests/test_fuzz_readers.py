"""Fuzzing the recording readers: mutated bytes of real recordings must either read or
fail with a vista ParseError that names the file, never a crash or another exception.

The seeds are the three EDF recordings shipped in the eyelinkio wheel
(``eyelinkio/tests/data``) and their ASC conversions written by vista's own writer.
Each case is mutated by hypothesis: bytes replaced, inserted or deleted, a span
duplicated, the file cut short. CI runs a few hundred cases (200 ASC, 100 EDF); set
``VISTA_FUZZ_EXAMPLES=N`` to run N of each.
"""

from __future__ import annotations

import io
import os
import warnings
from functools import cache
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis (extra dev) is not installed")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from vista.errors import ParseError  # noqa: E402
from vista.gaze.io import read_recording  # noqa: E402

eyelinkio = pytest.importorskip("eyelinkio", reason="eyelinkio (extra eyelink) is not installed")
DATA = Path(eyelinkio.__file__).parent / "tests" / "data"
EDFS = sorted(DATA.glob("*.edf"))

N = int(os.environ.get("VISTA_FUZZ_EXAMPLES", "0"))
SETTINGS = dict(deadline=None, database=None, derandomize=N == 0,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])


@cache
def _asc_seed(k: int) -> bytes:
    """The ASC text of EDF ``k``: events and messages, and for the first file the first
    3000 sample lines too (so sample parsing is fuzzed, at a cost of milliseconds)."""
    from vista.gaze.asc import write_asc

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = read_recording(EDFS[k], samples=k == 0)
    buf = io.StringIO()
    write_asc(rec, buf, samples=k == 0)
    lines = buf.getvalue().splitlines(keepends=True)
    if k == 0:
        samples = [i for i, ln in enumerate(lines) if ln[:1].isdigit()]
        keep = set(samples[:3000])
        lines = [ln for i, ln in enumerate(lines) if not ln[:1].isdigit() or i in keep]
    return "".join(lines).encode("utf-8")


@cache
def _edf_seed(k: int) -> bytes:
    return EDFS[k].read_bytes()


_BYTES = st.sampled_from([0, 9, 10, 13, 32, 45, 46, 48, 49, 57, 65, 69, 77, 82, 255]) | \
    st.integers(0, 255)


@st.composite
def mutations(draw: st.DrawFn, size: int, *, head_bias: int) -> list[tuple[str, int, int, int]]:
    """A short list of edits ``(kind, position, length, byte)``; half of them fall in
    the first ``head_bias`` bytes, where headers and layouts live."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "duplicate", "cut"]))
        near = draw(st.booleans())
        pos = draw(st.integers(0, max(min(head_bias, size) - 1, 0) if near else max(size - 1, 0)))
        out.append((kind, pos, draw(st.integers(1, 64)), draw(_BYTES)))
    return out


def _mutate(data: bytes, edits: list[tuple[str, int, int, int]]) -> bytes:
    b = bytearray(data)
    for kind, pos, length, byte in edits:
        pos = min(pos, len(b))
        if kind == "replace" and b:
            b[min(pos, len(b) - 1)] = byte
        elif kind == "insert":
            b[pos:pos] = bytes([byte]) * (1 + length % 4)
        elif kind == "delete":
            del b[pos:pos + length]
        elif kind == "duplicate":
            b[pos:pos] = b[pos:pos + length * 8]
        elif kind == "cut":
            del b[pos:]
    return bytes(b)


def _read_or_parse_error(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            read_recording(path, samples=True, strict=True)
        except ParseError as exc:
            assert str(path) in str(exc), f"the message does not name the file: {exc}"


@settings(max_examples=N or 200, **SETTINGS)
@given(k=st.integers(0, 2), edits=st.data())
def test_fuzz_asc(tmp_path_factory: pytest.TempPathFactory, k: int, edits: st.DataObject) -> None:
    seed = _asc_seed(k)
    data = _mutate(seed, edits.draw(mutations(len(seed), head_bias=4000)))
    path = tmp_path_factory.mktemp("asc") / "fuzz.asc"
    path.write_bytes(data)
    _read_or_parse_error(path)


@settings(max_examples=N or 100, **SETTINGS)
@given(k=st.integers(0, 2), edits=st.data())
def test_fuzz_edf(tmp_path_factory: pytest.TempPathFactory, k: int, edits: st.DataObject) -> None:
    seed = _edf_seed(k)
    data = _mutate(seed, edits.draw(mutations(len(seed), head_bias=2000)))
    path = tmp_path_factory.mktemp("edf") / "fuzz.edf"
    path.write_bytes(data)
    _read_or_parse_error(path)
