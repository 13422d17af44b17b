"""Real peers for the interop tests: Debian's netconfd behind a private sshd."""

from __future__ import annotations

from tests.peers.netconfd import netconfd_lab_fixture

netconfd_lab = netconfd_lab_fixture(("tx1",))
