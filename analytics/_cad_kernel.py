"""CAD OSE's context memory and detector step, compiled by numba (the algorithm: analytics/cad.py).

Why compiled: issue #6 budgets 10 us per KPI sample, and a step of the memory touches from a
few dozen to thousands of stored contexts; as numpy passes, the calls' overhead alone was
over 100 us. Here a whole sample -- the level, the surprise check, the memory step, the
range check and the rest period -- is one pass of compiled code, and
:func:`detector_update` and :func:`bank_step` loop over samples and series without coming
back to Python. Every function is cached on disk (``cache=True``): a process loads the
machine code on its first call instead of compiling it.

The state of one memory is a numba struct (:class:`MemoryType`, fields in ``_FIELDS``),
passed by reference: counts as int64 fields, everything else int64 arrays that grow by
doubling (:func:`_grown`; the per-side and per-context columns grow together). Ids are
creation order, as in the published detector, since its tie-breaks depend on them:

- **Left sides** (``left_*``): a side's facts are ``left_facts[left_start[s]:][:left_size[s]]``
  (CSR); its value facts also as two bit masks (``left_present``: the bits it has a fact of,
  ``left_values``: their values), so that the facts of a level it holds are
  ``present & ~(values ^ level)``. ``left_key`` is the fixed fact hash (:func:`fact_key`,
  the tie-break between equally activated contexts) and ``left_table`` an open-addressing
  table of (hash, side) pairs (:func:`_table_add`; a hit is checked against the stored
  facts).
  ``left_contexts``/``context_next`` link a side's contexts.
- **Right sides** (``right_*``): value facts only, so a side is its base-3 pattern (a digit
  per bit: 0 no fact of it, 1 or 2 the fact ``bit is 0`` or ``bit is 1``);
  ``right_of_pattern`` finds it, ``right_facts`` holds its facts as bits ``2 * bit + value``.
- **Contexts**: columns by id (``context_left``, ``context_right``, the two sides' fact
  hashes) and ``counts``, a row of four per context (tried, hits, activations, and the right
  side as ``present | values << 8 | facts << 16``): what a step reads and writes of an
  applying context is one row, not four columns' cache lines. ``context_table`` maps (left
  side, right side) to the id. ``zero`` lists the zero-level contexts in the order they became so
  (``context_zero`` flags them), with ``zero_left`` and ``zero_sides`` (their sides' value
  facts in one word) beside it, read in one pass by the proposals.
- **The last left crossing**: ``group`` (value facts in bit order, then context facts by
  id), the level it was crossed at, how many left sides existed then, and ``applying``: the
  contexts whose left side the group holds whole. A crossing visits only the sides that can
  be whole: the sides without context facts through ``pattern_head``/``left_next`` (a list
  per pattern; the level's ``2**bits`` sub-patterns are looked up), the others through
  ``post_*``: each side is listed once, under its newest context fact (a group holding the
  side whole holds that fact, and the lists of new contexts are short); ``group_stamp``
  says, per context, whether the last group holds its fact.
- **Proposals**: a side's mask against a group has bit ``j`` when the side holds the
  ``j``-th fact of the group. The sides with zero-level contexts are listed under each of
  their context facts (``zero_post_*``: a list per fact, each in one piece of a pool, moved
  to its end with twice the room when full, so that a list is read in order); the lists
  of the group's context facts give the sides whose mask has context bits
  (``left_marks``); the other sides'
  masks are their value facts'. ``first_*`` is a stamped table kept between steps.
- **Steady steps**: when a step leaves the group and the contexts as they were
  (``steady``) and the next sample has the same level, that step is the last one's again
  but for the counts (:func:`memory_step`).

The detector's own state is a float64 array (``R_*``): its value scale, suppression level,
range tolerance (NaN: off) and rest period, the range seen so far, the predicted facts (a
mask as above, exact in a float), and the last ``rest_period`` scores as a ring, with the
number of scores since the newest loud one (so the rest-period check is O(1)).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
from numba import njit, types
from numba.experimental import structref

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
F = TypeVar("F", bound=Callable[..., Any])

SENSOR = 1 << 16  # a value fact is SENSOR + 2 * bit + value; a context fact CONTEXT + id
CONTEXT = 1 << 31
_KEY_MASK = 0x7FFFFFFFFFFFFFFF
_MIX = -7046029254386353131  # 0x9E3779B97F4A7C15 (Fibonacci hashing) as a signed int64
_RIGHT_BITS = 13  # a right side id is below 3**8 = 6561 < 2**13

# the detector's float state
R_LOW = 0
R_HIGH = 1
R_SUPPRESSION = 2
R_TOLERANCE = 3
R_REST = 4
R_SEEN_LOW = 5
R_SEEN_HIGH = 6
R_PREDICTED = 7
R_COUNT = 8  # scores in the ring (at most the rest period)
R_NEXT = 9  # where the next score goes
R_SINCE_LOUD = 10  # scores since the newest one at or over the suppression level
R_RING = 11
NEVER = 1e18

# a context's row in ``counts``
C_TRIED = 0
C_HITS = 1
C_ACTIVATIONS = 2
C_RIGHT = 3  # its right side: present | values << 8 | facts << 16
COUNTS = 4


def compiled(function: F) -> F:
    """``numba.njit`` with an on-disk cache (the first call of a process loads it)."""
    return cast(F, njit(cache=True)(function))


def inlined(function: F) -> F:
    """A small compiled helper, inlined into its callers."""
    return cast(F, njit(cache=True, inline="always")(function))


# ---------------------------------------------------------------------------------------
# the memory's state: a numba struct (fields as listed), passed by reference

_FIELDS = (
    # counts and settings
    "bits",
    "max_left_facts",
    "max_active_contexts",
    "lefts",
    "rights",
    "contexts",
    "zero_count",
    "facts_used",
    "posts",
    "applying_count",
    "group_size",
    "cross_level",
    "crossed",
    "stamp",
    "left_capacity",  # the length of the per-side columns
    "context_capacity",  # the length of the per-context columns
    "mark",  # the proposals' last stamp (left_marks)
    "zero_posts",
    "steady",  # 1: the last step left the group and the contexts as they were
    "last_level",  # the last step's level, active contexts and selected contexts
    "last_active",
    "last_selected",
    "last_same",  # 1: the last step's group was the one before it
    # left sides
    "left_start",
    "left_size",
    "left_present",
    "left_values",
    "left_key",
    "left_contexts",
    "left_next",  # the next side of the same pattern without context facts
    "left_zero",  # 1 once the side has a zero-level context (listed in zero_post_*)
    # per side, two words: the proposals (mark) whose group holds some context fact of the
    # side, then the group positions of those facts
    "left_marks",
    "group_stamp",  # per context: the crossing whose group holds its context fact
    "left_facts",
    "left_table",
    # right sides
    "right_of_pattern",
    "right_present",
    "right_values",
    "right_facts",
    # contexts
    "context_left",
    "context_right",
    "counts",  # per context: tried, hits, activations, right side (C_*)
    "context_left_key",
    "context_right_key",
    "context_next",  # the next context of the same left side
    "context_zero",
    "context_table",
    "zero",
    "zero_left",  # per zero-level context (as ``zero``): its left side
    "zero_sides",  # and its two sides' value facts (_zero_sides)
    # the sides with zero-level contexts, listed under each of their context facts
    "zero_post_start",  # per context fact: its list's place in the pool, length, room
    "zero_post_count",
    "zero_post_room",
    "zero_post_side",  # the pool
    # which sides hold a context fact, and the sides without context facts by pattern
    "post_head",
    "post_side",
    "post_next",
    "pattern_head",
    # the last left crossing
    "applying",
    "group",
    "active",  # a step's active contexts (as many as there are contexts)
    "top",  # the most activated of them
    # the proposals' scratch: a table from pair of masks to its first row (stamped)
    "first_key",
    "first_order",
    "first_stamp",
    "first_slots",
)


_structref: Any = structref  # (numba's functions are not annotated)


@structref.register
class MemoryType(types.StructRef):
    def preprocess_fields(self, fields: Any) -> tuple[tuple[str, Any], ...]:
        unliteral: Any = types.unliteral
        return tuple((name, unliteral(kind)) for name, kind in fields)


class Memory(structref.StructRefProxy):
    """The Python handle of a memory's state (read it through :func:`export_memory`)."""


_structref.define_constructor(Memory, MemoryType, list(_FIELDS))
_structref.define_boxing(MemoryType, Memory)
_new_memory_struct: Any = Memory  # built in compiled code only


@inlined
def popcount(x: int) -> int:
    x = x - ((x >> 1) & 0x5555555555555555)
    x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0F
    return (x * 0x0101010101010101) >> 56  # masks are under 2**63: no sign to care for


@inlined
def fact_key(facts: IntArray, n: int) -> int:
    """A fixed hash of ``facts[:n]``, as analytics.cad's (int64 products wrap, keeping the
    low bits that Python's masked products keep)."""
    value = 0x345678
    multiplier = 1000003
    for index in range(n):
        value = ((value ^ facts[index]) * multiplier) & _KEY_MASK
        multiplier += 82520 + 2 * (n - index - 1)
    return value


@inlined
def _slot(key: int, mask: int) -> int:
    return ((key * _MIX) >> 17) & mask


@compiled
def _grown(array: IntArray, size: int, fill: int) -> IntArray:
    """``array``, or a copy with room for ``size`` items (doubled, filled with ``fill``)."""
    if array.shape[0] >= size:
        return array
    capacity = max(array.shape[0], 16)
    while capacity < size:
        capacity *= 2
    grown = np.full(capacity, fill, dtype=np.int64)
    grown[: array.shape[0]] = array
    return grown


@compiled
def _column(fill: int) -> IntArray:
    return np.full(16, fill, dtype=np.int64)


@compiled
def new_memory(bits: int, max_left_facts: int, max_active_contexts: int) -> Any:
    """An empty memory."""
    patterns = 3**bits
    return _new_memory_struct(
        bits,
        max_left_facts,
        max_active_contexts,
        0,  # lefts
        0,  # rights
        0,  # contexts
        0,  # zero_count
        0,  # facts_used
        0,  # posts
        0,  # applying_count
        0,  # group_size
        0,  # cross_level
        0,  # crossed
        0,  # stamp
        16,  # left_capacity
        16,  # context_capacity
        0,  # mark
        0,  # zero_posts
        0,  # steady
        0,  # last_level
        0,  # last_active
        0,  # last_selected
        0,  # last_same
        _column(-1),  # left_start
        _column(-1),  # left_size
        _column(-1),  # left_present
        _column(-1),  # left_values
        _column(-1),  # left_key
        _column(-1),  # left_contexts
        _column(-1),  # left_next
        _column(0),  # left_zero
        np.full(2 * 16, -1, dtype=np.int64),  # left_marks (two per side)
        _column(-1),  # group_stamp
        _column(-1),  # left_facts
        np.full(128, -1, dtype=np.int64),  # left_table (64 slots)
        np.full(patterns, -1, dtype=np.int64),  # right_of_pattern
        _column(-1),  # right_present
        _column(-1),  # right_values
        _column(-1),  # right_facts
        _column(-1),  # context_left
        _column(-1),  # context_right
        np.zeros(COUNTS * 16, dtype=np.int64),  # counts
        _column(-1),  # context_left_key
        _column(-1),  # context_right_key
        _column(-1),  # context_next
        _column(0),  # context_zero
        np.full(128, -1, dtype=np.int64),  # context_table (64 slots)
        _column(-1),  # zero
        _column(-1),  # zero_left
        _column(-1),  # zero_sides
        _column(-1),  # zero_post_start
        _column(0),  # zero_post_count
        _column(0),  # zero_post_room
        _column(-1),  # zero_post_side
        _column(-1),  # post_head
        _column(-1),  # post_side
        _column(-1),  # post_next
        np.full(patterns, -1, dtype=np.int64),  # pattern_head
        _column(-1),  # applying
        _column(-1),  # group
        _column(-1),  # active
        _column(-1),  # top
        _column(-1),  # first_key
        _column(-1),  # first_order
        _column(-1),  # first_stamp
        _column(-1),  # first_slots
    )


@compiled
def copy_memory(m: Any) -> Any:
    return _new_memory_struct(
        m.bits,
        m.max_left_facts,
        m.max_active_contexts,
        m.lefts,
        m.rights,
        m.contexts,
        m.zero_count,
        m.facts_used,
        m.posts,
        m.applying_count,
        m.group_size,
        m.cross_level,
        m.crossed,
        m.stamp,
        m.left_capacity,
        m.context_capacity,
        m.mark,
        m.zero_posts,
        m.steady,
        m.last_level,
        m.last_active,
        m.last_selected,
        m.last_same,
        m.left_start.copy(),
        m.left_size.copy(),
        m.left_present.copy(),
        m.left_values.copy(),
        m.left_key.copy(),
        m.left_contexts.copy(),
        m.left_next.copy(),
        m.left_zero.copy(),
        m.left_marks.copy(),
        m.group_stamp.copy(),
        m.left_facts.copy(),
        m.left_table.copy(),
        m.right_of_pattern.copy(),
        m.right_present.copy(),
        m.right_values.copy(),
        m.right_facts.copy(),
        m.context_left.copy(),
        m.context_right.copy(),
        m.counts.copy(),
        m.context_left_key.copy(),
        m.context_right_key.copy(),
        m.context_next.copy(),
        m.context_zero.copy(),
        m.context_table.copy(),
        m.zero.copy(),
        m.zero_left.copy(),
        m.zero_sides.copy(),
        m.zero_post_start.copy(),
        m.zero_post_count.copy(),
        m.zero_post_room.copy(),
        m.zero_post_side.copy(),
        m.post_head.copy(),
        m.post_side.copy(),
        m.post_next.copy(),
        m.pattern_head.copy(),
        m.applying.copy(),
        m.group.copy(),
        m.active.copy(),
        m.top.copy(),
        m.first_key.copy(),
        m.first_order.copy(),
        m.first_stamp.copy(),
        m.first_slots.copy(),
    )


@compiled
def memory_size(m: Any) -> tuple[int, int]:
    """(bits, stored contexts)."""
    return m.bits, m.contexts


@compiled
def export_memory(m: Any) -> tuple[IntArray, ...]:
    """The saved form's columns: left sides (starts, sizes, fact pool), right sides
    (present, values), contexts (left, right, tried, hits, activations), zero-level ids,
    group."""
    return (
        m.left_start[: m.lefts].copy(),
        m.left_size[: m.lefts].copy(),
        m.left_facts[: m.facts_used].copy(),
        m.right_present[: m.rights].copy(),
        m.right_values[: m.rights].copy(),
        m.context_left[: m.contexts].copy(),
        m.context_right[: m.contexts].copy(),
        m.counts[C_TRIED : COUNTS * m.contexts : COUNTS].copy(),
        m.counts[C_HITS : COUNTS * m.contexts : COUNTS].copy(),
        m.counts[C_ACTIVATIONS : COUNTS * m.contexts : COUNTS].copy(),
        m.zero[: m.zero_count].copy(),
        m.group[: m.group_size].copy(),
    )


# ---------------------------------------------------------------------------------------
# sides and contexts


@compiled
def _table_add(table: IntArray, count: int, key: int, value: int) -> IntArray:
    """Put (``key``, ``value``) in an open-addressing table of (key, value) pairs holding
    ``count`` pairs with it (the table, or one rebuilt twice as big when half full). The
    pairs sit side by side: a probe reads the key it compares in the slot's cache line."""
    if 2 * count > table.shape[0] // 2:
        old = table
        table = np.full(2 * old.shape[0], -1, dtype=np.int64)
        for slot in range(old.shape[0] // 2):
            if old[2 * slot + 1] >= 0:
                _table_put(table, old[2 * slot], old[2 * slot + 1])
    _table_put(table, key, value)
    return table


@inlined
def _table_put(table: IntArray, key: int, value: int) -> None:
    mask = table.shape[0] // 2 - 1
    i = _slot(key, mask)
    while table[2 * i + 1] >= 0:
        i = (i + 1) & mask
    table[2 * i], table[2 * i + 1] = key, value


@inlined
def _side_in(
    table: IntArray,
    sizes: IntArray,
    starts: IntArray,
    pool: IntArray,
    facts: IntArray,
    n: int,
    key: int,
) -> int:
    """The left side ``facts[:n]`` (with fact hash ``key``) in the left table, or -1."""
    mask = table.shape[0] // 2 - 1
    i = _slot(key, mask)
    while True:
        side = table[2 * i + 1]
        if side < 0:
            return -1
        if table[2 * i] == key and sizes[side] == n:
            start = starts[side]
            same = True
            for j in range(n):
                if pool[start + j] != facts[j]:
                    same = False
                    break
            if same:
                return int(side)
        i = (i + 1) & mask


@compiled
def _find_left(m: Any, facts: IntArray, n: int, key: int) -> int:
    return _side_in(m.left_table, m.left_size, m.left_start, m.left_facts, facts, n, key)


@compiled
def _add_left(m: Any, facts: IntArray, n: int, key: int) -> int:
    side = m.lefts
    size = side + 1
    if size > m.left_capacity:  # the per-side columns grow together
        capacity = 2 * m.left_capacity
        m.left_start = _grown(m.left_start, capacity, -1)
        m.left_size = _grown(m.left_size, capacity, -1)
        m.left_present = _grown(m.left_present, capacity, -1)
        m.left_values = _grown(m.left_values, capacity, -1)
        m.left_key = _grown(m.left_key, capacity, -1)
        m.left_contexts = _grown(m.left_contexts, capacity, -1)
        m.left_next = _grown(m.left_next, capacity, -1)
        m.left_zero = _grown(m.left_zero, capacity, 0)
        m.left_marks = _grown(m.left_marks, 2 * capacity, -1)
        m.left_capacity = capacity
    start = m.facts_used
    m.left_facts = _grown(m.left_facts, start + n, -1)
    pool = m.left_facts
    present, values, pattern, newest = 0, 0, 0, -1
    for j in range(n):
        fact = facts[j]
        pool[start + j] = fact
        if fact < CONTEXT:
            bit, value = (fact - SENSOR) >> 1, (fact - SENSOR) & 1
            present |= 1 << bit
            values |= value << bit
            pattern += (value + 1) * 3**bit
        else:
            newest = max(newest, fact - CONTEXT)
    has_context = newest >= 0
    if has_context:
        # listed under its newest context fact only: a group that holds the side whole
        # holds that fact, and newer contexts have shorter lists
        entry = m.posts
        if newest >= m.post_head.shape[0]:  # (loading: sides come before contexts)
            m.post_head = _grown(m.post_head, newest + 1, -1)
        m.post_side = _grown(m.post_side, entry + 1, -1)
        m.post_next = _grown(m.post_next, entry + 1, -1)
        m.post_side[entry] = side
        m.post_next[entry] = m.post_head[newest]
        m.post_head[newest] = entry
        m.posts = entry + 1
    m.facts_used = start + n
    m.left_start[side], m.left_size[side], m.left_key[side] = start, n, key
    m.left_present[side], m.left_values[side], m.left_contexts[side] = present, values, -1
    m.left_zero[side], m.left_marks[2 * side] = 0, -1
    if has_context:
        m.left_next[side] = -1
    else:
        m.left_next[side] = m.pattern_head[pattern]
        m.pattern_head[pattern] = side
    m.lefts = size
    m.left_table = _table_add(m.left_table, size, key, side)
    return int(side)


@compiled
def _right_side(m: Any, present: int, values: int) -> int:
    """The right side of these value facts (stored if new)."""
    pattern, facts, bit = _pattern(present, values), 0, 0
    while present >> bit:
        if present >> bit & 1:
            facts |= 1 << (2 * bit + (values >> bit & 1))
        bit += 1
    right = m.right_of_pattern[pattern]
    if right < 0:
        right = m.rights
        m.right_present = _grown(m.right_present, right + 1, -1)
        m.right_values = _grown(m.right_values, right + 1, -1)
        m.right_facts = _grown(m.right_facts, right + 1, -1)
        m.right_present[right], m.right_values[right], m.right_facts[right] = present, values, facts
        m.right_of_pattern[pattern] = right
        m.rights = right + 1
    return int(right)


@inlined
def _context_in(table: IntArray, left: int, right: int) -> int:
    """The context (left side, right side) in the context table, or -1."""
    key = (left << _RIGHT_BITS) | right
    mask = table.shape[0] // 2 - 1
    i = _slot(key, mask)
    while True:
        context = table[2 * i + 1]
        if context < 0 or table[2 * i] == key:
            return int(context)
        i = (i + 1) & mask


@compiled
def _find_context(m: Any, left: int, right: int) -> int:
    return _context_in(m.context_table, left, right)


@inlined
def _pattern(present: int, values: int) -> int:
    """The base-3 pattern of value facts (digit per bit: 0 none, 1 value 0, 2 value 1)."""
    pattern, power, bit = 0, 1, 0
    while present >> bit:
        if present >> bit & 1:
            pattern += ((values >> bit & 1) + 1) * power
        power *= 3
        bit += 1
    return pattern


@compiled
def _add_context(m: Any, left: int, right: int, left_key: int, right_key: int) -> int:
    context = m.contexts
    size = context + 1
    if size > m.context_capacity:  # the per-context columns grow together
        capacity = 2 * m.context_capacity
        m.context_left = _grown(m.context_left, capacity, -1)
        m.context_right = _grown(m.context_right, capacity, -1)
        m.counts = _grown(m.counts, COUNTS * capacity, 0)
        m.context_left_key = _grown(m.context_left_key, capacity, -1)
        m.context_right_key = _grown(m.context_right_key, capacity, -1)
        m.context_next = _grown(m.context_next, capacity, -1)
        m.context_zero = _grown(m.context_zero, capacity, 0)
        m.post_head = _grown(m.post_head, capacity, -1)
        m.zero_post_start = _grown(m.zero_post_start, capacity, -1)
        m.zero_post_count = _grown(m.zero_post_count, capacity, 0)
        m.zero_post_room = _grown(m.zero_post_room, capacity, 0)
        m.applying = _grown(m.applying, capacity, -1)
        m.active = _grown(m.active, capacity, -1)
        m.group_stamp = _grown(m.group_stamp, capacity, -1)
        m.context_capacity = capacity
    m.context_left[context], m.context_right[context] = left, right
    row = COUNTS * context
    m.counts[row + C_TRIED], m.counts[row + C_HITS], m.counts[row + C_ACTIVATIONS] = 0, 0, 0
    m.counts[row + C_RIGHT] = (
        m.right_present[right] | m.right_values[right] << 8 | m.right_facts[right] << 16
    )
    m.context_left_key[context], m.context_right_key[context] = left_key, right_key
    m.context_zero[context] = 0
    m.context_next[context] = m.left_contexts[left]
    m.left_contexts[left] = context
    m.contexts = size
    m.context_table = _table_add(m.context_table, size, (left << _RIGHT_BITS) | right, context)
    return int(context)


@compiled
def _mark_zero_level(m: Any, context: int) -> None:
    if m.context_zero[context] != 0:
        return
    m.context_zero[context] = 1
    count = m.zero_count
    m.zero = _grown(m.zero, count + 1, -1)
    m.zero_left = _grown(m.zero_left, count + 1, -1)
    m.zero_sides = _grown(m.zero_sides, count + 1, -1)
    left, right = m.context_left[context], m.context_right[context]
    m.zero[count], m.zero_left[count] = context, left
    # what the proposals read of the two sides, in one word (sides never change)
    m.zero_sides[count] = (
        m.left_present[left]
        | m.left_values[left] << 8
        | m.right_present[right] << 16
        | m.right_values[right] << 24
        | m.left_size[left] << 32
    )
    m.zero_count = count + 1
    if m.left_zero[left]:
        return
    # the side's first zero-level context: list it under each of its context facts
    m.left_zero[left] = 1
    start = m.left_start[left]
    for j in range(start, start + m.left_size[left]):
        fact = m.left_facts[j] - CONTEXT
        if fact >= 0:
            _zero_post(m, fact, left)


@compiled
def _zero_post(m: Any, fact: int, side: int) -> None:
    """Append ``side`` to the list of context fact ``fact``."""
    if fact >= m.zero_post_count.shape[0]:
        m.zero_post_start = _grown(m.zero_post_start, fact + 1, -1)
        m.zero_post_count = _grown(m.zero_post_count, fact + 1, 0)
        m.zero_post_room = _grown(m.zero_post_room, fact + 1, 0)
    count, room = m.zero_post_count[fact], m.zero_post_room[fact]
    if count == room:  # full: moved to the pool's end with twice the room (its place is lost)
        room = max(4, 2 * room)
        start = m.zero_posts
        m.zero_post_side = _grown(m.zero_post_side, start + room, -1)
        pool, old = m.zero_post_side, m.zero_post_start[fact]
        for j in range(count):
            pool[start + j] = pool[old + j]
        m.zero_post_start[fact], m.zero_post_room[fact] = start, room
        m.zero_posts = start + room
    m.zero_post_side[m.zero_post_start[fact] + count] = side
    m.zero_post_count[fact] = count + 1


@compiled
def _store(
    m: Any,
    left: IntArray,
    n: int,
    right_present: int,
    right_values: int,
    right_key: int,
    zero_level: bool,
) -> tuple[int, bool]:
    """Store a context; (its id, whether it is new). A zero-level one that exists is marked so."""
    key = fact_key(left, n)
    side = _find_left(m, left, n, key)
    if side < 0:
        side = _add_left(m, left, n, key)
    right = _right_side(m, right_present, right_values)
    context = _find_context(m, side, right)
    new = context < 0
    if new:
        context = _add_context(m, side, right, key, right_key)
    if zero_level:
        _mark_zero_level(m, context)
    return context, new


# ---------------------------------------------------------------------------------------
# crossings


@compiled
def _cross_context_sides(m: Any, level: int, count: int) -> int:
    """Add to ``applying`` (holding ``count``) the contexts of the sides with context facts
    that the group holds whole; the new count."""
    bits, applying = m.bits, m.applying
    side_contexts, next_context = m.left_contexts, m.context_next
    # sides with context facts: each is listed under its newest context fact; it is whole
    # when its value facts are the level's and each of its context facts is in the group
    stamp = m.stamp + 1
    m.stamp = stamp
    group, group_stamp = m.group, m.group_stamp
    for position in range(bits, m.group_size):
        context = group[position] - CONTEXT
        if 0 <= context < group_stamp.shape[0]:
            group_stamp[context] = stamp
    present, values, sizes = m.left_present, m.left_values, m.left_size
    starts, pool = m.left_start, m.left_facts
    post_head, post_side, post_next = m.post_head, m.post_side, m.post_next
    for position in range(bits, m.group_size):
        context_fact = group[position] - CONTEXT
        entry = post_head[context_fact] if 0 <= context_fact < post_head.shape[0] else -1
        while entry >= 0:
            side = post_side[entry]
            entry = post_next[entry]
            if present[side] & (values[side] ^ level):
                continue  # a value fact of another level
            whole = True
            for j in range(starts[side], starts[side] + sizes[side]):
                fact = pool[j] - CONTEXT
                if fact >= 0 and not (fact < group_stamp.shape[0] and group_stamp[fact] == stamp):
                    whole = False
                    break
            if whole:
                context = side_contexts[side]
                while context >= 0:
                    applying[count] = context
                    count += 1
                    context = next_context[context]
    return count


@compiled
def cross_left(m: Any, level: int) -> None:
    """The contexts whose left side ``group`` (at ``level``) holds whole: ``applying``."""
    bits = m.bits
    m.cross_level = level
    m.crossed = m.lefts
    applying, side_contexts, next_context = m.applying, m.left_contexts, m.context_next
    count = 0
    # sides of value facts only: the patterns made of some of the level's facts
    patterns = np.zeros(1 << bits, dtype=np.int64)
    power = 1
    for bit in range(bits):
        digit = (((level >> bit) & 1) + 1) * power
        half = 1 << bit
        for subset in range(half):
            patterns[half + subset] = patterns[subset] + digit
        power *= 3
    heads, following = m.pattern_head, m.left_next
    for pattern in patterns:
        side = heads[pattern]
        while side >= 0:
            context = side_contexts[side]
            while context >= 0:
                applying[count] = context
                count += 1
                context = next_context[context]
            side = following[side]
    m.applying_count = _cross_context_sides(m, level, count)


@compiled
def _mark_group_facts(m: Any, group: IntArray) -> int:
    """Give each side with a zero-level context that holds context facts of ``group`` their
    positions in it (``left_marks``: valid where the side's mark is the one returned):
    only the sides listed under the group's context facts hold any, and the other sides'
    left masks are made of their value facts alone."""
    bits = m.bits
    mark: int = m.mark + 1
    m.mark = mark
    marks = m.left_marks
    starts, counts, pool = m.zero_post_start, m.zero_post_count, m.zero_post_side
    for position in range(bits, group.shape[0]):
        fact = group[position] - CONTEXT
        if not 0 <= fact < counts.shape[0]:
            continue
        for j in range(starts[fact], starts[fact] + counts[fact]):
            side = pool[j]
            if marks[2 * side] != mark:
                marks[2 * side], marks[2 * side + 1] = mark, 0
            marks[2 * side + 1] |= 1 << position
    return mark


@compiled
def _proposals(m: Any, level: int, fresh: int, group: IntArray) -> IntArray:
    """The crossings of the zero-level contexts (but ``fresh``) with (last left group, this
    sample) as (left mask << 8 | right mask), in the published detector's order: by left
    side then by context, the first of each pair of masks.

    One pass over the zero-level contexts (their sides' value facts read from
    ``zero_sides``, in order), keeping the first row of each pair of masks by order key
    (left side, then context) in a table stamped with the mark (not cleared)."""
    count = m.zero_count
    mark = _mark_group_facts(m, group)
    marks = m.left_marks
    capacity = m.first_key.shape[0]
    if capacity < 2 * count:
        while capacity < 2 * count:
            capacity *= 2
        m.first_key = np.empty(capacity, dtype=np.int64)
        m.first_order = np.empty(capacity, dtype=np.int64)
        m.first_stamp = np.full(capacity, -1, dtype=np.int64)
        m.first_slots = np.empty(capacity, dtype=np.int64)
    first_key, first_order, first_stamp, slots = (
        m.first_key,
        m.first_order,
        m.first_stamp,
        m.first_slots,
    )
    table_mask = capacity - 1
    zero, zero_left, zero_sides = m.zero, m.zero_left, m.zero_sides
    crossed, cross_level, max_left = m.crossed, m.cross_level, m.max_left_facts
    unique = 0
    for i in range(count):
        context = zero[i]
        left = zero_left[i]
        # (a side stored since the crossing holds nothing of its group)
        if context == fresh or left >= crossed:
            continue
        sides = zero_sides[i]
        left_present, left_values = sides & 0xFF, sides >> 8 & 0xFF
        right_present, right_values = sides >> 16 & 0xFF, sides >> 24 & 0xFF
        left_mask = left_present & ~(left_values ^ cross_level)
        if marks[2 * left] == mark:
            left_mask |= marks[2 * left + 1]
        right_mask = right_present & ~(right_values ^ level)
        left_count, right_count = popcount(left_mask), popcount(right_mask)
        whole = left_count == sides >> 32 and right_count == popcount(right_present)
        if left_count == 0 or right_count == 0 or left_count > max_left or whole:
            continue
        key = (left_mask << 8) | right_mask
        order = (left << 32) | context
        slot = _slot(key, table_mask)
        while True:
            if first_stamp[slot] != mark:
                first_stamp[slot], first_key[slot], first_order[slot] = mark, key, order
                slots[unique] = slot
                unique += 1
                break
            if first_key[slot] == key:
                first_order[slot] = min(first_order[slot], order)
                break
            slot = (slot + 1) & table_mask
    return _by_order(first_key, first_order, slots[:unique])


@compiled
def _by_order(keys: IntArray, orders: IntArray, slots: IntArray) -> IntArray:
    """The keys of the table's used ``slots``, by their order keys (all distinct)."""
    by_order = np.argsort(orders[slots])
    result: IntArray = keys[slots[by_order]]
    return result


@inlined
def _ranks_above(
    counts: IntArray, left_keys: IntArray, right_keys: IntArray, a: int, b: int
) -> bool:
    """Context ``a`` comes after ``b`` in (activations, left key, right key, id) order."""
    activations_a = counts[COUNTS * a + C_ACTIVATIONS]
    activations_b = counts[COUNTS * b + C_ACTIVATIONS]
    if activations_a != activations_b:
        return bool(activations_a > activations_b)
    if left_keys[a] != left_keys[b]:
        return bool(left_keys[a] > left_keys[b])
    if right_keys[a] != right_keys[b]:
        return bool(right_keys[a] > right_keys[b])
    return a > b


@compiled
def _most_activated(m: Any, active: IntArray, count: int) -> IntArray:
    """The last ``max_active_contexts`` (at least 1: analytics.cad checks it) of the active
    contexts in (activations, left key, right key, id) order, by id."""
    keep = min(m.max_active_contexts, count)
    if keep >= count:
        every: IntArray = np.sort(active[:count])
        return every
    top = np.empty(keep, dtype=np.int64)  # ascending
    counts, left_keys, right_keys = m.counts, m.context_left_key, m.context_right_key
    held = 0
    floor = 0  # once full: the activations of the lowest held (a context under it is out)
    for i in range(count):
        context = active[i]
        if held == keep:
            if counts[COUNTS * context + C_ACTIVATIONS] < floor or not _ranks_above(
                counts, left_keys, right_keys, context, top[0]
            ):
                continue
            j = 0  # the lowest goes, the newcomer takes its place in the order
            while j + 1 < keep and _ranks_above(counts, left_keys, right_keys, context, top[j + 1]):
                top[j] = top[j + 1]
                j += 1
            top[j] = context
        else:
            j = held
            while j > 0 and _ranks_above(counts, left_keys, right_keys, top[j - 1], context):
                top[j] = top[j - 1]
                j -= 1
            top[j] = context
            held += 1
        if held == keep:
            floor = counts[COUNTS * top[0] + C_ACTIVATIONS]
    chosen: IntArray = np.sort(top)
    return chosen


@inlined
def _subset(facts: IntArray, mask: int, out: IntArray) -> int:
    """``facts[j]`` for the bits ``j`` of ``mask``, into ``out`` (as long as ``facts``);
    how many. Written without a branch per fact: masks are random, a branch mispredicts."""
    n = 0
    for j in range(facts.shape[0]):
        out[n] = facts[j]
        n += mask >> j & 1
    return n


@compiled
def _store_proposals(
    m: Any, group: IntArray, facts: IntArray, level: int, proposals: IntArray
) -> float:
    """Store the proposals (after the fresh zero-level context); the share of them, with
    that one, that were new."""
    bits = m.bits
    every = (1 << bits) - 1
    new_count, has_zero_level = 1, False
    left = np.empty(group.shape[0], dtype=np.int64)
    right_facts = np.empty(bits, dtype=np.int64)
    whole_group = (1 << group.shape[0]) - 1
    # most proposals are stored already: looked up in arrays held here (reading the
    # struct's fields costs reference counting), stored through _store when new
    left_table, left_sizes = m.left_table, m.left_size
    left_starts, left_pool, right_of_pattern = m.left_start, m.left_facts, m.right_of_pattern
    context_table = m.context_table
    for key in proposals:
        left_mask, right_mask = key >> 8, key & 0xFF
        has_zero_level |= left_mask == whole_group and right_mask == every
        n_left = _subset(group, left_mask, left)
        left_key = fact_key(left, n_left)
        side = _side_in(left_table, left_sizes, left_starts, left_pool, left, n_left, left_key)
        right = right_of_pattern[_pattern(right_mask, level & right_mask)]
        if side >= 0 and right >= 0 and _context_in(context_table, side, right) >= 0:
            continue
        n_right = _subset(facts, right_mask, right_facts)
        right_key = fact_key(right_facts, n_right)
        _store(m, left, n_left, right_mask, level & right_mask, right_key, False)
        new_count += 1
        left_table, left_sizes = m.left_table, m.left_size
        left_starts, left_pool, context_table = m.left_start, m.left_facts, m.context_table
    return float(new_count / (proposals.shape[0] + (0 if has_zero_level else 1)))


@inlined
def _better(ratio: float, facts: int, best: float, predicted: int) -> tuple[float, int]:
    """(best hit ratio, predicted facts) after a context of hit ratio ``ratio`` and right
    facts ``facts``: the right facts of the contexts of the best ratio."""
    if ratio > best:
        return ratio, facts
    if ratio == best:
        return best, predicted | facts
    return best, predicted


@compiled
def _right_crossing(m: Any, level: int, skipped: int, predict: bool) -> tuple[int, int, float, int]:
    """The contexts of ``applying`` (but ``skipped``) meet the sample at ``level``: their
    counts grow, the active ones go to ``active``. (selected, active, and when ``predict``
    the best hit ratio among all of ``applying`` after it with the right facts of the
    contexts of that ratio: the next group's prediction, if that group is the last one
    again)."""
    applying, count, counts, active = m.applying, m.applying_count, m.counts, m.active
    selected, active_count = 0, 0
    best, predicted = 0.0, 0
    for i in range(count):
        context = applying[i]
        row = COUNTS * context
        right = counts[row + C_RIGHT]
        if context != skipped:
            selected += 1
            present = right & 0xFF
            size = popcount(present)
            matched = popcount(present & ~((right >> 8) ^ level))
            counts[row + C_TRIED] += size
            counts[row + C_HITS] += matched
            if matched == size:
                counts[row + C_ACTIVATIONS] += 1
                active[active_count] = context
                active_count += 1
        if predict:
            tried = counts[row + C_TRIED]
            ratio = counts[row + C_HITS] / tried if tried > 0 else 0.0
            best, predicted = _better(ratio, right >> 16, best, predicted)
    return selected, active_count, best, predicted


@compiled
def _prediction(m: Any, first: int, best: float, predicted: int) -> int:
    """The facts predicted by ``applying`` from ``first`` on, given (best ratio, predicted
    facts) of those before: the right facts of the contexts of the best hit ratio."""
    applying, count, counts = m.applying, m.applying_count, m.counts
    for i in range(first, count):
        row = COUNTS * applying[i]
        tried = counts[row + C_TRIED]
        ratio = counts[row + C_HITS] / tried if tried > 0 else 0.0
        best, predicted = _better(ratio, counts[row + C_RIGHT] >> 16, best, predicted)
    return predicted


@compiled
def memory_step(m: Any, level: int) -> tuple[int, float, float]:
    """One sample at ``level``: (predicted facts of the next sample as a mask, share of the
    selected contexts that were active, share of the proposed contexts that were new)."""
    if m.steady and level == m.last_level:
        # the last step left the memory as it found it (same group, no new context) and
        # this sample repeats its level: the zero-level context exists, the same contexts
        # apply and the same are active, and with one more activation each they keep
        # their order: the group stays. Only the counts and the prediction move.
        _, _, _, predicted = _right_crossing(m, level, 0, True)
        return predicted, m.last_active / m.last_selected if m.last_selected else 0.0, 0.0
    bits = m.bits
    every = (1 << bits) - 1
    facts = np.empty(bits, dtype=np.int64)
    for bit in range(bits):
        facts[bit] = SENSOR + 2 * bit + ((level >> bit) & 1)
    group = m.group[: m.group_size].copy()
    stored_before = m.contexts
    fresh = -1
    if group.shape[0]:
        context, new = _store(
            m, group, group.shape[0], every, level & every, fact_key(facts, bits), True
        )
        if new:
            fresh = context

    # right crossing: the contexts the previous group selected meet this sample (context 0
    # is left out when no zero-level context is new, as in the published detector, whose
    # "no new context" marker compares equal to id 0; the fresh one is not in applying)
    # (the prediction is made in the same pass when the last group was the one before it:
    # then this step's group is likely to be it again)
    skipped = 0 if fresh < 0 else fresh
    speculated = m.last_same != 0
    selected, active_count, best, predicted = _right_crossing(m, level, skipped, speculated)
    active_share = active_count / selected if selected else 0.0
    proposals = _proposals(m, level, fresh, group) if fresh >= 0 else np.empty(0, dtype=np.int64)
    chosen = _most_activated(m, m.active, active_count)

    # left crossing: store the proposals, then the new group predicts through the contexts
    # it selects with the best hit ratio
    added_share = _store_proposals(m, group, facts, level, proposals) if fresh >= 0 else 0.0
    size = bits + chosen.shape[0]
    same = size == group.shape[0]
    for j in range(bits if same else 0):
        same = same and group[j] == facts[j]
    for j in range(chosen.shape[0] if same else 0):
        same = same and group[bits + j] == chosen[j] + CONTEXT
    m.steady = 1 if same and m.contexts == stored_before else 0
    m.last_same = 1 if same else 0
    m.last_level, m.last_active, m.last_selected = level, active_count, selected
    if same:
        # the group of the last crossing again (most steps of a steady series): it selects
        # what it selected, and every context stored since (their left sides are parts of
        # it), so the crossing is not redone and the prediction above holds with them
        first = m.applying_count if speculated else 0
        for context in range(stored_before, m.contexts):
            m.applying[m.applying_count] = context
            m.applying_count += 1
        m.crossed = m.lefts
        return _prediction(m, first, best, predicted), active_share, added_share

    m.group = _grown(m.group, size, -1)
    m.group[:bits] = facts
    for j in range(chosen.shape[0]):
        m.group[bits + j] = chosen[j] + CONTEXT
    m.group_size = size
    cross_left(m, level)
    return _prediction(m, 0, 0.0, 0), active_share, added_share


# ---------------------------------------------------------------------------------------
# the detector


@compiled
def detector_step(m: Any, run: FloatArray, value: float) -> float:
    """One sample's score (ContextualAnomalyDetector.step)."""
    bits = m.bits
    top = (1 << bits) - 1
    low, high = run[R_LOW], run[R_HIGH]
    span = high - low
    step = (span if span != 0.0 else float(top)) / top
    level = 0
    finite = math.isfinite(value)
    if finite:
        scaled = (value - low) / step
        if scaled >= top:
            level = top
        elif scaled > 0.0:
            level = int(scaled)  # truncation, as Python's int()
    facts = 0
    for bit in range(bits):
        facts |= 1 << (2 * bit + ((level >> bit) & 1))
    surprised = (facts & ~int(run[R_PREDICTED])) != 0
    predicted, active_share, added_share = memory_step(m, level)
    run[R_PREDICTED] = predicted
    score = (1.0 - active_share + added_share) / 2.0 if surprised else 0.0
    tolerance = run[R_TOLERANCE]
    if not math.isnan(tolerance) and finite:
        seen_low, seen_high = run[R_SEEN_LOW], run[R_SEEN_HIGH]
        margin = (seen_high - seen_low) * tolerance
        if seen_high > seen_low and not seen_low - margin <= value <= seen_high + margin:
            score = 1.0
        run[R_SEEN_LOW] = value if value < seen_low else seen_low  # Python's min(low, value)
        run[R_SEEN_HIGH] = value if value > seen_high else seen_high
    # the rest period: quiet unless one of the last rest_period scores was loud
    rest, count = int(run[R_REST]), int(run[R_COUNT])
    quiet = not run[R_SINCE_LOUD] < count
    position = int(run[R_NEXT])
    run[R_RING + position] = score
    run[R_NEXT] = (position + 1) % rest
    run[R_COUNT] = min(count + 1, rest)
    loud = not score < run[R_SUPPRESSION]
    run[R_SINCE_LOUD] = 0.0 if loud else min(run[R_SINCE_LOUD] + 1.0, NEVER)
    return score if quiet else 0.0


@compiled
def detector_update(m: Any, run: FloatArray, values: FloatArray) -> FloatArray:
    """The scores of several samples of one series."""
    scores = np.empty(values.shape[0], dtype=np.float64)
    for i in range(values.shape[0]):
        scores[i] = detector_step(m, run, values[i])
    return scores


@compiled
def bank_step(memories: Any, runs: Any, values: FloatArray, scores: FloatArray) -> None:
    """One tick of many series: ``scores[i]`` of ``values[i]`` by detector ``i``."""
    for i in range(values.shape[0]):
        scores[i] = detector_step(memories[i], runs[i], values[i])


# ---------------------------------------------------------------------------------------
# loading


@compiled
def load_memory(
    m: Any,
    left_facts: IntArray,
    left_sizes: IntArray,
    right_present: IntArray,
    right_values: IntArray,
    context_columns: npt.NDArray[np.int64],
    zero_level: IntArray,
    group: IntArray,
) -> None:
    """Fill an empty memory with saved sides, contexts (rows: left, right, tried, hits,
    activations), zero-level ids and last group; then cross the group."""
    start = 0
    for side in range(left_sizes.shape[0]):
        n = left_sizes[side]
        side_facts = left_facts[start : start + n].copy()
        _add_left(m, side_facts, n, fact_key(side_facts, n))
        start += n
    right_keys = np.empty(right_present.shape[0], dtype=np.int64)
    facts = np.empty(64, dtype=np.int64)
    for right in range(right_present.shape[0]):
        _right_side(m, right_present[right], right_values[right])
        n = 0
        for bit in range(63):
            if right_present[right] >> bit & 1:
                facts[n] = SENSOR + 2 * bit + (right_values[right] >> bit & 1)
                n += 1
        right_keys[right] = fact_key(facts, n)
    for row in range(context_columns.shape[0]):
        left, right = context_columns[row, 0], context_columns[row, 1]
        context = _add_context(m, left, right, m.left_key[left], right_keys[right])
        m.counts[COUNTS * context + C_TRIED] = context_columns[row, 2]
        m.counts[COUNTS * context + C_HITS] = context_columns[row, 3]
        m.counts[COUNTS * context + C_ACTIVATIONS] = context_columns[row, 4]
    for context in zero_level:
        _mark_zero_level(m, context)
    if group.shape[0]:
        m.group = _grown(m.group, group.shape[0], -1)
        m.group[: group.shape[0]] = group
        m.group_size = group.shape[0]
        level = 0
        for fact in group[: m.bits]:
            level |= ((fact - SENSOR) & 1) << ((fact - SENSOR) >> 1)
        cross_left(m, level)
