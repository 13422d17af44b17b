"""The inventory as intents see it: device names and labels, for references and overlaps.

Pure: built from :class:`controller.model.Device` values (or only names, when no labels are
known), never from files.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controller.model import Device, ExpectationObjects

__all__ = ["Inventory"]


@dataclass(frozen=True, slots=True)
class Inventory:
    """Device names and their labels.

    ``labels_known`` is False when only names were given (``--inventory`` not passed, or a
    caller with a name list): label selectors can then not be checked or resolved.
    """

    labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    labels_known: bool = True

    @staticmethod
    def from_devices(devices: Iterable[Device]) -> Inventory:
        """An inventory with names and labels."""
        return Inventory(labels={d.name: dict(d.labels) for d in devices})

    @staticmethod
    def from_names(names: Iterable[str]) -> Inventory:
        """An inventory of names only (labels unknown)."""
        return Inventory(labels={name: {} for name in names}, labels_known=False)

    @property
    def names(self) -> frozenset[str]:
        """Every device name."""
        return frozenset(self.labels)

    def label_values(self, key: str) -> frozenset[str]:
        """Every value the label ``key`` takes on some device."""
        return frozenset(labels[key] for labels in self.labels.values() if key in labels)

    def label_keys(self) -> frozenset[str]:
        """Every label key used by some device."""
        return frozenset(k for labels in self.labels.values() for k in labels)

    def matching(self, select: Mapping[str, str], devices: Iterable[str] = ()) -> frozenset[str]:
        """Devices that carry every label of ``select`` (and are in ``devices``, if given)."""
        wanted = frozenset(devices)
        return frozenset(
            name
            for name, labels in self.labels.items()
            if (not wanted or name in wanted) and all(labels.get(k) == v for k, v in select.items())
        )

    def selected(self, objects: ExpectationObjects) -> frozenset[str]:
        """The devices an expectation's objects select (both selectors empty: all)."""
        return self.matching(objects.select, objects.devices)
