"""Text views of the larger entities: a version with its metadata, CI links and manifest."""

from __future__ import annotations

from registry_backends.cli.output import (
    by_user,
    format_size,
    format_time,
    mapping_lines,
    table,
)
from registry_core import CIJob, Metric, ModelVersion

__all__ = ["ci_lines", "version_lines"]


def version_lines(v: ModelVersion, aliases: list[str], metrics: dict[str, Metric]) -> list[str]:
    """A version as text: the fields, then its mappings, CI links and manifest."""
    lines = [
        f"{v.model} {v.version}",
        f"  state:        {v.state.value}",
        f"  description:  {v.description or '-'}",
        f"  created:      {format_time(v.created_at)}{by_user(v.created_by)}",
        f"  updated:      {format_time(v.updated_at)}{by_user(v.updated_by)}",
        f"  published:    {format_time(v.published_at)}",
        f"  package:      {v.package}",
        f"  aliases:      {', '.join(aliases) or '-'}",
    ]
    lines += mapping_lines("tags", v.tags)
    lines += mapping_lines("params", v.params)
    lines += mapping_lines(
        "metrics", {k: f"{p.value!r} (step {p.step})" for k, p in metrics.items()}
    )
    lines += ci_lines(v.ci_job)
    count = len(v.artifacts)
    lines.append(f"  artifacts:    {count} ({format_size(v.size)})")
    if v.manifest_sha256:
        lines.append(f"  manifest:     sha256 {v.manifest_sha256}")
    if v.artifacts:
        rows = [(a.path, format_size(a.size), a.sha256) for a in v.artifacts]
        lines += ["    " + line for line in table(["PATH", "SIZE", "SHA256"], rows, "SIZE")]
    return lines


def ci_lines(job: CIJob | None) -> list[str]:
    """The CI job's ids and links, one per line (``-`` when there is none)."""
    if job is None:
        return ["  ci job:       -"]
    lines = [f"  ci job:       {job.provider} job {job.job_id}"]
    for label, value in (
        ("pipeline", job.pipeline_id),
        ("commit", job.commit),
        ("ref", job.ref),
        ("merge request", job.merge_request),
        ("job url", job.job_url),
        ("pipeline url", job.pipeline_url),
        ("mr url", job.merge_request_url),
    ):
        if value:
            lines.append(f"    {label + ':':<14}{value}")
    return lines
