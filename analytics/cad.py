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

The memory grows with novelty, not with time: on a repetitive series it stops growing.

**How it runs.** The memory and the detector's step are compiled by numba
(analytics/_cad_kernel.py, whose docstring lays out the state): the memory is a numba struct
of growing int64 arrays -- left sides as CSR fact lists found through a hash table keyed by
their fixed fact hash, right sides by their base-3 pattern of value facts, contexts as
columns (left, right, tried, hits, activations, the two fact hashes) found through a hash
table on (left, right), the zero-level contexts in the order they became so, and the last
left crossing (its group, level and the contexts it applies). A crossing visits only the
sides that can be whole: the sides of value facts only through one list per pattern, the
others through one list per context fact. A sample (level, surprise, memory step, range
check, rest period) is one compiled call; :meth:`ContextualAnomalyDetector.update` loops
in compiled code and :class:`ContextualAnomalyBank` steps a tick of many series in one
call. The published detector's orders are kept exactly (the same floats as the direct
transcription in tests/analytics/cad_reference.py). Cost is per series and grows with the
memory: see docs/benchmarks/models.md.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from numba.typed import List

from analytics import _cad_kernel as kernel
from analytics._params import Model, NotFittedError

__all__ = ["ContextMemory", "ContextualAnomalyBank", "ContextualAnomalyDetector"]

FloatArray = npt.NDArray[np.float64]

# facts are ints: a value bit is _SENSOR + 2 * bit + (0 or 1); a context fact _CONTEXT + id
_SENSOR = kernel.SENSOR
_CONTEXT = kernel.CONTEXT


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


def _fact_mask(facts: object, bits: int) -> int:
    """Value facts as a mask of bits ``2 * bit + value`` (other facts are never predicted)."""
    mask = 0
    for fact in _ints(facts):
        if _SENSOR <= fact < _SENSOR + 2 * bits:
            mask |= 1 << (fact - _SENSOR)
    return mask


def _mask_facts(mask: int, bits: int) -> set[int]:
    return {_SENSOR + j for j in range(2 * bits) if mask >> j & 1}


class ContextMemory:
    """The context memory of one series (the algorithm of the module docstring).

    Its state is a compiled struct (analytics/_cad_kernel.py lays it out); this class
    creates, steps, copies and saves it, in the JSON form the numpy memory it replaced
    saved (so memories saved before load).

    Args:
        bits: value facts per sample (one per bit of the scaled value).
        max_left_facts: largest left side a crossing may propose.
        max_active_contexts: context facts carried into the next left group
            (1..55 - ``bits``).
    """

    def __init__(
        self, bits: int = 3, max_left_facts: int = 7, max_active_contexts: int = 15
    ) -> None:
        if not 1 <= bits <= 8:
            raise ValueError("bits must be between 1 and 8")
        # a left group (bits + contexts facts) is a bit mask in the compiled memory, shifted
        # by 8 bits in an int64 key: at most 55 facts (this also rules out k <= 0, which
        # Python's order[-k:] reads as "all" or "all but k")
        if not 1 <= max_active_contexts <= 55 - bits:
            raise ValueError(f"max_active_contexts must be between 1 and {55 - bits}")
        self.bits = bits
        self.max_left_facts = max_left_facts
        self.max_active_contexts = max_active_contexts
        self._state: Any = kernel.new_memory(bits, max_left_facts, max_active_contexts)

    def __deepcopy__(self, memo: dict[int, object]) -> ContextMemory:
        copied = copy.copy(self)
        copied._state = kernel.copy_memory(self._state)
        return copied

    def __reduce__(self) -> tuple[object, tuple[dict[str, object]]]:
        # the compiled struct does not pickle; its saved form does (for process pools)
        return (ContextMemory.from_dict, (self.to_dict(),))

    @property
    def contexts(self) -> int:
        """Number of stored contexts."""
        return int(kernel.memory_size(self._state)[1])

    def step(self, level: int) -> tuple[set[int], float, float]:
        """One sample, by its scaled level (its facts: one per bit).

        Returns:
            ``(predicted facts of the next sample, share of selected contexts that were
            active, share of proposed contexts that were new)``.
        """
        if not 0 <= level < 2**self.bits:
            raise ValueError(f"level must be in 0..{2**self.bits - 1}")
        predicted, active_share, added_share = kernel.memory_step(self._state, level)
        return _mask_facts(int(predicted), self.bits), float(active_share), float(added_share)

    def to_dict(self) -> dict[str, object]:
        """The memory as plain JSON data (sides as fact lists, contexts as columns)."""
        columns = [column.tolist() for column in kernel.export_memory(self._state)]
        starts, sizes, pool, present, values = columns[:5]
        names = ("context_left", "context_right", "tried", "hits", "activations", "zero_level")
        return {
            "bits": self.bits,
            "max_left_facts": self.max_left_facts,
            "max_active_contexts": self.max_active_contexts,
            "left": [pool[start : start + size] for start, size in zip(starts, sizes, strict=True)],
            "right": [
                [_SENSOR + 2 * bit + (v >> bit & 1) for bit in range(self.bits) if p >> bit & 1]
                for p, v in zip(present, values, strict=True)
            ],
            **dict(zip(names, columns[5:11], strict=True)),
            "group": columns[11],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ContextMemory:
        """The inverse of :meth:`to_dict` (the format is the one of the numpy memory that
        came before the compiled one: memories saved by either load).

        Raises:
            ValueError: malformed data.
        """
        try:
            memory = cls(
                *_ints([data["bits"], data["max_left_facts"], data["max_active_contexts"]])
            )
            lefts = [tuple(_ints(side)) for side in _items(data["left"])]
            rights = [tuple(_ints(side)) for side in _items(data["right"])]
            columns = [
                _ints(data[name])
                for name in ("context_left", "context_right", "tried", "hits", "activations")
            ]
            rows = list(zip(*columns, strict=True))
            zero_level = _ints(data["zero_level"])
            group = _ints(data["group"])
            memory._check(lefts, rights, rows, zero_level, group)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ValueError(f"malformed context memory: {exc}") from exc
        present, values = [], []
        for facts in rights:
            present.append(sum(1 << ((f - _SENSOR) >> 1) for f in facts))
            values.append(sum(((f - _SENSOR) & 1) << ((f - _SENSOR) >> 1) for f in facts))
        kernel.load_memory(
            memory._state,
            np.asarray([f for side in lefts for f in side], dtype=np.int64),
            np.asarray([len(side) for side in lefts], dtype=np.int64),
            np.asarray(present, dtype=np.int64),
            np.asarray(values, dtype=np.int64),
            np.asarray(rows, dtype=np.int64).reshape(-1, 5),
            np.asarray(zero_level, dtype=np.int64),
            np.asarray(group, dtype=np.int64),
        )
        return memory

    def _check(
        self,
        lefts: list[tuple[int, ...]],
        rights: list[tuple[int, ...]],
        rows: list[tuple[int, ...]],
        zero_level: list[int],
        group: list[int],
    ) -> None:
        """What the compiled memory relies on in saved data (raises ValueError)."""
        value_facts = range(_SENSOR, _SENSOR + 2 * self.bits)
        contexts = range(_CONTEXT, _CONTEXT + len(rows))
        for side in lefts:
            if not all(f in value_facts or f in contexts for f in side):
                raise ValueError("a left side holds an unknown fact")
        for side in rights:
            if list(side) != sorted(side) or len({(f - _SENSOR) >> 1 for f in side}) != len(side):
                raise ValueError("a right side is not sorted facts of distinct bits")
            if not all(f in value_facts for f in side):
                raise ValueError("a right side holds a fact that is not a value fact")
        if len(set(lefts)) != len(lefts) or len(set(rights)) != len(rights):
            raise ValueError("a side is listed twice")
        if len({row[:2] for row in rows}) != len(rows):
            raise ValueError("a context is listed twice")
        if not all(0 <= row[0] < len(lefts) and 0 <= row[1] < len(rights) for row in rows):
            raise ValueError("a context refers to a side that does not exist")
        if not all(0 <= c < len(rows) for c in zero_level) or len(set(zero_level)) != len(
            zero_level
        ):
            raise ValueError("bad zero-level contexts")
        if group and group[: self.bits] != [
            _SENSOR + 2 * b + (group[b] & 1) for b in range(self.bits)
        ]:
            raise ValueError("the group does not start with one value fact per bit")
        if not all(f in contexts for f in group[self.bits :]):
            raise ValueError("the group holds an unknown context fact")


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

        The hyperparameters are read here (and when a saved detector is loaded).

        Raises:
            ValueError: a rest period under 1 sample, ``bits`` outside 1..8, or
                ``max_active_contexts`` outside 1..55 - ``bits``.
        """
        if self.rest_period < 1:
            raise ValueError("rest_period must be at least 1 sample")
        self.memory_ = ContextMemory(self.bits, self.max_left_facts, self.max_active_contexts)
        self.__dict__.pop("_run", None)
        self.predicted_ = set()
        self.recent_ = [1.0]  # as published: silent for the first rest period
        self.seen_low_ = math.inf
        self.seen_high_ = -math.inf
        values = np.asarray(history, dtype=float).reshape(-1)
        if values.size:
            self.update(values)
        return self

    # The learned state besides the memory lives in one float array that the compiled step
    # reads and writes (analytics/_cad_kernel.py, R_*); these properties are its saved form.

    def _runtime(self) -> FloatArray:
        """The compiled step's float state, made from the hyperparameters when missing."""
        run: FloatArray | None = self.__dict__.get("_run")
        if run is None:
            if self.rest_period < 1:
                raise ValueError("rest_period must be at least 1 sample")
            run = np.zeros(kernel.R_RING + self.rest_period)
            run[kernel.R_LOW], run[kernel.R_HIGH] = self.low, self.high
            run[kernel.R_SUPPRESSION] = self.suppression_level
            run[kernel.R_TOLERANCE] = (
                math.nan if self.range_tolerance is None else self.range_tolerance
            )
            run[kernel.R_REST] = self.rest_period
            run[kernel.R_SEEN_LOW], run[kernel.R_SEEN_HIGH] = math.inf, -math.inf
            run[kernel.R_SINCE_LOUD] = kernel.NEVER
            self._run = run
        return run

    def _fitted_run(self) -> FloatArray:
        run: FloatArray | None = self.__dict__.get("_run")
        if run is None:
            raise AttributeError("not fitted")
        return run

    @property
    def predicted_(self) -> set[int]:
        """The facts predicted for the next sample."""
        return _mask_facts(int(self._fitted_run()[kernel.R_PREDICTED]), self.bits)

    @predicted_.setter
    def predicted_(self, facts: set[int]) -> None:
        self._runtime()[kernel.R_PREDICTED] = _fact_mask(sorted(facts), self.bits)

    @property
    def recent_(self) -> list[float]:
        """The last ``rest_period`` scores, oldest first."""
        run = self._fitted_run()
        rest, count, following = (
            int(run[i]) for i in (kernel.R_REST, kernel.R_COUNT, kernel.R_NEXT)
        )
        return [float(run[kernel.R_RING + (following - count + i) % rest]) for i in range(count)]

    @recent_.setter
    def recent_(self, scores: list[float]) -> None:
        run = self._runtime()
        rest = int(run[kernel.R_REST])
        kept = scores[-rest:]
        run[kernel.R_RING : kernel.R_RING + len(kept)] = kept
        run[kernel.R_COUNT], run[kernel.R_NEXT] = len(kept), len(kept) % rest
        loud = [i for i, score in enumerate(kept) if not score < run[kernel.R_SUPPRESSION]]
        run[kernel.R_SINCE_LOUD] = len(kept) - 1 - loud[-1] if loud else kernel.NEVER

    @property
    def seen_low_(self) -> float:
        """The lowest value seen (by the range check)."""
        return float(self._fitted_run()[kernel.R_SEEN_LOW])

    @seen_low_.setter
    def seen_low_(self, value: float) -> None:
        self._runtime()[kernel.R_SEEN_LOW] = value

    @property
    def seen_high_(self) -> float:
        """The highest value seen (by the range check)."""
        return float(self._fitted_run()[kernel.R_SEEN_HIGH])

    @seen_high_.setter
    def seen_high_(self, value: float) -> None:
        self._runtime()[kernel.R_SEEN_HIGH] = value

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

    def _compiled_state(self) -> tuple[Any, FloatArray]:
        memory: ContextMemory | None = self.__dict__.get("memory_")
        run: FloatArray | None = self.__dict__.get("_run")
        if memory is None or run is None:
            raise NotFittedError("ContextualAnomalyDetector is not fitted yet: call fit() first")
        return memory._state, run

    def step(self, value: float) -> float:
        """The anomaly score of one sample, in [0, 1]; the sample is then learned."""
        return float(kernel.detector_step(*self._compiled_state(), float(value)))

    def update(self, values: npt.ArrayLike) -> FloatArray:
        """Scores of several samples of the series, learning each (one compiled loop)."""
        state, run = self._compiled_state()
        samples = np.ascontiguousarray(np.asarray(values, dtype=np.float64).ravel())
        scores: FloatArray = kernel.detector_update(state, run, samples)
        return scores

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


class ContextualAnomalyBank:
    """Many fitted CAD OSE detectors (one per series) stepped together: one tick of every
    series is one compiled call, so the call's overhead is shared by the series.

    The detectors themselves learn (the bank holds their state, not a copy): a detector's
    :meth:`~ContextualAnomalyDetector.to_dict` after ticks of the bank saves them. Build the
    bank again after fitting or replacing a detector.

    Args:
        detectors: fitted detectors, in the order of the values of a tick.
    """

    def __init__(self, detectors: Sequence[ContextualAnomalyDetector]) -> None:
        self.detectors = list(detectors)
        self._states: Any = List()
        self._runs: Any = List()
        for detector in self.detectors:
            state, run = detector._compiled_state()
            self._states.append(state)
            self._runs.append(run)

    def step(self, values: npt.ArrayLike) -> FloatArray:
        """The scores of one tick: ``values[i]`` is the next sample of detector ``i``."""
        samples = np.ascontiguousarray(np.asarray(values, dtype=np.float64).ravel())
        if samples.shape[0] != len(self.detectors):
            raise ValueError(f"expected {len(self.detectors)} values, got {samples.shape[0]}")
        scores = np.empty(samples.shape[0])
        if samples.shape[0]:
            kernel.bank_step(self._states, self._runs, samples, scores)
        return scores
