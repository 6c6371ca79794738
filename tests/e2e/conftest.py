from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.servers import Stack, start_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = start_stack(tmp_path_factory.mktemp("e2e"))
    yield running
    running.stop()
