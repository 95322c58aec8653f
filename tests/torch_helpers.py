"""Shared by the network tests: import `one_thread` (an autouse fixture) into a test module."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: thread hand-offs cost more than they save, above all on a busy CI machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
