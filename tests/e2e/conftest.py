"""Fixtures of the tcptrail end-to-end tests.

Run (as root):  cd tests/e2e && TCPTRAIL_BIN=/path/to/tcptrail /usr/bin/python3 -m pytest -v
Without root the tests are skipped, unless CI is set: then they fail.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from tthelpers import Rig, Tracer, started_tracers  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _require_root():
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("the tcptrail e2e tests must run as root (CI is set, so this is a failure, not a skip)",
                        pytrace=False)
        pytest.skip("the tcptrail e2e tests need root (network namespaces, BPF)")


@pytest.fixture
def rig(request):
    """A fresh pair of namespaces; the subnet comes from the module's SUBNET."""
    r = Rig(getattr(request.module, "SUBNET", 200))
    try:
        r.up()
        yield r
    finally:
        r.down()


@pytest.fixture
def tracer():
    """tracer(*args) starts tcptrail --json ARGS and waits for 'tracing'."""
    yield from started_tracers(Tracer)
