"""The create-version form (GitLab's "create model version"): a version with its files,
parameters, metrics and log, published or left a draft, from one form.

Every field is parsed and checked before anything is written, so a bad field brings the
form back with the problem beside it and nothing stored. The writes then follow
`Registry.new_version`'s rule: if any step after creating the version fails, the version
is marked failed, never left half-filled as if it were whole.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

import attrs
from starlette.datastructures import UploadFile
from starlette.responses import Response

from registry_core import (
    Action,
    AlreadyExists,
    ArtifactPath,
    InvalidInput,
    Metric,
    ModelName,
    Registry,
    RegistryError,
    Version,
)
from registry_core.limits import (
    check_description,
    check_key,
    check_metric_value,
    check_step,
    check_value,
)
from registry_core.versions import BumpPart
from registry_server.ui._web import Page, Visit, redirect

__all__ = [
    "create_version",
    "new_version_page",
    "next_versions",
    "parse_metrics",
    "parse_params",
]

LOG_PATH = "logs/run.log"
#: The text fields the form sends back as they were typed when it comes back.
_TEXT_FIELDS = ("version", "description", "subfolder", "params", "metrics", "log")
_BUMPS: tuple[BumpPart, ...] = ("patch", "minor", "major")


@attrs.frozen
class _Plan:
    """Everything the form asked for, checked: what `_create` writes."""

    version: Version
    description: str
    files: tuple[tuple[ArtifactPath, UploadFile], ...]
    params: Mapping[str, str]
    metrics: tuple[Metric, ...]
    log: str
    publish: bool


def next_versions(registry: Registry, model: ModelName) -> list[tuple[str, str]]:
    """(version, what it is) for the next patch, minor and major after the highest
    version, as `Version.bump` makes them; ``1.0.0`` for a model without versions."""
    highest = registry.list_versions(model, order="-precedence", page_size=1).items
    if not highest:
        return [("1.0.0", "first version")]
    offers: dict[str, list[str]] = {}
    for part in _BUMPS:
        bumped = str(highest[0].version.bump(part))
        offers.setdefault(bumped, []).append(part)
    return [(version, "next " + " / ".join(parts)) for version, parts in offers.items()]


def _lines(text: str) -> list[tuple[int, str]]:
    """(line number, stripped line) for each non-blank line."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def parse_params(text: str) -> dict[str, str]:
    """``key=value`` lines -> parameters; `InvalidInput` naming the first bad line."""
    params: dict[str, str] = {}
    for number, line in _lines(text):
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            raise InvalidInput(f"line {number}: {line[:80]!r} is not key=value")
        try:
            check_key("param", key)
            check_value("param", key, value)
        except InvalidInput as error:
            raise InvalidInput(f"line {number}: {error}") from None
        if key in params:
            raise InvalidInput(f"line {number}: param {key!r} is given twice")
        params[key] = value
    return params


def parse_metrics(text: str, when: dt.datetime) -> list[Metric]:
    """``key value [step]`` lines -> metric points at ``when``; `InvalidInput` naming the
    first bad line."""
    points = []
    for number, line in _lines(text):
        words = line.split()
        if len(words) not in (2, 3):
            raise InvalidInput(
                f"line {number}: {line[:80]!r} is not 'key value' or 'key value step'"
            )
        key = words[0]
        try:
            check_key("metric", key)
            try:
                value = float(words[1])
            except ValueError:
                raise InvalidInput(
                    f"metric {key!r} value {words[1][:40]!r} is not a number"
                ) from None
            try:
                step = int(words[2]) if len(words) == 3 else 0
            except ValueError:
                raise InvalidInput(
                    f"metric {key!r} step {words[2][:40]!r} is not a whole number"
                ) from None
            points.append(Metric(key, check_metric_value(key, value), check_step(key, step), when))
        except InvalidInput as error:
            raise InvalidInput(f"line {number}: {error}") from None
    return points


def _files(visit: Visit, subfolder: str, log: str) -> tuple[tuple[ArtifactPath, UploadFile], ...]:
    """The chosen files with the paths they will have; `InvalidInput` for a bad or
    repeated path."""
    assert visit.form is not None
    chosen = []
    seen = {ArtifactPath.parse(LOG_PATH).key: "the log"} if log else {}
    for upload in visit.form.getlist("files"):
        if not isinstance(upload, UploadFile):
            raise InvalidInput("the files field must hold files")
        if not upload.filename:  # the browser sends an empty part when none was chosen
            continue
        path = ArtifactPath.join(subfolder or None, upload.filename)
        if path.key in seen:
            raise InvalidInput(f"'{path}' would be written twice (also by {seen[path.key]})")
        seen[path.key] = f"'{upload.filename}'"
        limit = visit.config.max_artifact_bytes
        if limit is not None and upload.size is not None and upload.size > limit:
            raise InvalidInput(
                f"'{upload.filename}' is {upload.size} bytes; the largest upload accepted "
                f"is {limit} bytes"
            )
        chosen.append((path, upload))
    return tuple(chosen)


def _check(visit: Visit, typed: Mapping[str, str]) -> tuple[_Plan | None, dict[str, str]]:
    """The plan of writes, or the problem with each field that has one."""
    errors: dict[str, str] = {}
    found: dict[str, Any] = {}
    now = dt.datetime.now(dt.timezone.utc)
    checks: dict[str, Callable[[], object]] = {
        "version": lambda: Version.parse(typed["version"]),
        "description": lambda: check_description(typed["description"]),
        "subfolder": lambda: typed["subfolder"] and str(ArtifactPath.parse(typed["subfolder"])),
        "params": lambda: parse_params(typed["params"]),
        "metrics": lambda: tuple(parse_metrics(typed["metrics"], now)),
    }
    for field, check in checks.items():
        try:
            found[field] = check()
        except InvalidInput as error:
            errors[field] = str(error)
    log = typed["log"] if typed["log"].strip() else ""
    if log and not log.endswith("\n"):
        log += "\n"
    if "subfolder" not in errors:
        try:
            found["files"] = _files(visit, found["subfolder"], log)
        except InvalidInput as error:
            errors["files"] = str(error)
    if errors:
        return None, errors
    plan = _Plan(
        version=found["version"],
        description=typed["description"],
        files=found["files"],
        params=found["params"],
        metrics=found["metrics"],
        log=log,
        publish=visit.field("then") == "publish",
    )
    return plan, {}


def _form_page(
    visit: Visit, model: ModelName, typed: Mapping[str, str], errors: Mapping[str, str], status: int
) -> Page:
    values = {
        "model": model,
        "offers": next_versions(visit.registry, model),
        "form": typed,
        "errors": errors,
        "log_path": LOG_PATH,
    }
    return Page("new_version.html", values, status)


def new_version_page(visit: Visit) -> Page:
    """The empty form, with the next patch, minor and major version offered."""
    assert visit.model is not None
    model = visit.registry.get_model(visit.model).name
    visit.registry.require(Action.CREATE)
    return _form_page(visit, model, dict.fromkeys(_TEXT_FIELDS, ""), {}, 200)


def create_version(visit: Visit) -> Page | Response:
    """Check every field, then create the version and fill it (see the module doc)."""
    assert visit.model is not None
    model = visit.registry.get_model(visit.model).name
    visit.registry.require(Action.CREATE)
    typed = {field: visit.field(field).replace("\r\n", "\n") for field in _TEXT_FIELDS}
    typed["version"] = typed["version"].strip()
    typed["subfolder"] = typed["subfolder"].strip().strip("/")
    plan, errors = _check(visit, typed)
    if plan is None:
        return _form_page(visit, model, typed, errors, 400)
    # A version without files, log or metrics is created ready in one write.
    at_once = plan.publish and not (plan.files or plan.log or plan.metrics)
    try:
        created = visit.registry.create_version(
            model,
            plan.version,
            description=plan.description,
            params=plan.params,
            publish=at_once,
        )
    except (AlreadyExists, InvalidInput) as error:
        status = 409 if isinstance(error, AlreadyExists) else 400
        return _form_page(visit, model, typed, {"version": str(error)}, status)
    here = visit.links.version(created.model, created.version)
    if at_once:
        return redirect(here, f"Version {created.version} created and published.")
    failed = _fill(visit.registry, created.model, created.version, plan)
    if failed is not None:
        return redirect(here, failed, error=True)
    done = "created and published" if plan.publish else "created as a draft"
    files = len(plan.files) + bool(plan.log)
    count = f" with {files} file{'s' if files != 1 else ''}" if files else ""
    return redirect(here, f"Version {created.version} {done}{count}.")


def _fill(registry: Registry, model: ModelName, version: Version, plan: _Plan) -> str | None:
    """Upload, log and publish as planned; on a failure, mark the version failed and say
    what happened (a message), as `Registry.new_version` does. Other errors propagate."""
    step = ""
    try:
        for path, upload in plan.files:
            step = f"uploading '{path}'"
            upload.file.seek(0)
            registry.upload(model, version, upload.file, name=str(path))
        if plan.log:
            step = f"writing the log {LOG_PATH}"
            registry.append_log(model, version, plan.log)
        if plan.metrics:
            step = "logging the metrics"
            registry.log_metrics(model, version, plan.metrics)
        if plan.publish:
            step = "publishing"
            registry.publish(model, version)
    except Exception as error:
        try:
            registry.fail(model, version)
        except RegistryError:
            outcome = "It could not be marked failed and is still a draft"
        else:
            outcome = "It is marked failed so that nothing uses it"
        if not isinstance(error, RegistryError):
            raise
        return (
            f"Version {version} was created, but {step} failed: {error}. "
            f"{outcome}; delete it and create the version again."
        )
    return None
