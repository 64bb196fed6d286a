import os
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]

@pytest.fixture(scope='session')
def repo() -> Path:
    "The repository root; tests run with it as the working directory."
    os.chdir(REPO)
    return REPO
