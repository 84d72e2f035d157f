"""Shared hypothesis mutations of a whitespace table file for loader-level fuzz tests.

The fixtures put ``1000 * column + row`` in every sensor cell, so a loader that returns
data can be checked for shifted columns: each value's thousands must be its column.
"""

from __future__ import annotations

from hypothesis import strategies as st

KINDS = ("truncate", "swap_rows", "token", "drop_token", "add_token", "blank_line")
TOKENS = ("x", "1.2.3", "--", "1,5", "NaN", "inf", "")


@st.composite
def mutations(draw) -> tuple[str, int, int, str]:
    """(kind, a, b, token): ``a``/``b`` are reduced modulo the file's size when applied."""
    return (draw(st.sampled_from(KINDS)), draw(st.integers(0, 10**6)),
            draw(st.integers(0, 10**6)), draw(st.sampled_from(TOKENS)))


def mutate(text: str, kind: str, a: int, b: int, token: str) -> str:
    """Apply one mutation to a file's text (rows are lines, cells are space-separated)."""
    lines = text.splitlines()
    i, j = a % len(lines), b % len(lines)
    cells = lines[i].split(" ")
    k = b % len(cells)
    if kind == "truncate":
        return text[: a % len(text)]
    if kind == "swap_rows":
        lines[i], lines[j] = lines[j], lines[i]
    elif kind == "token":
        cells[k] = token or "?"
        lines[i] = " ".join(cells)
    elif kind == "drop_token":
        del cells[k]
        lines[i] = " ".join(cells)
    elif kind == "add_token":
        cells.insert(k, "7")
        lines[i] = " ".join(cells)
    elif kind == "blank_line":
        lines.insert(i, "")
    return "\n".join(lines) + "\n"
