"""Any JSON at all, for the parsers' property tests: where a delivery should hold an object, a list or
a string, it may hold anything, and the parser must never raise."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_values(max_leaves: int) -> st.SearchStrategy[Any]:
    """Null, booleans, numbers (NaN too), short strings, and lists and objects of them."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
        ),
        max_leaves=max_leaves,
    )
