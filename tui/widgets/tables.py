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
from rich.text import Text
from textual.widgets import DataTable

__all__ = ["Row", "fill_fitted", "fill_table", "selected_key"]

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


def _cell_width(cell: RenderableType) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(str(cell))


def _clipped(cell: RenderableType) -> RenderableType:
    """A cell cut at its column's edge with "…" (one line) rather than wrapped."""
    if isinstance(cell, Text):
        clipped = cell.copy()
        clipped.no_wrap = True
        clipped.overflow = "ellipsis"
        return clipped
    return Text(str(cell), no_wrap=True, overflow="ellipsis")


def fill_fitted(
    table: DataTable[Any],
    labels: Sequence[str],
    rows: Sequence[Row],
    *,
    width: int,
    min_last: int = 12,
) -> None:
    """:func:`fill_table`, the columns sized so the table never scrolls sideways: each fits
    its widest cell, the last takes what they leave of ``width`` (the screen's) and cuts a
    longer cell with "…" (the detail panel has all of it).

    The columns are rebuilt only when their widths change (the selected row is kept).
    """
    padding = 2 * table.cell_padding
    widths = [
        max([len(label), *(_cell_width(cells[i]) for _, cells in rows if i < len(cells))])
        for i, label in enumerate(labels[:-1])
    ]
    limit = table.styles.max_height
    visible = int(limit.value) - 3 if limit is not None and limit.is_cells else 0
    scrollbar = 2 if not visible or len(rows) > visible else 0  # the table's vertical bar
    chrome = 2 + scrollbar  # its border too
    room = width - chrome - sum(widths) - padding * len(labels)
    layout = [*widths, max(min_last, room)]
    fitted: list[Row] = [(key, (*cells[:-1], _clipped(cells[-1]))) for key, cells in rows]
    current = [column.width for column in table.ordered_columns]
    if current == layout and not any(c.auto_width for c in table.ordered_columns):
        fill_table(table, fitted)
        return
    selected = selected_key(table)
    table.clear(columns=True)
    for label, column_width in zip(labels, layout, strict=True):
        table.add_column(label, width=column_width)
    fill_table(table, fitted)
    keys = [key for key, _ in fitted]
    if selected in keys:
        table.move_cursor(row=keys.index(selected))
