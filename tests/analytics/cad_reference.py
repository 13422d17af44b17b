"""A direct, slow transcription of CAD OSE's context memory (as analytics/cad.py's docstring
describes it): every crossing visits every stored side; and the detector around it. The tests
check that the compiled memory and detector of analytics/cad.py give the same predictions,
shares and scores (the same floats), step for step."""

from __future__ import annotations

import math

# facts are ints: a value bit is _SENSOR + 2 * bit + (0 or 1); a context fact _CONTEXT + id
_SENSOR = 1 << 16
_CONTEXT = 1 << 31


class _Semi:
    """One side of stored contexts: a set of facts, shared by every context with that side."""

    __slots__ = ("contexts", "crossed", "facts", "order", "size")

    def __init__(self, facts: tuple[int, ...], order: int) -> None:
        self.facts = facts
        self.size = len(facts)
        self.order = order  # creation order: crossings visit sides in it
        self.crossed: list[int] = []  # the facts of the last crossing present in this side
        self.contexts: dict[int, int] = {}  # left sides only: right side order -> context id


class _Context:
    __slots__ = ("activations", "hits", "key", "right", "tried", "zero_level")

    def __init__(self, right: tuple[int, ...], zero_level: bool, key: tuple[int, int]) -> None:
        self.tried = 0
        self.hits = 0
        self.activations = 0
        self.right = right
        self.zero_level = zero_level
        self.key = key  # the tie-break between equally activated contexts


def _fact_key(facts: tuple[int, ...]) -> int:
    """A fixed hash of a set of facts (independent of the interpreter's hash seed)."""
    value = 0x345678
    multiplier = 1000003
    for index, fact in enumerate(facts):
        value = ((value ^ fact) * multiplier) & 0x7FFFFFFFFFFFFFFF
        multiplier += 82520 + 2 * (len(facts) - index - 1)
    return value


class ReferenceContextMemory:
    """The context memory of one series (the algorithm of the module docstring).

    Args:
        max_left_facts: largest left side a crossing may propose.
        max_active_contexts: context facts carried into the next left group.
    """

    def __init__(self, max_left_facts: int = 7, max_active_contexts: int = 15) -> None:
        self.max_left_facts = max_left_facts
        self.max_active_contexts = max_active_contexts
        self._sides: tuple[dict[tuple[int, ...], _Semi], dict[tuple[int, ...], _Semi]] = ({}, {})
        self._by_fact: tuple[dict[int, list[_Semi]], dict[int, list[_Semi]]] = ({}, {})
        self._right_by_order: list[_Semi] = []
        self._crossed: tuple[list[_Semi], list[_Semi]] = ([], [])
        self._contexts: list[_Context] = []
        self._left_group: tuple[int, ...] = ()
        self._fresh: int | None = None  # the zero-level context stored this step

    @property
    def contexts(self) -> int:
        """Number of stored contexts."""
        return len(self._contexts)

    def _side(self, which: int, facts: tuple[int, ...]) -> _Semi:
        sides = self._sides[which]
        semi = sides.get(facts)
        if semi is None:
            semi = _Semi(facts, len(sides))
            sides[facts] = semi
            if which == 1:
                self._right_by_order.append(semi)
            index = self._by_fact[which]
            for fact in facts:
                index.setdefault(fact, []).append(semi)
        return semi

    def _store(self, left: tuple[int, ...], right: tuple[int, ...], zero_level: bool) -> bool:
        """Store a context; whether it is new. A zero-level one that exists is marked so."""
        left_side = self._side(0, left)
        right_side = self._side(1, right)
        context_id = left_side.contexts.get(right_side.order)
        if context_id is None:
            context_id = len(self._contexts)
            left_side.contexts[right_side.order] = context_id
            self._contexts.append(_Context(right, zero_level, (_fact_key(left), _fact_key(right))))
            if zero_level:
                self._fresh = context_id
            return True
        if zero_level:
            self._contexts[context_id].zero_level = True
        return False

    def _cross(self, which: int, facts: tuple[int, ...]) -> list[_Semi]:
        """Record in every side which of ``facts`` it holds; the sides holding any, in order."""
        for semi in self._crossed[which]:
            semi.crossed = []
        touched: dict[int, _Semi] = {}
        index = self._by_fact[which]
        for fact in facts:
            for semi in index.get(fact, ()):
                semi.crossed.append(fact)
                touched[semi.order] = semi
        crossed = [touched[order] for order in sorted(touched)]
        self._crossed = (crossed, self._crossed[1]) if which == 0 else (self._crossed[0], crossed)
        return crossed

    def step(self, facts: tuple[int, ...]) -> tuple[set[int], float, float]:  # noqa: C901
        """One sample's facts (sorted, unique).

        Returns:
            ``(predicted facts of the next sample, share of selected contexts that were
            active, share of proposed contexts that were new)``.
        """
        proposed: set[tuple[tuple[int, ...], tuple[int, ...]]] = set()
        stored_zero = False
        if self._left_group and facts:
            proposed.add((self._left_group, facts))
            stored_zero = self._store(self._left_group, facts, zero_level=True)

        # right crossing: the contexts selected by the previous left group meet this sample
        self._cross(1, facts)
        right_sides = self._right_by_order
        active: list[tuple[int, int, int, int]] = []
        selected = 0
        proposals: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        # Context 0 is never updated, as in the published detector (its "no new context"
        # marker compares equal to id 0); kept so that the scores match it.
        fresh = 0 if self._fresh is None else self._fresh
        contexts = self._contexts
        for left_side in self._crossed[0]:
            matched_left = len(left_side.crossed)
            whole_left = matched_left == left_side.size
            for right_order, context_id in left_side.contexts.items():
                if context_id == fresh:
                    continue
                context = contexts[context_id]
                right_side = right_sides[right_order]
                matched_right = len(right_side.crossed)
                if whole_left:
                    selected += 1
                    context.tried += right_side.size
                    if matched_right > 0:
                        context.hits += matched_right
                        if matched_right == right_side.size:
                            context.activations += 1
                            active.append((context.activations, *context.key, context_id))
                            continue
                    else:
                        continue
                elif matched_right == 0:
                    continue
                if context.zero_level and stored_zero and matched_left <= self.max_left_facts:
                    proposals.append((tuple(left_side.crossed), tuple(right_side.crossed)))
        self._fresh = None
        proposed.update(proposals)
        active_share = len(active) / selected if selected else 0.0

        active.sort()
        chosen = [_CONTEXT + item[3] for item in active[-self.max_active_contexts :]]
        self._left_group = tuple(sorted({*facts, *chosen}))

        # left crossing: store the proposals, then predict from the contexts the new left
        # group selects
        new = sum(self._store(left, right, zero_level=False) for left, right in proposals)
        new += 1 if stored_zero else 0
        added_share = new / len(proposed) if stored_zero and proposed else 0.0
        best = 0.0
        predicting: list[_Context] = []
        for left_side in self._cross(0, self._left_group):
            if len(left_side.crossed) != left_side.size:
                continue
            for context_id in left_side.contexts.values():
                context = contexts[context_id]
                weight = context.hits / context.tried if context.tried else 0.0
                if weight > best:
                    best = weight
                    predicting = [context]
                elif weight == best:
                    predicting.append(context)
        predicted: set[int] = set()
        for context in predicting:
            predicted.update(context.right)
        return predicted, active_share, added_share


class ReferenceDetector:
    """CAD OSE's detector over :class:`ReferenceContextMemory`, transcribed from the
    numpy implementation that analytics/cad.py had before its memory was compiled: the
    value scale, the surprise check, the score, the range check and the rest period."""

    def __init__(
        self,
        low: float = 0.0,
        high: float = 1.0,
        bits: int = 3,
        suppression_level: float = 0.75,
        rest_period: int = 30,
        max_left_facts: int = 7,
        max_active_contexts: int = 15,
        range_tolerance: float | None = None,
    ) -> None:
        self.low, self.high, self.bits = low, high, bits
        self.suppression_level, self.rest_period = suppression_level, rest_period
        self.range_tolerance = range_tolerance
        self.memory = ReferenceContextMemory(max_left_facts, max_active_contexts)
        self.predicted: set[int] = set()
        self.recent = [1.0]
        self.seen_low, self.seen_high = math.inf, -math.inf

    def level(self, value: float) -> int:
        top = 2**self.bits - 1
        span = self.high - self.low
        step = (span if span != 0.0 else float(top)) / top
        level = int((value - self.low) / step) if math.isfinite(value) else 0
        return int(min(max(level, 0), top))

    def facts(self, level: int) -> tuple[int, ...]:
        return tuple(_SENSOR + 2 * bit + ((level >> bit) & 1) for bit in range(self.bits))

    def step(self, value: float) -> float:
        facts = self.facts(self.level(value))
        surprised = any(fact not in self.predicted for fact in facts)
        self.predicted, active_share, added_share = self.memory.step(facts)
        score = (1.0 - active_share + added_share) / 2.0 if surprised else 0.0
        if self.range_tolerance is not None and math.isfinite(value):
            low, high = self.seen_low, self.seen_high
            margin = (high - low) * self.range_tolerance
            if high > low and not low - margin <= value <= high + margin:
                score = 1.0
            self.seen_low, self.seen_high = min(low, value), max(high, value)
        quiet = max(self.recent[-self.rest_period :]) < self.suppression_level
        self.recent.append(score)
        del self.recent[: max(len(self.recent) - self.rest_period, 0)]
        return score if quiet else 0.0
