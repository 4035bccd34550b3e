import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))

import pyro  # noqa: E402


@pytest.fixture(scope="session")
def server_url():
    try:
        return pyro.server().url
    except pyro.Unavailable as e:
        if pyro.required():
            pytest.fail(str(e))
        pytest.skip(str(e))
