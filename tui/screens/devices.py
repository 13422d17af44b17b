"""Devices: health of every device, and the selected one's interfaces and class queues."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable

from controller.model import Observation
from tui.screens.base import ConsoleScreen
from tui.state import ConsoleState, health, spark
from tui.widgets.styles import health_text
from tui.widgets.tables import Row, fill_fitted, fill_table, selected_key

__all__ = ["DevicesScreen", "device_rows", "interface_rows", "queue_rows"]

TREND_WIDTH = 12
QUEUE_FLOOR_MS = 10.0  # a full bar is at least 10 ms of queueing: 1 ms draws low


def _util(value: float) -> Text:
    style = "red" if value >= 0.95 else "yellow" if value >= 0.8 else ""
    return Text(f"{value:.0%}", style=style)


# the errors last: cut to fit a narrow terminal (the daemon's log has them whole)
_DEVICE_COLUMNS = ("device", "health", "last poll", "max util", "worst queue", "errors")


def device_rows(state: ConsoleState) -> list[Row]:
    """Per device: health, last poll, busiest interface, longest queue, errors."""
    names = sorted({d.name for d in state.devices} | set(state.observations))
    rows: list[Row] = []
    for name in names:
        observation = state.observations.get(name)
        if observation is None:
            rows.append((name, (Text(name), health_text(health(None)), "-", "-", "-", "")))
            continue
        busiest = max(observation.rates, key=lambda r: r.utilization, default=None)
        worst = max(observation.queues, key=lambda q: q.queue_delay_ms, default=None)
        rows.append(
            (
                name,
                (
                    Text(name),
                    health_text(health(observation)),
                    Text(f"{observation.at:%H:%M:%S}"),
                    Text("-") if busiest is None else _util(busiest.utilization),
                    Text("-")
                    if worst is None
                    else Text(
                        f"{worst.interface} {worst.traffic_class.value} "
                        f"{worst.queue_delay_ms:.1f} ms"
                    ),
                    Text("; ".join(observation.errors), style="red"),
                ),
            )
        )
    return rows


def interface_rows(state: ConsoleState, observation: Observation) -> list[Row]:
    """The device's interfaces: state, rates, utilisation and its trend."""
    rows: list[Row] = []
    for rate in observation.rates:
        trend = spark(
            state.utilization.get((observation.device, rate.interface), ()),
            TREND_WIDTH,
            floor=1.0,  # a full bar is line rate
        )
        rows.append(
            (
                rate.interface,
                (
                    Text(rate.interface),
                    Text("up", style="green") if rate.oper_up else Text("down", style="red"),
                    Text(f"{rate.in_mbps:,.0f}"),
                    Text(f"{rate.out_mbps:,.0f}"),
                    Text(f"{rate.speed_mbps:,.0f}"),
                    _util(rate.utilization),
                    Text(trend, style="cyan"),
                ),
            )
        )
    return rows


def queue_rows(state: ConsoleState, observation: Observation) -> list[Row]:
    """The device's per-class egress queues: load, delay, drops and the delay's trend."""
    rows: list[Row] = []
    for queue in observation.queues:
        key = (observation.device, queue.interface, queue.traffic_class)
        delay_style = "red" if queue.queue_delay_ms >= 10 else ""
        rows.append(
            (
                f"{queue.interface}/{queue.traffic_class.value}",
                (
                    Text(queue.interface),
                    Text(queue.traffic_class.value),
                    Text(f"{queue.offered_mbps:,.0f}"),
                    Text(f"{queue.queue_delay_ms:.1f}", style=delay_style),
                    Text(f"{queue.drop_ratio:.1%}", style="red" if queue.drop_ratio else ""),
                    Text(
                        spark(state.queue_delay.get(key, ()), TREND_WIDTH, floor=QUEUE_FLOOR_MS),
                        style="cyan",
                    ),
                ),
            )
        )
    return rows


class DevicesScreen(ConsoleScreen):
    """Every device's health; the selected device's interfaces and queues, with trends."""

    MODE = "devices"

    def compose_body(self) -> ComposeResult:
        devices: DataTable[Text | str] = DataTable(id="devices", cursor_type="row")
        devices.border_title = "Devices"
        devices.add_columns(*_DEVICE_COLUMNS)
        yield devices
        interfaces: DataTable[Text | str] = DataTable(id="interfaces", cursor_type="row")
        interfaces.add_columns("interface", "oper", "in Mb/s", "out Mb/s", "speed", "util", "trend")
        yield interfaces
        queues: DataTable[Text | str] = DataTable(id="queues", cursor_type="row")
        queues.add_columns("interface", "class", "offered", "delay ms", "drops", "delay trend")
        yield queues

    def show(self) -> None:
        state = self.console.state
        fill_fitted(
            self.query_one("#devices", DataTable),
            _DEVICE_COLUMNS,
            device_rows(state),
            width=self.size.width or 80,
        )
        self._show_device(state)

    def _show_device(self, state: ConsoleState) -> None:
        name = selected_key(self.query_one("#devices", DataTable))
        observation = state.observations.get(name) if name else None
        interfaces = self.query_one("#interfaces", DataTable)
        queues = self.query_one("#queues", DataTable)
        interfaces.border_title = f"Interfaces of {name}" if name else "Interfaces"
        queues.border_title = f"Class queues of {name}" if name else "Class queues"
        fill_table(interfaces, interface_rows(state, observation) if observation else [])
        fill_table(queues, queue_rows(state, observation) if observation else [])

    @on(DataTable.RowHighlighted, "#devices")
    def _device_highlighted(self) -> None:
        self._show_device(self.console.state)
