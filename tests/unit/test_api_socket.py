"""The API's UNIX socket lives as long as its server: a file left behind after a clean stop
reads as a daemon to connect to."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from controller.api import ApiServer, HttpRequest, HttpResponse


async def answer(_request: HttpRequest) -> HttpResponse:
    return HttpResponse(status=200, data={})


async def test_the_socket_goes_when_the_server_stops() -> None:
    # a UNIX socket path must stay under ~100 bytes: pytest's tmp_path can be longer
    directory = Path(tempfile.mkdtemp(prefix="np-api-"))
    try:
        path = directory / "netpilot.sock"
        server = ApiServer(answer, token=None)
        await server.start_unix(path)
        assert path.is_socket()
        await server.stop()
        assert not path.exists()
        await server.stop()  # a second stop is harmless
    finally:
        shutil.rmtree(directory, ignore_errors=True)
