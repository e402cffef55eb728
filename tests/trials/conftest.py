import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The machine is shared: keep torch to one thread in these tests."""
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def local_ray():
    """One loopback Ray instance shared by every sweep test of the session."""
    import ray

    ray.init(_node_ip_address="127.0.0.1", num_cpus=2, include_dashboard=False,
             configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()
