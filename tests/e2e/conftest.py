from __future__ import annotations

import pytest

from tests.e2e.servers import Stack, shared_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    # One stack for tests/e2e and tests/browser; stopped when pytest exits.
    return shared_stack(lambda: tmp_path_factory.mktemp("e2e"))
