"""Session-wide servers for the backend tests (see ``servers.py``).

``GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false`` is set first, before anything imports gcsfs:
otherwise gcsfs' default filesystem probes each bucket over gRPC and an HTTP emulator makes
every call hang for about a minute (TEST-INFRA §2.1).
"""

from __future__ import annotations

import os

os.environ["GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT"] = "false"

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 for the whole session."""
    from servers import start_moto

    with start_moto() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    """fake-gcs-server on 127.0.0.1 for the whole session."""
    from servers import start_fake_gcs

    with start_fake_gcs() as endpoint:
        yield endpoint
