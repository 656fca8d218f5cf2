from tests.sim_fixtures import sim, sim_server  # noqa: F401
