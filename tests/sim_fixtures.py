"""Provider-simulator fixtures any test package can import into its conftest.py:

    from tests.sim_fixtures import sim, sim_server  # noqa: F401

`sim_server` is one simulator per test session, served from a thread so it works from
every test's event loop; `sim` is the same server with its dials, counters and stats reset
before the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.providers.simulator.server import RunningSimulator, start_simulator_thread


@pytest.fixture(scope="session")
def sim_server() -> Iterator[RunningSimulator]:
    running = start_simulator_thread()
    yield running
    running.stop_blocking()


@pytest.fixture
def sim(sim_server: RunningSimulator) -> RunningSimulator:
    assert sim_server.state is not None
    sim_server.state.reset()
    return sim_server
