import socket
import subprocess
import sys

import pytest
from conftest import dlrun_env


def test_network_is_blocked_in_this_process():
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("192.0.2.1", 80), timeout=1)


def test_network_is_blocked_in_processes_the_tests_start():
    code = "import socket; socket.create_connection(('192.0.2.1', 80), timeout=1)"
    done = subprocess.run([sys.executable, "-c", code], env=dlrun_env(), capture_output=True, text=True)
    assert done.returncode != 0
    assert "tests may not reach the network" in done.stderr


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        with socket.create_connection(server.getsockname(), timeout=1):
            pass
