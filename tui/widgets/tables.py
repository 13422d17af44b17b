"""Filling a DataTable from rows that change every tick, without losing the operator's place.

Rebuilding a table (``clear`` + ``add_row``) moves the cursor to the top and scrolls back: an
operator who has selected a device would lose it on every tick. :func:`fill_table` updates
cells in place when the rows are the same, appends when rows were only added, and rebuilds
only otherwise, restoring the selected row by its key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import RenderableType
from textual.widgets import DataTable

__all__ = ["Row", "fill_table", "selected_key"]

# (row key, cells); a cell is a str or a Rich Text (never markup: names come from the network)
Row = tuple[str, Sequence[RenderableType]]


def selected_key(table: DataTable[Any]) -> str | None:
    """The key of the row under the cursor, if any."""
    if table.row_count == 0:
        return None
    key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
    return None if key is None else str(key)


def _update_cells(table: DataTable[Any], rows: Sequence[Row]) -> None:
    columns = list(table.columns)
    for key, cells in rows:
        for column, cell in zip(columns, cells, strict=False):
            if table.get_cell(key, column) != cell:
                table.update_cell(key, column, cell, update_width=True)


def _changed(table: DataTable[Any], rows: Sequence[Row]) -> bool:
    columns = list(table.columns)
    return any(
        table.get_cell(key, column) != cell
        for key, cells in rows
        for column, cell in zip(columns, cells, strict=False)
    )


def fill_table(
    table: DataTable[Any], rows: Sequence[Row], *, follow: bool = False, height: int | None = 1
) -> None:
    """Make ``table`` show ``rows``, keeping the selected row.

    Args:
        table: a table whose columns are set.
        rows: the rows, in display order, each with a unique key.
        follow: when the cursor was on the last row (or the table was empty), move it to
            the new last row, as a log view follows its tail.
        height: each row's height; ``None``: as tall as its cells wrap to (in columns of a
            fixed width). Textual sizes such a row only as it is added, so a changed cell
            rebuilds the table.
    """
    keys = [key for key, _ in rows]
    current = [str(k.value) for k in table.rows]
    selected = selected_key(table)
    at_tail = selected is None or (bool(current) and selected == current[-1])
    same = keys[: len(current)] == current
    if same and height is None and _changed(table, rows[: len(current)]):
        same = False
    if same:
        _update_cells(table, rows[: len(current)])
        for key, cells in rows[len(current) :]:
            table.add_row(*cells, key=key, height=height)
    else:
        scroll_y = table.scroll_y
        table.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key, height=height)
        if selected in keys:
            table.move_cursor(row=keys.index(selected), scroll=False)
        table.scroll_to(y=scroll_y, animate=False)
    if follow and at_tail and keys:
        table.move_cursor(row=len(keys) - 1)
