"""Messages the controller's observer posts to the operator console."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from controller.loop import Controller, TickReport
from controller.model import ChangeResult, Decision


@dataclass
class ControllerReady(Message):
    """The controller is built; the console may query it and act through it."""

    controller: Controller


@dataclass
class TickFinished(Message):
    """A loop tick ended."""

    report: TickReport


@dataclass
class ChangeStarted(Message):
    """A change transaction started."""

    decision: Decision
    txn: str


@dataclass
class ChangeFinished(Message):
    """A change transaction ended."""

    result: ChangeResult


@dataclass
class RunFinished(Message):
    """The controller run ended (duration reached or stopped)."""

    summary: dict[str, object]


@dataclass
class ConnectionChanged(Message):
    """A remote console lost its daemon (``problem`` says why) or got it back (``""``)."""

    problem: str
