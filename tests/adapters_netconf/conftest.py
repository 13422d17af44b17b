"""Fixtures for the NETCONF adapter against Debian's netconfd.

One lab for the whole session: ``nc1`` for the adapter's own behaviour (reset to an empty
configuration before each test that uses :func:`session`), ``nacm`` kept untouched for the
NACM characterisation (bug 4 switches NACM off on it for good), ``running`` started with
``--target=running`` (no :candidate) for the capability refusals.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import ncclient.transport.session
import pytest
from ncclient import manager

from adapters.netconf import NetconfSession, open_session
from controller.errors import ConnectError, RpcError
from controller.model import ConfigEdit, DeviceConfig, EditOp
from tests.peers.netconfd import NetconfdDevice, NetconfdLab, netconfd_lab_fixture

netconfd_lab = netconfd_lab_fixture(
    ("nc1", "nacm", "running"), targets={"running": "running"}, observer=True
)

# Removing both top-level containers empties the module's configuration (remove, unlike
# delete, does not fail when the container is absent).
CLEAR_ALL = (
    ConfigEdit(EditOp.REMOVE, ("interfaces",), None, None),
    ConfigEdit(EditOp.REMOVE, ("qos",), None, None),
)


@pytest.fixture(autouse=True)
def fast_raw_ncclient(monkeypatch: pytest.MonkeyPatch) -> None:
    """Raw ncclient managers (bug characterisations) poll every TICK (0.1 s by default,
    ~100 ms per RPC); the adapter does not use ncclient's transport at all."""
    monkeypatch.setattr(ncclient.transport.session, "TICK", 0.005)


@pytest.fixture
def nc1(netconfd_lab: NetconfdLab) -> NetconfdDevice:
    return netconfd_lab["nc1"]


class PersistIds:
    """Hands out unique persist-ids and remembers them for the clean-up."""

    def __init__(self) -> None:
        self.issued: list[str] = []

    def __call__(self) -> str:
        self.issued.append(f"np-test-{uuid.uuid4().hex[:12]}")
        return self.issued[-1]


@pytest.fixture
def persist_ids() -> PersistIds:
    """Persist-ids for a test; :func:`session` cancels any commit still pending with one.

    A confirmed commit left pending by a failed test would revert on its own timer in the
    middle of a later test.
    """
    return PersistIds()


async def commit_edits(
    session: NetconfSession, edits: tuple[ConfigEdit, ...], persist_id: str
) -> DeviceConfig:
    """The transaction's happy path: lock, edit, validate inline, confirmed commit, confirm."""
    await session.lock()
    try:
        await session.edit_candidate(edits)
        candidate = await session.get_candidate()
        await session.validate(candidate)
        await session.commit(confirm_timeout=timedelta(seconds=60), persist_id=persist_id)
        await session.confirm(persist_id)
    finally:
        await session.unlock()
    return candidate


async def reset(session: NetconfSession, persist_id: str) -> None:
    """Bring the device back to an empty ``netpilot-lab`` configuration."""
    await session.discard()
    if await session.get_running() != DeviceConfig():
        await commit_edits(session, CLEAR_ALL, persist_id)
    assert await session.get_running() == DeviceConfig()


@pytest.fixture
async def session(nc1, persist_ids) -> AsyncIterator[NetconfSession]:
    """An open session to ``nc1``, whose configuration starts empty."""
    opened = await open_session(nc1.device())
    try:
        await reset(opened, persist_ids())
        yield opened
    finally:
        await cancel_pending(opened, nc1, persist_ids.issued)
        await opened.close()


async def cancel_pending(session: NetconfSession, dev: NetconfdDevice, ids: list[str]) -> None:
    """Cancel any confirmed commit a test left pending (an error means: none pending)."""
    try:
        for persist_id in ids:
            with contextlib.suppress(RpcError):
                await session.cancel_commit(persist_id)
    except ConnectError:  # the test closed or killed its session: use a new one
        async with await open_session(dev.device()) as fresh:
            for persist_id in ids:
                with contextlib.suppress(RpcError):
                    await fresh.cancel_commit(persist_id)


def raw_manager(dev: NetconfdDevice, *, username: str | None = None) -> Any:
    """A plain ncclient manager, for characterising server bugs outside the adapter."""
    return manager.connect(
        host=dev.host,
        port=dev.port,
        username=username or dev.username,
        password=dev.password(),
        hostkey_verify=False,  # the lab's own server, on loopback
        allow_agent=False,
        look_for_keys=False,
        timeout=5,
    )
