"""Real protocol peers (Debian daemons) that tests start, own and stop.

Each module starts its daemons on 127.0.0.1 with ports from the OS, records the PIDs it
started and ends only those. Test directories import a module's fixture factory into their
``conftest.py``.
"""
