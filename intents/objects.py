"""Expectation objects beyond the core model: site pairs, subscriber groups, sleep resources.

:class:`Objects` extends :class:`controller.model.ExpectationObjects` with the fields that
energy-saving and video-experience expectations (and e2e-qos between sites) need, so the
loop, the KPIs and the policies keep working on the core type while the loader records the
whole of what the file said. (When the core model grows these fields, this subclass goes.)
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.model import ExpectationObjects

__all__ = ["Objects", "SitePair", "describe_objects"]


@dataclass(frozen=True, slots=True)
class SitePair:
    """An end-to-end relation between two sites (values of the inventory label ``site``)."""

    source: str
    destination: str


@dataclass(frozen=True, slots=True)
class Objects(ExpectationObjects):
    """28.312 expectationObjects, as netpilot files declare them.

    ``sites`` is the e2e-qos alternative to ``path``; ``subscriber_group`` scopes a
    video-experience expectation; ``resources`` lists what an energy-saving expectation may
    put to sleep.
    """

    sites: SitePair | None = None
    subscriber_group: str = ""
    resources: tuple[str, ...] = ()


def describe_objects(objects: ExpectationObjects) -> str:
    """Short human text for objects: ``video on r1->r4``, ``site=east,role=core``..."""
    parts: list[str] = []
    if objects.traffic_class is not None:
        parts.append(objects.traffic_class.value)
    if objects.path is not None:
        parts.append(f"path {objects.path.source}->{objects.path.destination}")
    if isinstance(objects, Objects) and objects.sites is not None:
        parts.append(f"sites {objects.sites.source}->{objects.sites.destination}")
    if objects.devices:
        parts.append("devices " + ",".join(objects.devices))
    if objects.select:
        parts.append(",".join(f"{k}={v}" for k, v in sorted(objects.select.items())))
    if isinstance(objects, Objects) and objects.subscriber_group:
        parts.append(f"subscribers {objects.subscriber_group}")
    return " ".join(parts) or "every device"
