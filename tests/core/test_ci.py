"""CIJob read from GitLab CI and GitHub Actions variables, with its links."""

from __future__ import annotations

import pytest

from registry_core import CIJob, InvalidInput

GITLAB = {
    "GITLAB_CI": "true",
    "CI_JOB_ID": "812",
    "CI_PIPELINE_ID": "77",
    "CI_PROJECT_URL": "https://gitlab.example.com/ml/fraud",
    "CI_COMMIT_SHA": "abc123",
    "CI_COMMIT_REF_NAME": "feature/x",
    "CI_MERGE_REQUEST_IID": "14",
}
GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_RUN_ID": "9001",
    "GITHUB_JOB": "train",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "ml/fraud",
    "GITHUB_SHA": "def456",
    "GITHUB_REF": "refs/pull/31/merge",
    "GITHUB_HEAD_REF": "feat",
}


def test_gitlab_job_from_env_with_links() -> None:
    job = CIJob.from_env(GITLAB)
    assert job is not None and job.provider == "gitlab" and job.ref == "feature/x"
    assert job.job_url == "https://gitlab.example.com/ml/fraud/-/jobs/812"
    assert job.pipeline_url == "https://gitlab.example.com/ml/fraud/-/pipelines/77"
    assert job.merge_request_url == "https://gitlab.example.com/ml/fraud/-/merge_requests/14"


def test_github_job_from_env_with_links() -> None:
    job = CIJob.from_env(GITHUB)
    assert job is not None and job.provider == "github" and job.commit == "def456"
    assert job.pipeline_url == "https://github.com/ml/fraud/actions/runs/9001"
    assert job.merge_request_url == "https://github.com/ml/fraud/pull/31"
    assert job.ref == "feat"


def test_a_push_build_on_github_has_no_merge_request() -> None:
    env = {
        **GITHUB,
        "GITHUB_REF": "refs/heads/main",
        "GITHUB_HEAD_REF": "",
        "GITHUB_REF_NAME": "main",
    }
    job = CIJob.from_env(env)
    assert job is not None and job.merge_request is None and job.merge_request_url is None
    assert job.ref == "main"


def test_outside_ci_there_is_no_job() -> None:
    assert CIJob.from_env({"HOME": "/root"}) is None


@pytest.mark.parametrize(
    "fields",
    [
        {"provider": "gitlab", "job_id": ""},
        {"provider": "gitlab", "job_id": "1", "project_url": "javascript:alert(1)"},
        {"provider": "gitlab", "job_id": "1\n2"},
        {"provider": "gitlab", "job_id": "1", "ref": "x" * 1025},
    ],
)
def test_bad_ci_fields_are_refused(fields: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        CIJob(**fields)
