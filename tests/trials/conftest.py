import pytest


@pytest.fixture(scope="session")
def local_ray():
    """One loopback Ray instance shared by every sweep test of the session."""
    import ray

    ray.init(_node_ip_address="127.0.0.1", num_cpus=2, include_dashboard=False,
             configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()
