"""``harlab.evaluation.shift.shift_frames``: frames moved by whole pixels, nothing wraps."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harlab.errors import ConfigError
from harlab.evaluation.shift import shift_frames


@settings(max_examples=60, deadline=None)
@given(w=st.integers(1, 9), h=st.integers(1, 9), data=st.data())
def test_moved_pixels_land_where_they_should_and_the_rest_is_the_floor(w, h, data):
    t = data.draw(st.integers(-(w - 1), w - 1))
    d = data.draw(st.integers(-(h - 1), h - 1))
    frames = np.random.default_rng(w * 10 + h).uniform(0.2, 1, (3, w, h)).astype(np.float32)
    out = shift_frames(frames, t, d)
    assert out.shape == frames.shape and out.dtype == frames.dtype
    for i in range(w):
        for j in range(h):
            si, sj = i - t, j - d
            want = (frames[:, si, sj] if 0 <= si < w and 0 <= sj < h
                    else frames.reshape(3, -1).min(axis=1))
            assert np.array_equal(out[:, i, j], want)


def test_no_shift_is_a_copy():
    frames = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    out = shift_frames(frames)
    assert np.array_equal(out, frames) and out is not frames


@pytest.mark.parametrize("t, d", [(4, 0), (-4, 0), (0, 3), (0, -3)])
def test_a_shift_as_large_as_the_frame_is_refused(t, d):
    with pytest.raises(ConfigError, match="does not fit frames of 4 x 3"):
        shift_frames(np.zeros((1, 4, 3), np.float32), t, d)
