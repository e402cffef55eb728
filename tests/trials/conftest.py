import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """The machine is shared: keep torch to one thread in these tests."""
    torch.set_num_threads(1)
