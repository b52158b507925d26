"""The CI job that made a version: GitLab CI or GitHub Actions, read from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

import attrs

from registry_core.errors import InvalidInput

__all__ = ["CIJob"]

_MAX_FIELD = 1024
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")
_PULL_REF = re.compile(r"^refs/pull/(\d+)/")


def _check_text(name: str, value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise InvalidInput(f"CI job {name} must be a string, not {type(value).__name__}")
    if len(value) > _MAX_FIELD or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(
            f"CI job {name} {value[:80]!r} is invalid: at most {_MAX_FIELD} characters, "
            "no control characters"
        )


@attrs.frozen(kw_only=True)
class CIJob:
    """A link from a version to the CI job that built it.

    ``provider`` is ``"gitlab"``, ``"github"`` or another name; the URL properties are
    derived for the two known providers and ``None`` otherwise.
    """

    provider: str
    job_id: str
    pipeline_id: str | None = None
    project_url: str | None = None
    commit: str | None = None
    ref: str | None = None
    merge_request: str | None = None

    def __attrs_post_init__(self) -> None:
        for field in attrs.fields(type(self)):
            _check_text(field.name, getattr(self, field.name))
        if not self.provider or not self.job_id:
            raise InvalidInput("a CI job needs a provider and a job id")
        if self.project_url is not None and not _URL.match(self.project_url):
            raise InvalidInput(f"CI project URL {self.project_url!r} is not an http(s) URL")

    @property
    def job_url(self) -> str | None:
        """A link to the job (GitHub: to the run attempt, the finest link it allows)."""
        base = self.project_url
        if base is None:
            return None
        if self.provider == "gitlab":
            return f"{base}/-/jobs/{self.job_id}"
        if self.provider == "github" and self.pipeline_id:
            return f"{base}/actions/runs/{self.pipeline_id}"
        return None

    @property
    def pipeline_url(self) -> str | None:
        """A link to the pipeline (GitLab) or workflow run (GitHub)."""
        base = self.project_url
        if base is None or self.pipeline_id is None:
            return None
        if self.provider == "gitlab":
            return f"{base}/-/pipelines/{self.pipeline_id}"
        if self.provider == "github":
            return f"{base}/actions/runs/{self.pipeline_id}"
        return None

    @property
    def merge_request_url(self) -> str | None:
        """A link to the merge request (GitLab) or pull request (GitHub)."""
        base = self.project_url
        if base is None or self.merge_request is None:
            return None
        if self.provider == "gitlab":
            return f"{base}/-/merge_requests/{self.merge_request}"
        if self.provider == "github":
            return f"{base}/pull/{self.merge_request}"
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> CIJob | None:
        """The job described by GitLab CI or GitHub Actions variables, or None outside CI."""
        env = os.environ if environ is None else environ
        if env.get("GITLAB_CI") == "true" and env.get("CI_JOB_ID"):
            return cls(
                provider="gitlab",
                job_id=env["CI_JOB_ID"],
                pipeline_id=env.get("CI_PIPELINE_ID") or None,
                project_url=env.get("CI_PROJECT_URL") or None,
                commit=env.get("CI_COMMIT_SHA") or None,
                ref=env.get("CI_COMMIT_REF_NAME") or None,
                merge_request=env.get("CI_MERGE_REQUEST_IID") or None,
            )
        if env.get("GITHUB_ACTIONS") == "true" and env.get("GITHUB_RUN_ID"):
            server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
            repo = env.get("GITHUB_REPOSITORY")
            pull = _PULL_REF.match(env.get("GITHUB_REF", ""))
            return cls(
                provider="github",
                job_id=env.get("GITHUB_JOB") or env["GITHUB_RUN_ID"],
                pipeline_id=env["GITHUB_RUN_ID"],
                project_url=f"{server}/{repo}" if repo else None,
                commit=env.get("GITHUB_SHA") or None,
                ref=env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME") or None,
                merge_request=pull.group(1) if pull else None,
            )
        return None
