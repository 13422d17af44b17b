"""The Contextual Anomaly Detector (CAD OSE), written from its published description.

CAD (M. Smirnov, "Contextual Anomaly Detector - Open Source Edition", 2016; published in
NAB as ``nab/detectors/context_ose``, standard score 69.9) learns which *contexts* follow
which: a context is a pair (left facts, right facts), where the left facts describe the
previous step and the right facts the current one. It scores a sample by how badly the
memory of contexts predicted it. This is our own implementation from that description.

The facts of one sample: its value is scaled to ``0..2**bits - 1`` over the expected value
range and each bit ``b`` of the result gives one fact (``bit b is 0`` or ``bit b is 1``), so
a sample is ``bits`` facts. The left facts of a step are the previous sample's facts plus one
fact per *active* context of the previous step (up to ``max_active_contexts``): the memory
sees the recent past through the contexts it recognised.

Each step, with the previous left facts ``L`` and the current facts ``S``:

1. **Zero-level context.** ``(L, S)`` is stored if it is new (and marked zero-level if it
   was stored before as a crossing).
2. **Right crossing.** Every stored context whose left facts are all in ``L`` is
   *selected*: it adds its right size to its *tried* count and the number of its right facts
   present in ``S`` to its *hit* count; when all its right facts are in ``S`` it is *active*
   and its activation count grows. When step 1 stored a new context, zero-level contexts
   whose left and right facts partly meet ``L`` and ``S`` propose the intersections (left at
   most ``max_left_facts`` facts) as new contexts.
3. **Active contexts.** The most activated (ties by a fixed hash of their facts) become the
   context facts of the next left group ``L' = S + contexts``.
4. **Left crossing.** The proposals are stored; among the contexts whose left facts are all
   in ``L'``, those with the best hit ratio (hits / tried) predict their right facts for the
   next sample.

The anomaly score of a sample is 0 when every fact of it was predicted; otherwise
``(1 - active / selected + stored / proposed) / 2``: few of the contexts that applied held,
and many of the contexts it suggests are new. After a score of at least
``suppression_level``, scores are zeroed for ``rest_period`` samples (an alarm's echo is not
a new anomaly).

The memory grows with novelty, not with time: on a repetitive series it stops growing. Cost
is per series and dominated by the crossings (Python dictionaries, not numpy), see
docs/benchmarks/models.md.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Self

import numpy as np
import numpy.typing as npt

from analytics._params import Model, NotFittedError

__all__ = ["ContextMemory", "ContextualAnomalyDetector"]

FloatArray = npt.NDArray[np.float64]

# facts are ints: a value bit is _SENSOR + 2 * bit + (0 or 1); a context fact _CONTEXT + id
_SENSOR = 1 << 16
_CONTEXT = 1 << 31


class _Column:
    """A growing int64 array (amortised O(1) append, a view of the filled part)."""

    __slots__ = ("data", "size")

    def __init__(self) -> None:
        self.data = np.zeros(16, dtype=np.int64)
        self.size = 0

    def append(self, value: int) -> None:
        if self.size == self.data.shape[0]:
            self.data = np.concatenate((self.data, np.zeros_like(self.data)))
        self.data[self.size] = value
        self.size += 1

    def view(self) -> npt.NDArray[np.int64]:
        return self.data[: self.size]


def _items(data: object) -> list[object]:
    if not isinstance(data, list):
        raise TypeError(f"expected a list, got {type(data).__name__}")
    return data


def _numbers(data: object) -> list[int | float]:
    items = _items(data)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in items):
        raise TypeError("expected a list of numbers")
    return items  # type: ignore[return-value]  # checked just above


def _ints(data: object) -> list[int]:
    return [int(v) for v in _numbers(data)]


def _fact_key(facts: tuple[int, ...]) -> int:
    """A fixed hash of a set of facts (independent of the interpreter's hash seed)."""
    value = 0x345678
    multiplier = 1000003
    for index, fact in enumerate(facts):
        value = ((value ^ fact) * multiplier) & 0x7FFFFFFFFFFFFFFF
        multiplier += 82520 + 2 * (len(facts) - index - 1)
    return value


class ContextMemory:
    """The context memory of one series (the algorithm of the module docstring).

    A crossing is computed as a bit mask per stored left side: bit ``j`` says the side holds
    the ``j``-th fact of the crossed group (value facts first, one per bit). The value facts
    of a side are looked up by their pattern (at most ``3**bits`` patterns), its context
    facts through an index per context fact; the contexts' counters are numpy columns. A
    step is a few numpy passes over the stored sides and contexts, with no Python loop over
    them.

    Args:
        bits: value facts per sample (one per bit of the scaled value).
        max_left_facts: largest left side a crossing may propose.
        max_active_contexts: context facts carried into the next left group.
    """

    def __init__(
        self, bits: int = 3, max_left_facts: int = 7, max_active_contexts: int = 15
    ) -> None:
        if not 1 <= bits <= 8:
            raise ValueError("bits must be between 1 and 8")
        self.bits = bits
        self.max_left_facts = max_left_facts
        self.max_active_contexts = max_active_contexts
        # left sides, numbered in the order they were stored
        self._left: dict[tuple[int, ...], int] = {}
        self._left_pattern = _Column()
        self._left_size = _Column()
        self._by_context_fact: dict[int, _Column] = {}
        # right sides (value facts only: at most 3**bits - 1 of them)
        self._right: dict[tuple[int, ...], int] = {}
        self._right_facts: list[tuple[int, ...]] = []
        self._right_pattern: list[int] = []
        self._right_patterns = np.zeros(0, dtype=np.int64)
        self._right_sizes = np.zeros(0, dtype=np.int64)
        # contexts: (left side, right side) -> id, and their columns
        self._context: dict[tuple[int, int], int] = {}
        self._context_left = _Column()
        self._context_right = _Column()
        self._tried = _Column()
        self._hits = _Column()
        self._activations = _Column()
        self._left_key = _Column()
        self._right_key = _Column()
        self._zero_level: set[int] = set()
        self._zero_context = _Column()  # zero-level contexts, in the order they became so
        # the last left crossing: its group, each side's mask, which sides it holds whole
        self._left_group: tuple[int, ...] = ()
        self._masks: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._applying: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        # overlap[value level][pattern]: the bits of the level's facts that a pattern holds
        patterns = 3**bits
        self._overlap = np.zeros((2**bits, patterns), dtype=np.int64)
        for level in range(2**bits):
            for pattern in range(patterns):
                mask, code = 0, pattern
                for bit in range(bits):
                    code, digit = divmod(code, 3)
                    if digit and digit - 1 == (level >> bit) & 1:
                        mask |= 1 << bit
                self._overlap[level, pattern] = mask

    @property
    def contexts(self) -> int:
        """Number of stored contexts."""
        return self._tried.size

    def to_dict(self) -> dict[str, object]:
        """The memory as plain JSON data (sides as fact lists, contexts as columns)."""
        return {
            "bits": self.bits,
            "max_left_facts": self.max_left_facts,
            "max_active_contexts": self.max_active_contexts,
            "left": [list(facts) for facts in self._left],
            "right": [list(facts) for facts in self._right_facts],
            "context_left": self._context_left.view().tolist(),
            "context_right": self._context_right.view().tolist(),
            "tried": self._tried.view().tolist(),
            "hits": self._hits.view().tolist(),
            "activations": self._activations.view().tolist(),
            "zero_level": self._zero_context.view().tolist(),
            "group": list(self._left_group),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ContextMemory:
        """The inverse of :meth:`to_dict`.

        Raises:
            ValueError: malformed data.
        """
        try:
            memory = cls(
                *_ints([data["bits"], data["max_left_facts"], data["max_active_contexts"]])
            )
            lefts = [tuple(_ints(side)) for side in _items(data["left"])]
            rights = [tuple(_ints(side)) for side in _items(data["right"])]
            for facts in lefts:
                memory._left_side(facts)
            for facts in rights:
                memory._right_side(facts)
            columns = [
                _ints(data[name])
                for name in ("context_left", "context_right", "tried", "hits", "activations")
            ]
            for left, right, tried, hits, activations in zip(*columns, strict=True):
                context_id = memory._tried.size
                memory._context[(left, right)] = context_id
                memory._context_left.append(left)
                memory._context_right.append(right)
                memory._tried.append(tried)
                memory._hits.append(hits)
                memory._activations.append(activations)
                memory._left_key.append(_fact_key(lefts[left]))
                memory._right_key.append(_fact_key(rights[right]))
            for context_id in _ints(data["zero_level"]):
                memory._zero_level.add(context_id)
                memory._zero_context.append(context_id)
            group = tuple(_ints(data["group"]))
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed context memory: {exc}") from exc
        if group:
            level = sum(((f - _SENSOR) & 1) << ((f - _SENSOR) >> 1) for f in group[: memory.bits])
            memory._cross_left(group, level)
        return memory

    def _pattern(self, facts: tuple[int, ...]) -> int:
        code = 0
        for fact in facts:
            if fact < _CONTEXT:
                bit, value = divmod(fact - _SENSOR, 2)
                code += (value + 1) * 3**bit
        return code

    def _left_side(self, facts: tuple[int, ...]) -> int:
        order = self._left.get(facts)
        if order is None:
            order = len(self._left)
            self._left[facts] = order
            self._left_pattern.append(self._pattern(facts))
            self._left_size.append(len(facts))
            for fact in facts:
                if fact >= _CONTEXT:
                    self._by_context_fact.setdefault(fact, _Column()).append(order)
        return order

    def _right_side(self, facts: tuple[int, ...]) -> int:
        order = self._right.get(facts)
        if order is None:
            order = len(self._right_facts)
            self._right[facts] = order
            self._right_facts.append(facts)
            self._right_pattern.append(self._pattern(facts))
            self._right_patterns = np.asarray(self._right_pattern, dtype=np.int64)
            self._right_sizes = np.asarray([len(f) for f in self._right_facts], dtype=np.int64)
        return order

    def _store(self, left: tuple[int, ...], right: tuple[int, ...], zero_level: bool) -> int | None:
        """Store a context; its id when new. A zero-level one that exists is marked so."""
        sides = (self._left_side(left), self._right_side(right))
        context_id = self._context.get(sides)
        new = context_id is None
        if context_id is None:
            context_id = self._tried.size
            self._context[sides] = context_id
            self._context_left.append(sides[0])
            self._context_right.append(sides[1])
            self._tried.append(0)
            self._hits.append(0)
            self._activations.append(0)
            self._left_key.append(_fact_key(left))
            self._right_key.append(_fact_key(right))
        if zero_level and context_id not in self._zero_level:
            self._zero_level.add(context_id)
            self._zero_context.append(context_id)
        return context_id if new else None

    def _cross_left(self, group: tuple[int, ...], level: int) -> None:
        """Each left side's mask against ``group``, and whether it holds the side whole."""
        masks = self._overlap[level][self._left_pattern.view()]
        for position, fact in enumerate(group[self.bits :], start=self.bits):
            column = self._by_context_fact.get(fact)
            if column is not None:
                masks[column.view()] |= 1 << position
        self._masks = masks
        self._left_group = group
        whole = np.bitwise_count(masks) == self._left_size.view()
        self._applying = np.flatnonzero(whole[self._context_left.view()])

    def step(self, facts: tuple[int, ...], level: int) -> tuple[set[int], float, float]:
        """One sample: its value facts (sorted, one per bit) and its scaled level.

        Returns:
            ``(predicted facts of the next sample, share of selected contexts that were
            active, share of proposed contexts that were new)``.
        """
        group = self._left_group
        fresh: int | None = None
        if group:
            fresh = self._store(group, facts, zero_level=True)
        right_mask = self._overlap[level][self._right_patterns]
        right_matched = np.bitwise_count(right_mask).astype(np.int64)

        # right crossing: the contexts whose left side the previous group held whole (the
        # last left crossing's) meet this sample; a context stored since then is the fresh
        # one, left out (context 0 is left out when no zero-level context is new, as in the
        # published detector, whose "no new context" marker compares equal to id 0)
        skipped = 0 if fresh is None else fresh
        selected = self._applying[self._applying != skipped]
        right = self._context_right.view()[selected]
        size, matched = self._right_sizes[right], right_matched[right]
        self._tried.view()[selected] += size
        self._hits.view()[selected] += matched
        active = selected[matched == size]
        activations = self._activations.view()
        activations[active] += 1
        active_share = active.size / selected.size if selected.size else 0.0

        proposals = (
            self._proposals(group, facts, level, fresh, right_mask) if fresh is not None else []
        )
        order = np.lexsort(
            (
                active,
                self._right_key.view()[active],
                self._left_key.view()[active],
                activations[active],
            )
        )
        chosen = active[order[-self.max_active_contexts :]] + _CONTEXT
        next_group = tuple(sorted({*facts, *chosen.tolist()}))

        # left crossing: store the proposals, then predict from the contexts the new left
        # group selects: those with the best ratio of hits
        added_share = 0.0
        if fresh is not None:
            new = 1 + sum(self._store(*pair, zero_level=False) is not None for pair in proposals)
            added_share = new / len(set(proposals) | {(group, facts)})
        self._cross_left(next_group, level)
        applying = self._applying
        tried = self._tried.view()[applying]
        ratio = np.zeros(applying.shape[0])
        np.divide(self._hits.view()[applying], tried, out=ratio, where=tried > 0)
        best = max(float(ratio.max()), 0.0) if ratio.size else 0.0
        predicted: set[int] = set()
        for right_order in np.unique(self._context_right.view()[applying[ratio == best]]).tolist():
            predicted.update(self._right_facts[right_order])
        return predicted, active_share, added_share

    def _proposals(
        self,
        group: tuple[int, ...],
        facts: tuple[int, ...],
        level: int,
        fresh: int,
        right_masks: npt.NDArray[np.int64],
    ) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """The crossings of zero-level contexts with (previous group, this sample), in the
        order the published detector makes them: by left side, then by context."""
        context = self._zero_context.view()
        context = context[context != fresh]
        left = self._context_left.view()[context]
        right = self._context_right.view()[context]
        masks = self._masks
        # sides stored after the last crossing hold nothing of it
        left_mask = np.zeros(left.shape[0], dtype=np.int64)
        known = left < masks.shape[0]
        left_mask[known] = masks[left[known]]
        right_mask = right_masks[right]
        left_count = np.bitwise_count(left_mask)
        right_count = np.bitwise_count(right_mask)
        right_size = self._right_sizes[right]
        whole = (left_count == self._left_size.view()[left]) & (right_count == right_size)
        keep = (left_count > 0) & (right_count > 0) & (left_count <= self.max_left_facts) & ~whole
        rows = np.flatnonzero(keep)
        if rows.size == 0:
            return []
        rows = rows[np.lexsort((context[rows], left[rows]))]
        keys = (left_mask[rows] << 8) | right_mask[rows]
        _, first = np.unique(keys, return_index=True)
        proposals = []
        lefts: dict[int, tuple[int, ...]] = {}  # many proposals share a side
        rights: dict[int, tuple[int, ...]] = {}
        for key in keys[np.sort(first)].tolist():
            lm, rm = key >> 8, key & 0xFF
            left_facts = lefts.get(lm)
            if left_facts is None:
                left_facts = tuple(f for j, f in enumerate(group) if lm >> j & 1)
                lefts[lm] = left_facts
            right_facts = rights.get(rm)
            if right_facts is None:
                right_facts = tuple(f for j, f in enumerate(facts) if rm >> j & 1)
                rights[rm] = right_facts
            proposals.append((left_facts, right_facts))
        return proposals


class ContextualAnomalyDetector(Model):
    """CAD OSE over one series: a score in [0, 1] per sample, learning as it goes.

    Args:
        low: the lowest expected value (NAB gives every detector the series' minimum).
        high: the highest expected value; values outside ``[low, high]`` are clipped.
        bits: bits per scaled value (``2**bits`` levels).
        suppression_level: a score at least this high silences the next ``rest_period``.
        rest_period: samples silenced after a high score (NAB: a fifth of its
            probationary period).
        max_left_facts: largest left side a crossing may propose.
        max_active_contexts: context facts carried into the next step.
        threshold: the alarm level of :meth:`predict`.
        range_tolerance: when set, a value beyond the range of the values seen so far by
            more than this share of that range scores 1 (a *spatial* anomaly, as NAB's
            Numenta detector adds to HTM): the value scale's extremes clip such values, so
            the contexts alone can miss them. ``None`` (the published CAD OSE) leaves it off.
    """

    _STATE = ("memory_", "predicted_", "recent_", "seen_low_", "seen_high_")

    def __init__(
        self,
        low: float = 0.0,
        high: float = 1.0,
        bits: int = 3,
        suppression_level: float = 0.75,
        rest_period: int = 30,
        max_left_facts: int = 7,
        max_active_contexts: int = 15,
        threshold: float = 0.75,
        range_tolerance: float | None = None,
    ) -> None:
        self.low = low
        self.high = high
        self.bits = bits
        self.suppression_level = suppression_level
        self.rest_period = rest_period
        self.max_left_facts = max_left_facts
        self.max_active_contexts = max_active_contexts
        self.threshold = threshold
        self.range_tolerance = range_tolerance

    def fit(self, history: npt.ArrayLike = ()) -> Self:
        """Start afresh, then learn ``history`` (its scores are discarded).

        Raises:
            ValueError: a rest period under 1 sample, or ``bits`` outside 1..8.
        """
        if self.rest_period < 1:
            raise ValueError("rest_period must be at least 1 sample")
        self.memory_ = ContextMemory(self.bits, self.max_left_facts, self.max_active_contexts)
        self.predicted_: set[int] = set()
        self.recent_: list[float] = [1.0]  # as published: silent for the first rest period
        self.seen_low_ = math.inf
        self.seen_high_ = -math.inf
        values = np.asarray(history, dtype=float).reshape(-1)
        if values.size:
            self.update(values)
        return self

    def level(self, value: float) -> int:
        """The scaled level of one value, ``0..2**bits - 1`` over ``[low, high]``."""
        top = 2**self.bits - 1
        span = self.high - self.low
        step = (span if span != 0.0 else float(top)) / top
        level = int((value - self.low) / step) if math.isfinite(value) else 0
        return int(min(max(level, 0), top))

    def facts(self, level: int) -> tuple[int, ...]:
        """The facts of a level: one per bit."""
        return tuple(_SENSOR + 2 * bit + ((level >> bit) & 1) for bit in range(self.bits))

    def step(self, value: float) -> float:
        """The anomaly score of one sample, in [0, 1]; the sample is then learned."""
        if not hasattr(self, "memory_"):
            raise NotFittedError("ContextualAnomalyDetector is not fitted yet: call fit() first")
        level = self.level(value)
        facts = self.facts(level)
        surprised = any(fact not in self.predicted_ for fact in facts)
        self.predicted_, active_share, added_share = self.memory_.step(facts, level)
        score = (1.0 - active_share + added_share) / 2.0 if surprised else 0.0
        if self.range_tolerance is not None and math.isfinite(value):
            low, high = self.seen_low_, self.seen_high_
            margin = (high - low) * self.range_tolerance
            if high > low and not low - margin <= value <= high + margin:
                score = 1.0
            self.seen_low_, self.seen_high_ = min(low, value), max(high, value)
        recent = self.recent_
        quiet = max(recent[-self.rest_period :]) < self.suppression_level
        recent.append(score)
        if len(recent) > self.rest_period:
            del recent[: len(recent) - self.rest_period]
        return score if quiet else 0.0

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """Scores of several samples of the series, learning each."""
        return np.array([self.step(float(v)) for v in np.asarray(values, dtype=float).ravel()])

    def score(self, values: npt.ArrayLike) -> FloatArray:
        """The scores :meth:`update` would give, model unchanged."""
        return copy.deepcopy(self).update(values)

    def predict(self, values: npt.ArrayLike) -> npt.NDArray[np.bool_]:
        """Alarms (score >= threshold), model unchanged."""
        return self.score(values) >= self.threshold

    def _encode_state(self, name: str, value: object) -> object:
        if isinstance(value, ContextMemory):
            return value.to_dict()
        if isinstance(value, set):
            return sorted(value)
        return super()._encode_state(name, value)

    @classmethod
    def _decode_state(cls, name: str, data: object) -> object:
        if name == "memory_":
            if not isinstance(data, Mapping):
                raise TypeError("malformed saved detector: expected an object")
            return ContextMemory.from_dict(data)
        if name == "predicted_":
            return set(_ints(data))
        if name == "recent_":
            return [float(v) for v in _numbers(data)]
        return super()._decode_state(name, data)
