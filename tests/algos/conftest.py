"""Fixtures for the learning-agent tests (the tiny datasets live in :mod:`multiexec.testing`)."""

import pytest

from multiexec.testing import random_dataset


@pytest.fixture
def tiny_random():
    return random_dataset()
