"""Application code fingerprints: a stable hash of what a job runs, and checks that it did not change.

A prediction fits the code of its basis run. :func:`fingerprint_emr` and
:func:`fingerprint_databricks` hash what a job runs — EMR step scripts and JARs in S3, bootstrap
action scripts, Databricks Python files, notebooks, JARs, wheels and Git references — into a
:class:`CodeFingerprint`. It is recorded with the run (the ``sync:code-hash`` tag and a
``code-fingerprint.json`` file in the run folder); :func:`check_code_change` compares the basis
run's fingerprint with the next launch's and warns, or fails, naming both fingerprints and what
changed.

How an item is identified (its ``how``):

* S3 objects: the ``VersionId`` when the bucket is versioned; otherwise the SHA-256 of the content,
  streamed in 1 MiB chunks (never read whole into memory); objects larger than
  ``max_content_bytes`` by their ``ETag`` (which changes when a multipart upload is repeated with
  another part size, even for the same content).
* DBFS files: the SHA-256 of the content streamed through ``dbfs/read``; larger files by size and
  modification time.
* Workspace files and notebooks: the SHA-256 of ``workspace/export``; when exporting is refused, the
  object id and ``modified_at`` of ``workspace/get-status``.
* Git sources: the commit, else the tag, else the branch (a branch is not pinned: the fingerprint is
  partial, because a new commit on it cannot be seen).
* Step arguments, task settings and package libraries: their text (SHA-256 of canonical JSON, or the
  package spec itself).

An item that cannot be read (missing, access denied, a kind we cannot read) is listed in
``unreadable`` and makes the fingerprint *partial*; reading never fails because of it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from sync_provider.core.errors import DatabricksError, InvalidInputError, SyncError, register_error_kind
from sync_provider.core.models import Prediction, Response
from sync_provider.core.predictions import returns_response

log = logging.getLogger(__name__)

__all__ = [
    "CODE_HASH_TAG",
    "DEFAULT_MAX_CONTENT_BYTES",
    "FINGERPRINT_FILE",
    "BasisFingerprint",
    "CodeChangedError",
    "CodeFingerprint",
    "CodeItem",
    "FingerprintDiff",
    "add_code_hash_to_databricks_spec",
    "add_code_hash_to_emr_request",
    "basis_fingerprint",
    "check_code_change",
    "code_hash_of",
    "compare_fingerprints",
    "fingerprint_databricks",
    "fingerprint_emr",
    "fingerprint_url",
    "load_fingerprint",
    "save_fingerprint",
]

#: Tag holding the code fingerprint's hash (EMR ``Tags``, Databricks ``custom_tags``): 64 hex digits.
CODE_HASH_TAG = "sync:code-hash"
#: File in a run folder holding the whole fingerprint (items and what was unreadable).
FINGERPRINT_FILE = "code-fingerprint.json"
#: Objects larger than this are identified by ETag (S3) or size and time (DBFS) instead of content.
DEFAULT_MAX_CONTENT_BYTES = 256 * 1024 * 1024
_SCHEME = "sync-code-fingerprint/1"
_CHUNK = 1024 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")

OnCodeChange = Literal["warn", "fail"]

# spark-submit options whose values are code or files the application reads.
_CODE_OPTIONS = frozenset({"--jars", "--py-files", "--files", "--archives"})
# spark-submit options that take no value.
_FLAG_OPTIONS = frozenset({"--verbose", "-v", "--supervise", "--help", "-h", "--version", "--usage-error"})
# Object names that are code wherever they appear in arguments.
_CODE_SUFFIXES = (".py", ".jar", ".sh", ".egg", ".whl", ".zip", ".r", ".scala", ".sql", ".pex", ".ipynb")
_S3_TOKEN = re.compile(r"s3[an]?://[^\s,;'\"]+")
_PARAMETER_KEYS = ("parameters", "base_parameters", "named_parameters", "python_named_params")


# --------------------------------------------------------------------------------------------------
# Models


class CodeItem(BaseModel):
    """One thing the job runs.

    :param kind: ``s3-object``, ``dbfs-file``, ``workspace-file``, ``notebook``, ``git-source``,
        ``library``, ``emr-step``, ``bootstrap-action`` or ``databricks-task``.
    :param location: where it is (an URL, a path, or ``steps[0]``-style position).
    :param identity: what identifies its content (``version:…``, ``sha256:…``, ``etag:…``,
        ``commit:…``, a package spec…); ``None`` when it could not be read.
    :param how: how ``identity`` was obtained (``s3-version-id``, ``content-sha256``, ``s3-etag``,
        ``dbfs-status``, ``workspace-export-sha256``, ``workspace-modified-at``, ``git-commit``,
        ``git-tag``, ``git-branch``, ``text-sha256``, ``spec``, ``unreadable``).
    :param note: a human hint (a step name, a size); not part of the hash.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    location: str
    identity: str | None
    how: str
    note: str | None = None

    @property
    def key(self) -> tuple[str, str]:
        """``(kind, location)``: what the item is, whatever its content."""
        return self.kind, self.location

    def label(self) -> str:
        """``kind location`` with the note, for messages."""
        text = f"{self.kind} {self.location}"
        return f"{text} ({self.note})" if self.note else text


class CodeFingerprint(BaseModel):
    """A stable hash of what a job runs.

    :param hash: SHA-256 (64 hex digits) over the sorted ``(kind, location, identity)`` of the
        items; the same code gives the same hash whatever the order of libraries, objects or
        arguments-with-the-same-meaning. Unreadable items count as unreadable.
    :param items: the items, sorted by kind and location.
    :param unreadable: one sentence per item that could not be read (empty: the fingerprint is whole).
    :param platform: ``aws-emr`` or ``aws-databricks``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    items: list[CodeItem] = Field(default_factory=list)
    unreadable: list[str] = Field(default_factory=list)
    platform: str | None = None

    @property
    def partial(self) -> bool:
        """Whether something could not be read (a change there cannot be seen)."""
        return bool(self.unreadable)

    @classmethod
    def build(
        cls, items: Iterable[CodeItem], unreadable: Iterable[str] = (), platform: str | None = None
    ) -> CodeFingerprint:
        """Build a fingerprint from its items: sort and de-duplicate them and compute the hash.

        :param items: the items.
        :param unreadable: sentences about what could not be read.
        :param platform: ``aws-emr`` or ``aws-databricks``.
        """
        unique: dict[tuple[str, str], CodeItem] = {}
        for item in items:
            current = unique.get(item.key)
            if current is None or (current.identity is None and item.identity is not None):
                unique[item.key] = item
        ordered = [unique[key] for key in sorted(unique)]
        payload = [_SCHEME, [[i.kind, i.location, i.identity] for i in ordered]]
        digest = hashlib.sha256(json.dumps(payload, separators=(",", ":")).encode()).hexdigest()
        notes = list(dict.fromkeys(unreadable))
        return cls(hash=digest, items=ordered, unreadable=notes, platform=platform)

    def describe(self) -> str:
        """``<hash> (N items[, partial: M unreadable])``."""
        text = f"{self.hash} ({len(self.items)} items"
        if self.partial:
            text += f", partial: {len(self.unreadable)} unreadable"
        return text + ")"


class FingerprintDiff(BaseModel):
    """What changed between two fingerprints.

    :param previous_hash: the earlier fingerprint (e.g. the prediction's basis run).
    :param current_hash: the new fingerprint.
    :param changed: items whose content changed, one sentence each naming both identities.
    :param added: items only in the new fingerprint.
    :param removed: items only in the earlier fingerprint.
    :param unknown: items that could not be compared (unreadable on either side, unpinned Git
        branches).
    :param items_known: ``False`` when only the earlier hash was known (the tag, without the file),
        so that what changed cannot be named.
    :param cross_platform: the fingerprints are of different platforms (a prediction applied with
        ``allow_cross_platform``): only items both have (the same S3 object, library or Git
        source) can be compared, the others are not comparable, and bare hashes are never a change.
    """

    model_config = ConfigDict(frozen=True)

    previous_hash: str
    current_hash: str
    changed: list[str] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)
    removed: list[str] = Field(default_factory=list)
    unknown: list[str] = Field(default_factory=list)
    items_known: bool = True
    cross_platform: bool = False

    @property
    def same(self) -> bool:
        """Whether the hashes are equal."""
        return self.previous_hash == self.current_hash

    @property
    def code_changed(self) -> bool:
        """Whether a change was seen (unknown items are not changes)."""
        if not self.items_known:
            return not self.same and not self.cross_platform
        return bool(self.changed or self.added or self.removed)

    def describe(self) -> str:
        """One text naming both fingerprints and what changed."""
        head = f"code fingerprint {self.previous_hash} (basis) -> {self.current_hash} (now)"
        if not self.items_known:
            if self.same:
                return head + ": unchanged"
            if self.cross_platform:
                return (
                    head + ": the basis ran on the other platform and only its sync:code-hash tag is known, "
                    "so the code cannot be compared"
                )
            return (
                head + ": changed; the basis run's item list is not available (only its sync:code-hash tag), "
                "so what changed cannot be named"
            )
        parts = []
        for title, entries in (
            ("changed", self.changed),
            ("added", self.added),
            ("removed", self.removed),
            ("not comparable", self.unknown),
        ):
            if entries:
                parts.append(f"{title}: " + "; ".join(entries))
        if not parts:
            return head + ": unchanged"
        return head + ": " + ". ".join(parts)


@register_error_kind
class CodeChangedError(SyncError):
    """The application code changed since the prediction's basis run (``on_code_change="fail"``)."""

    code = "Code Changed"


class BasisFingerprint(BaseModel):
    """What is known about the code of a prediction's basis run.

    :param platform: the basis run's platform (``aws-emr`` or ``aws-databricks``), from its
        configuration.
    :param hash: its ``sync:code-hash`` tag (or the saved file's hash), when recorded.
    :param fingerprint: the saved fingerprint, when its file could be read.
    :param url: where the file was looked for.
    :param problem: why the file could not be read, if it could not.
    """

    platform: str | None = None
    hash: str | None = None
    fingerprint: CodeFingerprint | None = None
    url: str | None = None
    problem: str | None = None

    @property
    def known(self) -> bool:
        """Whether anything (a hash or the whole fingerprint) is known."""
        return self.hash is not None or self.fingerprint is not None


# --------------------------------------------------------------------------------------------------
# Shared helpers


class _Unreadable(Exception):
    """An item could not be read; the message is the reason."""


def _text_identity(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


class _Collector:
    def __init__(self, platform: str) -> None:
        self.items: list[CodeItem] = []
        self.unreadable: list[str] = []
        self.platform = platform
        self._seen: set[tuple[str, str]] = set()

    def seen(self, kind: str, location: str) -> bool:
        if (kind, location) in self._seen:
            return True
        self._seen.add((kind, location))
        return False

    def add(self, kind: str, location: str, identity: str, how: str, note: str | None = None) -> None:
        self.items.append(CodeItem(kind=kind, location=location, identity=identity, how=how, note=note))

    def fail(self, kind: str, location: str, reason: str, note: str | None = None) -> None:
        self.items.append(CodeItem(kind=kind, location=location, identity=None, how="unreadable", note=note))
        where = f"{location} ({note})" if note else location
        self.unreadable.append(f"{where}: {reason}")

    def build(self) -> CodeFingerprint:
        return CodeFingerprint.build(self.items, self.unreadable, platform=self.platform)


def _aws_code(exc: BaseException) -> str:
    from sync_provider.core.emr._common import error_code

    return error_code(exc)


def _s3_reason(exc: BaseException) -> str:
    code = _aws_code(exc)
    if code in ("404", "NoSuchKey", "NotFound"):
        return "not found (404)"
    if code in ("403", "AccessDenied", "Forbidden", "AllAccessDisabled"):
        return "access denied (403): allow s3:GetObject and s3:GetObjectVersion to fingerprint it"
    if code == "NoSuchBucket":
        return "the bucket does not exist"
    return f"could not be read ({code})"


def _s3_identity(s3_client: Any, url: str, max_bytes: int) -> tuple[str, str, str | None]:
    """``(identity, how, note)`` of an S3 object."""
    from sync_provider.core.storage import parse_s3_url

    try:
        location = parse_s3_url(url)
    except InvalidInputError:
        raise _Unreadable("not an S3 object URL") from None
    if location.key.endswith("/"):
        raise _Unreadable("is a folder, not an object")
    try:
        head = s3_client.head_object(Bucket=location.bucket, Key=location.key)
    except Exception as exc:
        raise _Unreadable(_s3_reason(exc)) from None
    version = head.get("VersionId")
    size = int(head.get("ContentLength") or 0)
    if version and version != "null":
        return f"version:{version}", "s3-version-id", None
    if size > max_bytes:
        etag = str(head.get("ETag") or "").strip('"')
        if not etag:
            raise _Unreadable(f"is larger than {max_bytes} bytes and has no ETag")
        return f"etag:{etag}", "s3-etag", f"{size} bytes, identified by ETag"
    digest = hashlib.sha256()
    try:
        body = s3_client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
        try:
            while chunk := body.read(_CHUNK):
                digest.update(chunk)
        finally:
            body.close()
    except Exception as exc:
        raise _Unreadable(_s3_reason(exc)) from None
    return f"sha256:{digest.hexdigest()}", "content-sha256", None


def _is_s3(value: str) -> bool:
    return value.startswith(("s3://", "s3a://", "s3n://"))


def _strip_fragment(value: str) -> str:
    """``s3://b/env.tar.gz#env`` -> ``s3://b/env.tar.gz`` (spark-submit's alias syntax)."""
    return value.split("#", 1)[0]


def _looks_like_code(value: str) -> bool:
    return _strip_fragment(value).lower().endswith(_CODE_SUFFIXES)


def _spark_submit_code(args: Sequence[str]) -> list[str]:
    """The files a spark-submit command line runs: the application file and --jars/--py-files/…."""
    found: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        if token.startswith("-"):
            name, eq, inline = token.partition("=")
            if name in _FLAG_OPTIONS:
                i += 1
                continue
            value = inline if eq else (args[i + 1] if i + 1 < len(args) else "")
            if name in _CODE_OPTIONS:
                found.extend(v for v in value.split(",") if v)
            i += 1 if eq else 2
            continue
        found.append(token)  # the application file; what follows are the application's arguments
        break
    return found


def _command_code(args: Sequence[str]) -> list[str]:
    """Files at code positions of an argument list that runs spark-submit (anywhere in it)."""
    tokens = list(args)
    for arg in args:
        if " " in arg and "spark-submit" in arg:
            try:
                tokens = shlex.split(arg)
            except ValueError:
                continue
            break
    for index, word in enumerate(tokens):
        if word == "spark-submit" or word.endswith("/spark-submit"):
            return _spark_submit_code(tokens[index + 1 :])
    return []


def _s3_references(args: Sequence[str], positional: Iterable[str]) -> list[str]:
    """S3 objects that are code: at code positions, or named like code anywhere in the arguments."""
    refs = [_strip_fragment(v) for v in positional if _is_s3(v)]
    for arg in args:
        for token in _S3_TOKEN.findall(arg):
            if _looks_like_code(token):
                refs.append(_strip_fragment(token))
    return list(dict.fromkeys(refs))


def _read_s3(collector: _Collector, s3_client: Any, url: str, max_bytes: int, note: str | None) -> None:
    if collector.seen("s3-object", url):
        return
    if s3_client is None:
        collector.fail("s3-object", url, "no S3 client was given to read it", note)
        return
    try:
        identity, how, extra = _s3_identity(s3_client, url, max_bytes)
    except _Unreadable as exc:
        collector.fail("s3-object", url, str(exc), note)
        return
    collector.add("s3-object", url, identity, how, extra or note)


# --------------------------------------------------------------------------------------------------
# EMR


def _is_aws_library(jar: str) -> bool:
    """EMR's own runners (``command-runner.jar``, ``s3://<region>.elasticmapreduce/libs/...``)."""
    return "/" not in jar or ".elasticmapreduce/" in jar


def _emr_step(
    collector: _Collector,
    index: int,
    step: Mapping[str, Any],
    s3_client: Any,
    *,
    include_args: bool,
    max_bytes: int,
) -> None:
    config = step.get("HadoopJarStep") or step.get("Config") or {}
    if not isinstance(config, Mapping):
        config = {}
    name = str(step.get("Name")) if step.get("Name") else None
    jar = str(config.get("Jar") or "")
    args = [str(a) for a in config.get("Args") or []]
    text: dict[str, Any] = {"Jar": jar, "MainClass": config.get("MainClass")}
    if include_args:
        text["Args"] = args
        text["Properties"] = config.get("Properties") or []
    collector.add("emr-step", f"steps[{index}]", _text_identity(text), "text-sha256", name)
    positional: list[str] = []
    if _is_s3(jar) and not _is_aws_library(jar):
        positional.append(jar)
    if "script-runner" in jar and args:
        positional.append(args[0])
    positional += _command_code(args)
    for url in _s3_references(args, positional):
        _read_s3(collector, s3_client, url, max_bytes, name)


def _emr_bootstrap(
    collector: _Collector,
    index: int,
    action: Mapping[str, Any],
    s3_client: Any,
    *,
    include_args: bool,
    max_bytes: int,
) -> None:
    script = action.get("ScriptBootstrapAction")
    path = script.get("Path") if isinstance(script, Mapping) else action.get("ScriptPath")
    args = script.get("Args") if isinstance(script, Mapping) else action.get("Args")
    name = str(action.get("Name")) if action.get("Name") else None
    text: dict[str, Any] = {"Path": path}
    if include_args:
        text["Args"] = list(args or [])
    collector.add(
        "bootstrap-action", f"bootstrap-actions[{index}]", _text_identity(text), "text-sha256", name
    )
    if isinstance(path, str) and _is_s3(path) and ".elasticmapreduce/" not in path:
        _read_s3(collector, s3_client, path, max_bytes, name)
    for url in _s3_references([str(a) for a in args or []], ()):
        _read_s3(collector, s3_client, url, max_bytes, name)


@returns_response
def fingerprint_emr(
    request: Mapping[str, Any],
    *,
    s3_client: Any = None,
    steps: Sequence[Mapping[str, Any]] | None = None,
    include_args: bool = True,
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES,
) -> CodeFingerprint:
    """Fingerprint the code of an EMR job: its steps and bootstrap actions.

    Each step is an item hashed as text (``Jar``, ``MainClass`` and, with ``include_args``, its
    ``Args`` and ``Properties``; not its ``Name``), at its position (``steps[0]``: step order counts).
    S3 objects the steps run are read: a step ``Jar`` in S3, the script of ``script-runner.jar``,
    the application file and ``--jars``/``--py-files``/``--files``/``--archives`` of
    ``spark-submit`` (``command-runner.jar``), and any ``s3://`` argument named like code (``.py``,
    ``.jar``, ``.sh``, ``.zip``, ``.whl``…); data paths are hashed only as text. Bootstrap action
    scripts in S3 are read too. EMR's own JARs (``command-runner.jar``, ``*.elasticmapreduce``)
    and local paths on the cluster count by their path only.

    :param request: a RunJobFlow request (``Steps``, ``BootstrapActions``), or an EMR cluster report
        (``Steps`` items with ``Config``; ``Cluster.BootstrapActions``).
    :param s3_client: a boto3 S3 client (default: boto3's default chain).
    :param steps: more steps, e.g. those added later with AddJobFlowSteps.
    :param include_args: hash the steps' arguments; turn off when arguments change every run (dates),
        so that only the code itself counts.
    :param max_content_bytes: objects larger than this are identified by their ETag.
    :raises InvalidInputError: ``request`` is not an object.
    """
    if not isinstance(request, Mapping):
        raise InvalidInputError(f"The RunJobFlow request must be an object, not {type(request).__name__}.")
    if s3_client is None:
        from sync_provider.core.storage import default_s3_client

        s3_client = default_s3_client()
    collector = _Collector("aws-emr")
    cluster = request.get("Cluster") if isinstance(request.get("Cluster"), Mapping) else {}
    assert isinstance(cluster, Mapping)
    all_steps = [*(request.get("Steps") or []), *(steps or [])]
    for index, step in enumerate(all_steps):
        if isinstance(step, Mapping):
            _emr_step(
                collector, index, step, s3_client, include_args=include_args, max_bytes=max_content_bytes
            )
    actions = request.get("BootstrapActions") or cluster.get("BootstrapActions") or []
    for index, action in enumerate(actions):
        if isinstance(action, Mapping):
            _emr_bootstrap(
                collector, index, action, s3_client, include_args=include_args, max_bytes=max_content_bytes
            )
    fingerprint = collector.build()
    log.info("EMR code fingerprint %s", fingerprint.describe())
    return fingerprint


# --------------------------------------------------------------------------------------------------
# Databricks


def _api_reason(exc: DatabricksError) -> str:
    detail = exc.detail if isinstance(exc.detail, Mapping) else {}
    error_code = str(getattr(exc, "error_code", None) or detail.get("error_code") or "")
    status = getattr(exc, "status", None) or detail.get("http_status")
    if error_code == "RESOURCE_DOES_NOT_EXIST" or status == 404:
        return "not found (404)"
    if error_code in ("PERMISSION_DENIED", "UNAUTHORIZED") or status in (401, 403):
        return "access denied (403): the token may not read it"
    return f"could not be read ({exc.message})"


def _not_found(exc: DatabricksError) -> bool:
    return _api_reason(exc).startswith("not found")


def _dbfs_api_path(path: str) -> str:
    if path.startswith("dbfs:"):
        return "/" + path[len("dbfs:") :].lstrip("/")
    if path.startswith("/dbfs/"):
        return path[len("/dbfs") :]
    return path


def _dbfs_identity(api: Any, path: str, max_bytes: int) -> tuple[str, str, str | None]:
    api_path = _dbfs_api_path(path)
    try:
        status = api.call("GET", "2.0/dbfs/get-status", {"path": api_path}, idempotent=True)
    except DatabricksError as exc:
        raise _Unreadable(_api_reason(exc)) from None
    if status.get("is_dir"):
        raise _Unreadable("is a folder, not a file")
    size = int(status.get("file_size") or 0)
    if size > max_bytes:
        modified = status.get("modification_time")
        return f"size:{size};modified:{modified}", "dbfs-status", f"{size} bytes, identified by size and time"
    digest = hashlib.sha256()
    offset = 0
    try:
        while True:
            answer = api.call(
                "GET",
                "2.0/dbfs/read",
                {"path": api_path, "offset": offset, "length": _CHUNK},
                idempotent=True,
            )
            data = base64.b64decode(answer.get("data") or "")
            if not data:
                break
            digest.update(data)
            offset += len(data)
            if len(data) < _CHUNK:
                break
    except DatabricksError as exc:
        raise _Unreadable(_api_reason(exc)) from None
    return f"sha256:{digest.hexdigest()}", "content-sha256", None


def _workspace_api_path(path: str) -> str:
    return path[len("/Workspace") :] if path.startswith("/Workspace/") else path


def _workspace_identity(api: Any, path: str, *, notebook: bool) -> tuple[str, str, str | None]:
    api_path = _workspace_api_path(path)
    export_problem: str | None = None
    try:
        answer = api.call(
            "GET",
            "2.0/workspace/export",
            {"path": api_path, "format": "SOURCE" if notebook else "AUTO"},
            idempotent=True,
        )
        content = answer.get("content")
        if isinstance(content, str):
            digest = hashlib.sha256(base64.b64decode(content)).hexdigest()
            return f"sha256:{digest}", "workspace-export-sha256", None
        export_problem = "workspace/export returned no content"
    except DatabricksError as exc:
        if _not_found(exc):
            raise _Unreadable(_api_reason(exc)) from None
        export_problem = _api_reason(exc)
    try:
        status = api.call("GET", "2.0/workspace/get-status", {"path": api_path}, idempotent=True)
    except DatabricksError as exc:
        raise _Unreadable(f"{export_problem}; get-status: {_api_reason(exc)}") from None
    modified = status.get("modified_at")
    if modified is None:
        raise _Unreadable(f"{export_problem}; get-status has no modified_at")
    note = f"export refused ({export_problem}); identified by revision time"
    return f"revision:{status.get('object_id')}@{modified}", "workspace-modified-at", note


def _read_path(
    collector: _Collector,
    api: Any,
    s3_client: Any,
    path: str,
    *,
    notebook: bool = False,
    max_bytes: int,
    note: str | None,
) -> None:
    """Read a file referenced by a Databricks task or library, wherever it is."""
    if _is_s3(path):
        _read_s3(collector, s3_client, path, max_bytes, note)
        return
    if path.startswith(("/Volumes/", "/Workspace/Volumes/")):
        if not collector.seen("volume-file", path):
            collector.fail(
                "volume-file",
                path,
                "Unity Catalog volume files cannot be read through the Databricks JSON API "
                "(the Files API returns raw bytes)",
                note,
            )
        return
    if not path.startswith(("dbfs:", "/")):
        if not collector.seen("file", path):
            collector.fail("file", path, "the path is neither s3://, dbfs:/ nor a workspace path", note)
        return
    on_dbfs = path.startswith(("dbfs:", "/dbfs/"))
    kind = "dbfs-file" if on_dbfs else ("notebook" if notebook else "workspace-file")
    if collector.seen(kind, path):
        return
    try:
        if on_dbfs:
            identity, how, extra = _dbfs_identity(api, path, max_bytes)
        else:
            identity, how, extra = _workspace_identity(api, path, notebook=notebook)
    except _Unreadable as exc:
        collector.fail(kind, path, str(exc), note)
        return
    collector.add(kind, path, identity, how, extra or note)


def _git_item(collector: _Collector, git_source: Mapping[str, Any]) -> None:
    url = str(git_source.get("git_url") or "?")
    if collector.seen("git-source", url):
        return
    for key, how in (("git_commit", "git-commit"), ("git_tag", "git-tag"), ("git_branch", "git-branch")):
        value = git_source.get(key)
        if value:
            collector.add("git-source", url, f"{key.removeprefix('git_')}:{value}", how)
            if how == "git-branch":
                collector.unreadable.append(
                    f"{url}: git branch {value!r} is not pinned to a commit, so a new commit on it cannot "
                    "be seen; set git_commit (or git_tag) to make the fingerprint whole"
                )
            return
    collector.fail("git-source", url, "git_source names no commit, tag or branch")


def _library(
    collector: _Collector, api: Any, s3_client: Any, library: Mapping[str, Any], max_bytes: int
) -> None:
    for key in ("jar", "whl", "egg", "requirements"):
        value = library.get(key)
        if isinstance(value, str):
            _read_path(collector, api, s3_client, value, max_bytes=max_bytes, note=f"{key} library")
            return
    for key, field in (("pypi", "package"), ("maven", "coordinates"), ("cran", "package")):
        spec = library.get(key)
        if isinstance(spec, Mapping) and isinstance(spec.get(field), str):
            text = str(spec[field])
            name = (
                re.split(r"[=<>!~\[; @]", text, maxsplit=1)[0] if key != "maven" else text.rsplit(":", 1)[0]
            )
            identity = text if len(spec) == 1 else json.dumps(dict(spec), sort_keys=True)
            collector.add("library", f"{key}:{name}", identity, "spec")
            return
    collector.fail("library", json.dumps(dict(library), sort_keys=True), "unknown library kind")


def _task_code(
    collector: _Collector,
    api: Any,
    s3_client: Any,
    task: Mapping[str, Any],
    *,
    label: str,
    git_source: Mapping[str, Any] | None,
    include_args: bool,
    max_bytes: int,
) -> None:
    from sync_provider.core.databricks.models import TASK_TYPES

    types = [t for t in TASK_TYPES if isinstance(task.get(t), Mapping)]
    if not types:
        collector.fail("databricks-task", label, "the task has no task type the Jobs API knows")
        return
    for task_type in types:
        block: Mapping[str, Any] = task[task_type]
        text = {k: v for k, v in block.items() if include_args or k not in _PARAMETER_KEYS}
        collector.add("databricks-task", label, _text_identity({task_type: text}), "text-sha256", task_type)
        if block.get("source"):
            from_git = str(block["source"]).upper() == "GIT"
        else:  # Databricks' default: Git when the job has a git_source (for a path that can be in Git)
            path = str(block.get("python_file") or block.get("notebook_path") or "")
            from_git = git_source is not None and not path.startswith(("/", "dbfs:", "s3:", "s3a:", "s3n:"))
        if task_type in ("spark_python_task", "notebook_task", "sql_task", "dbt_task") and from_git:
            if git_source:
                _git_item(collector, git_source)
            else:
                collector.fail("git-source", label, "the task's source is GIT but no git_source was given")
            continue
        if task_type == "spark_python_task" and isinstance(block.get("python_file"), str):
            _read_path(collector, api, s3_client, block["python_file"], max_bytes=max_bytes, note=label)
        elif task_type == "notebook_task" and isinstance(block.get("notebook_path"), str):
            _read_path(
                collector,
                api,
                s3_client,
                block["notebook_path"],
                notebook=True,
                max_bytes=max_bytes,
                note=label,
            )
        elif task_type == "spark_jar_task":
            if isinstance(block.get("jar_uri"), str):
                _read_path(collector, api, s3_client, block["jar_uri"], max_bytes=max_bytes, note=label)
        elif task_type == "spark_submit_task":
            params = [str(p) for p in block.get("parameters") or []]
            for path in dict.fromkeys(_spark_submit_code(params)):
                if path.startswith(("dbfs:", "s3://", "s3a://", "s3n://", "/")):
                    _read_path(
                        collector, api, s3_client, _strip_fragment(path), max_bytes=max_bytes, note=label
                    )
        elif task_type == "for_each_task" and isinstance(block.get("task"), Mapping):
            _task_code(
                collector,
                api,
                s3_client,
                block["task"],
                label=f"{label}/for_each",
                git_source=git_source,
                include_args=include_args,
                max_bytes=max_bytes,
            )
        elif task_type == "python_wheel_task":
            pass  # package and entry point are in the task text; the wheel comes from libraries
        else:
            collector.unreadable.append(
                f"{label}: {task_type} is fingerprinted by its settings only (the code it runs is not read)"
            )
    for library in task.get("libraries") or []:
        if isinstance(library, Mapping):
            _library(collector, api, s3_client, library, max_bytes)


@returns_response
def fingerprint_databricks(
    task: Mapping[str, Any],
    *,
    api: Any,
    s3_client: Any = None,
    git_source: Mapping[str, Any] | None = None,
    include_args: bool = True,
    max_content_bytes: int = DEFAULT_MAX_CONTENT_BYTES,
) -> CodeFingerprint:
    """Fingerprint the code of a Databricks job task (or of every task of a job or run submission).

    * ``spark_python_task.python_file``, ``spark_jar_task.jar_uri`` and the files of
      ``spark_submit_task`` parameters: workspace files by ``workspace/export`` content (else
      ``get-status`` revision), ``dbfs:/`` files by streamed ``dbfs/read`` content, ``s3://`` objects
      as on EMR (with ``s3_client``);
    * ``notebook_task.notebook_path``: the exported notebook source (else its revision time);
    * tasks whose ``source`` is ``GIT`` (or with a ``git_source`` and no source): the Git commit, tag
      or branch;
    * ``libraries``: ``jar``/``whl``/``egg``/``requirements`` files by content, ``pypi``/``maven``/
      ``cran`` by their spec (order does not matter);
    * the task settings (``python_wheel_task`` package and entry point, main class, and with
      ``include_args`` the parameters) as text. Cluster settings are not code and are left out.

    :param task: a Jobs API task, or an object with ``tasks`` (a job's settings or a
        ``runs/submit`` body, whose ``git_source`` is used).
    :param api: a :class:`~sync_provider.core.databricks.DatabricksApi`.
    :param s3_client: a boto3 S3 client for ``s3://`` files (without one they are unreadable).
    :param git_source: the job's ``git_source`` when ``task`` is a single task.
    :param include_args: hash the tasks' parameters.
    :param max_content_bytes: larger DBFS files count by size and time, larger S3 objects by ETag.
    :raises InvalidInputError: ``task`` is not an object.
    """
    if not isinstance(task, Mapping):
        raise InvalidInputError(f"The Databricks task must be an object, not {type(task).__name__}.")
    collector = _Collector("aws-databricks")
    source = git_source or (task.get("git_source") if isinstance(task.get("git_source"), Mapping) else None)
    tasks = task.get("tasks") if isinstance(task.get("tasks"), list) else [task]
    assert isinstance(tasks, list)
    for index, item in enumerate(tasks):
        if not isinstance(item, Mapping):
            continue
        label = f"task {item['task_key']}" if item.get("task_key") else f"tasks[{index}]"
        _task_code(
            collector,
            api,
            s3_client,
            item,
            label=label,
            git_source=source,
            include_args=include_args,
            max_bytes=max_content_bytes,
        )
    fingerprint = collector.build()
    log.info("Databricks code fingerprint %s", fingerprint.describe())
    return fingerprint


# --------------------------------------------------------------------------------------------------
# Comparing


def _identity_text(item: CodeItem) -> str:
    return f"{item.identity} by {item.how}" if item.identity else "unreadable"


#: How an item only one platform has is described (it is compared on neither side).
NOT_COMPARABLE_ACROSS_PLATFORMS = "not comparable across platforms"


def compare_fingerprints(
    previous: CodeFingerprint | str,
    current: CodeFingerprint | str,
    *,
    previous_platform: str | None = None,
) -> FingerprintDiff:
    """Compare two fingerprints item by item.

    An item is *changed* when both sides read it and its identity differs (when it was identified
    another way on each side, e.g. by version id and by content, the sentence says it may be the
    same code); *added*/*removed* when only one side has it; *not comparable* when either side could
    not read it or it is an unpinned Git branch. Unknown items are never counted as changes.
    With a bare hash (only the ``sync:code-hash`` tag is known) only the hashes are compared.
    Fingerprints of different platforms compare only the items both have; the rest is not
    comparable.

    :param previous: the basis run's fingerprint, or its hash.
    :param current: the new fingerprint, or its hash.
    :param previous_platform: the basis run's platform when ``previous`` is a bare hash.
    """
    prev_hash = previous if isinstance(previous, str) else previous.hash
    cur_hash = current if isinstance(current, str) else current.hash
    before_platform = previous_platform if isinstance(previous, str) else previous.platform
    after_platform = None if isinstance(current, str) else current.platform
    cross = bool(before_platform and after_platform and before_platform != after_platform)
    if isinstance(previous, str) or isinstance(current, str):
        return FingerprintDiff(
            previous_hash=prev_hash, current_hash=cur_hash, items_known=False, cross_platform=cross
        )
    before = {item.key: item for item in previous.items}
    after = {item.key: item for item in current.items}
    changed: list[str] = []
    added: list[str] = []
    removed: list[str] = []
    unknown: list[str] = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if cross and (old is None or new is None):
            only = new or old
            assert only is not None
            side = after_platform if new is not None else before_platform
            unknown.append(f"{only.label()} (only on {side}: {NOT_COMPARABLE_ACROSS_PLATFORMS})")
        elif old is None and new is not None:
            added.append(f"{new.label()} ({_identity_text(new)})")
        elif new is None and old is not None:
            removed.append(f"{old.label()} (was {_identity_text(old)})")
        elif old is not None and new is not None:
            if old.identity is None or new.identity is None:
                side = (
                    "before and now"
                    if old.identity is new.identity
                    else ("before" if old.identity is None else "now")
                )
                unknown.append(f"{new.label()} (unreadable {side})")
            elif old.identity != new.identity:
                text = f"{new.label()}: {old.identity} -> {new.identity}"
                if old.how != new.how:
                    text += f" (identified by {old.how} before and {new.how} now: it may be the same code)"
                changed.append(text)
            elif new.how == "git-branch":
                unknown.append(f"{new.label()} ({new.identity} is not pinned to a commit)")
    return FingerprintDiff(
        previous_hash=prev_hash,
        current_hash=cur_hash,
        changed=changed,
        added=added,
        removed=removed,
        unknown=unknown,
        cross_platform=cross,
    )


def check_code_change(
    previous: CodeFingerprint | BasisFingerprint | str | None,
    current: CodeFingerprint,
    on_code_change: OnCodeChange | str = "warn",
    logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
) -> FingerprintDiff | None:
    """Check that the code did not change since the prediction's basis run.

    A change (a changed, added or removed item, or a different hash when only the basis hash is
    known) is logged as a warning naming both fingerprints and what changed (``"warn"``), or raises
    :class:`CodeChangedError` with the same text (``"fail"``). What could not be compared
    (unreadable items, unpinned Git branches) is logged as a warning and never fails. Without a
    basis fingerprint nothing can be checked: that is logged and ``None`` is returned. A basis of the
    other platform is compared on the items both have; with only its hash nothing can be compared
    (a warning, never a failure).

    :param previous: the basis run's fingerprint (from :func:`basis_fingerprint` or
        :func:`load_fingerprint`), or only its hash, or ``None``.
    :param current: the fingerprint of the code about to run.
    :param on_code_change: ``"warn"`` (default) or ``"fail"``.
    :param logger: where to log (default: this module's logger); an Airflow task passes ``self.log``.
    :raises CodeChangedError: the code changed and ``on_code_change`` is ``"fail"``.
    :raises InvalidInputError: ``on_code_change`` is neither ``"warn"`` nor ``"fail"``.
    """
    if on_code_change not in ("warn", "fail"):
        raise InvalidInputError(f"on_code_change must be 'warn' or 'fail', not {on_code_change!r}.")
    out = logger or log
    basis: CodeFingerprint | str | None
    basis_platform: str | None = None
    if isinstance(previous, BasisFingerprint):
        basis = previous.fingerprint or previous.hash
        basis_platform = previous.platform
        if previous.problem:
            out.info("Basis code fingerprint file: %s", previous.problem)
    else:
        basis = previous
    if basis is None:
        out.warning(
            "The prediction's basis run has no recorded code fingerprint (no %s tag): cannot tell whether "
            "the code changed since. Current code fingerprint: %s.",
            CODE_HASH_TAG,
            current.describe(),
        )
        return None
    diff = compare_fingerprints(basis, current, previous_platform=basis_platform)
    if diff.code_changed:
        text = (
            "The application code changed since the prediction's basis run, so the prediction may not fit "
            f"it: {diff.describe()}."
        )
        if on_code_change == "fail":
            raise CodeChangedError(
                text + " Record a run of the new code and predict again, or pass on_code_change='warn'.",
                detail={
                    "previous_hash": diff.previous_hash,
                    "current_hash": diff.current_hash,
                    "changed": diff.changed,
                    "added": diff.added,
                    "removed": diff.removed,
                },
            )
        out.warning("%s", text)
    elif diff.cross_platform and not diff.items_known and not diff.same:
        out.warning("%s.", diff.describe())
    elif diff.unknown:
        # Steps of one platform and tasks of the other never compare: expected, so only noted.
        expected = all(NOT_COMPARABLE_ACROSS_PLATFORMS in item for item in diff.unknown)
        (out.info if expected else out.warning)(
            "Code fingerprint %s: no change seen, but these could not be compared: %s.",
            current.hash,
            "; ".join(diff.unknown),
        )
    else:
        out.info("Code unchanged since the basis run (fingerprint %s).", current.hash)
    return diff


# --------------------------------------------------------------------------------------------------
# Tags and run files


def _hash_value(fingerprint: CodeFingerprint | str) -> str:
    value = fingerprint if isinstance(fingerprint, str) else fingerprint.hash
    if not _HEX64.match(value):
        raise InvalidInputError(f"A code hash is 64 lowercase hex digits (SHA-256), not {value!r}.")
    return value


def add_code_hash_to_emr_request(
    request: Mapping[str, Any], fingerprint: CodeFingerprint | str
) -> dict[str, Any]:
    """Return a copy of a RunJobFlow request tagged ``sync:code-hash`` = the fingerprint's hash.

    The value is the full 64-hex SHA-256 (EMR tag values hold up to 256 characters). A
    ``sync:code-hash`` already there is replaced: it describes the code of an earlier run.

    :param request: the RunJobFlow request (not changed).
    :param fingerprint: the fingerprint or its hash.
    """
    value = _hash_value(fingerprint)
    tagged = dict(request)
    tags = [
        dict(t) for t in request.get("Tags") or [] if isinstance(t, Mapping) and t.get("Key") != CODE_HASH_TAG
    ]
    tags.append({"Key": CODE_HASH_TAG, "Value": value})
    tagged["Tags"] = tags
    return tagged


def add_code_hash_to_databricks_spec(
    spec: Mapping[str, Any], fingerprint: CodeFingerprint | str
) -> dict[str, Any]:
    """Return a copy of a Databricks cluster spec with ``custom_tags["sync:code-hash"]`` set.

    The value is the full 64-hex SHA-256 (Databricks tag values hold up to 256 characters). A value
    already there is replaced.

    :param spec: the cluster spec (not changed).
    :param fingerprint: the fingerprint or its hash.
    """
    value = _hash_value(fingerprint)
    tagged = dict(spec)
    tagged["custom_tags"] = {**dict(spec.get("custom_tags") or {}), CODE_HASH_TAG: value}
    return tagged


def code_hash_of(source: Mapping[str, Any] | Prediction | None) -> str | None:
    """Read the ``sync:code-hash`` tag of a configuration, a cluster report or a prediction's basis.

    :param source: a RunJobFlow request or DescribeCluster ``Cluster`` (``Tags``), an EMR cluster
        report (``Cluster.Tags``), a Databricks cluster spec (``custom_tags``) or cluster report
        (``cluster.custom_tags``), or a :class:`~sync_provider.core.models.Prediction` (its basis
        configuration).
    """
    if isinstance(source, Prediction):
        return code_hash_of(source.basis.configuration) if source.basis is not None else None
    if not isinstance(source, Mapping):
        return None
    for nested in ("Cluster", "cluster"):
        inner = source.get(nested)
        if isinstance(inner, Mapping):
            found = code_hash_of(inner)
            if found:
                return found
    for tag in source.get("Tags") or []:
        if isinstance(tag, Mapping) and tag.get("Key") == CODE_HASH_TAG and isinstance(tag.get("Value"), str):
            return str(tag["Value"])
    for key in ("custom_tags", "default_tags"):
        tags = source.get(key)
        if isinstance(tags, Mapping) and isinstance(tags.get(CODE_HASH_TAG), str):
            return str(tags[CODE_HASH_TAG])
    return None


def fingerprint_url(run_folder: str) -> str:
    """``<run folder>/code-fingerprint.json``.

    :param run_folder: an EMR run prefix (``PreparedRun.run_prefix``) or a Databricks log
        destination (``PreparedCluster.log_destination``), ``s3://…`` or ``dbfs:/…``.
    """
    return run_folder.rstrip("/") + "/" + FINGERPRINT_FILE


@returns_response
def save_fingerprint(
    fingerprint: CodeFingerprint, run_folder: str, *, s3_client: Any = None, api: Any = None
) -> str:
    """Save the fingerprint as ``code-fingerprint.json`` in the run folder; return its URL.

    :param fingerprint: the fingerprint.
    :param run_folder: ``s3://…`` (with ``s3_client``, default boto3's chain) or ``dbfs:/…`` (with
        ``api``, through ``dbfs/put``).
    :param s3_client: a boto3 S3 client.
    :param api: a :class:`~sync_provider.core.databricks.DatabricksApi`.
    :raises StorageError: S3 refused the write.
    :raises DatabricksError: DBFS refused the write.
    :raises InvalidInputError: another kind of location, or ``dbfs:/`` without ``api``.
    """
    url = fingerprint_url(run_folder)
    body = fingerprint.model_dump_json(indent=2).encode()
    if _is_s3(url):
        from sync_provider.core.emr._common import s3_put
        from sync_provider.core.storage import default_s3_client, parse_s3_url

        location = parse_s3_url(url)
        s3_put(s3_client or default_s3_client(), location.bucket, location.key, body, "application/json")
    elif url.startswith("dbfs:"):
        if api is None:
            raise InvalidInputError(f"Saving {url} needs a Databricks API client (api=...).")
        contents = base64.b64encode(body).decode("ascii")
        api.call(
            "POST",
            "2.0/dbfs/put",
            {"path": _dbfs_api_path(url), "contents": contents, "overwrite": True},
            idempotent=True,
        )
    else:
        raise InvalidInputError(f"Cannot save a code fingerprint to {url!r}: use an s3:// or dbfs:/ folder.")
    log.info("Saved code fingerprint %s to %s", fingerprint.hash, url)
    return url


def _read_all(url: str, s3_client: Any, api: Any) -> bytes:
    if _is_s3(url):
        from sync_provider.core.errors import StorageError
        from sync_provider.core.storage import default_s3_client, parse_s3_url

        location = parse_s3_url(url)
        client = s3_client or default_s3_client()
        try:
            body = client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
        except Exception as exc:
            raise StorageError(f"Reading {url} failed: {_s3_reason(exc)}.") from None
        return data
    if url.startswith("dbfs:"):
        if api is None:
            raise InvalidInputError(f"Reading {url} needs a Databricks API client (api=...).")
        chunks: list[bytes] = []
        offset = 0
        while True:
            answer = api.call(
                "GET",
                "2.0/dbfs/read",
                {"path": _dbfs_api_path(url), "offset": offset, "length": _CHUNK},
                idempotent=True,
            )
            data = base64.b64decode(answer.get("data") or "")
            if not data:
                break
            chunks.append(data)
            offset += len(data)
            if len(data) < _CHUNK:
                break
        return b"".join(chunks)
    raise InvalidInputError(f"Cannot read a code fingerprint from {url!r}: use an s3:// or dbfs:/ URL.")


@returns_response
def load_fingerprint(url: str, *, s3_client: Any = None, api: Any = None) -> CodeFingerprint:
    """Load a fingerprint saved by :func:`save_fingerprint`.

    :param url: the file's ``s3://`` or ``dbfs:/`` URL (see :func:`fingerprint_url`).
    :param s3_client: a boto3 S3 client.
    :param api: a :class:`~sync_provider.core.databricks.DatabricksApi`.
    :raises StorageError: S3 refused the read.
    :raises DatabricksError: DBFS refused the read.
    :raises InvalidInputError: the file is not a code fingerprint.
    """
    data = _read_all(url, s3_client, api)
    try:
        return CodeFingerprint.model_validate_json(data)
    except ValueError as exc:
        raise InvalidInputError(f"{url} is not a code fingerprint: {exc}") from None


def _basis_file(configuration: Mapping[str, Any], project_location: str | None) -> str | None:
    """Where the basis run's fingerprint file is, from its configuration."""
    from sync_provider.core.emr import EVENTLOG_DIR, PROJECT_TAG, RUN_TAG, parse_run_eventlog_dir

    if isinstance(configuration.get("Instances"), Mapping) or "Configurations" in configuration:
        for entry in configuration.get("Configurations") or []:
            if isinstance(entry, Mapping) and entry.get("Classification") == "spark-defaults":
                props = entry.get("Properties")
                current = props.get(EVENTLOG_DIR) if isinstance(props, Mapping) else None
                parsed = parse_run_eventlog_dir(current) if isinstance(current, str) else None
                if parsed is not None:
                    return fingerprint_url(parsed.run_prefix)
        return None
    log_conf = configuration.get("cluster_log_conf")
    if isinstance(log_conf, Mapping):
        for target in log_conf.values():
            if isinstance(target, Mapping) and isinstance(target.get("destination"), str):
                return fingerprint_url(target["destination"])
    tags = configuration.get("custom_tags")
    if project_location and isinstance(tags, Mapping) and tags.get(PROJECT_TAG) and tags.get(RUN_TAG):
        from sync_provider.core.databricks.clusters import log_destination

        _, destination = log_destination(project_location, str(tags[PROJECT_TAG]), str(tags[RUN_TAG]))
        return fingerprint_url(destination)
    return None


@returns_response
def basis_fingerprint(
    prediction: Prediction | Mapping[str, Any],
    *,
    project_location: str | None = None,
    s3_client: Any = None,
    api: Any = None,
) -> BasisFingerprint:
    """Find the code fingerprint of a prediction's basis run.

    The hash comes from the basis configuration's ``sync:code-hash`` tag. The whole fingerprint
    (to name what changed) is read from ``code-fingerprint.json`` in the basis run's folder: for
    EMR the folder of its ``spark.eventLog.dir``; for Databricks its ``cluster_log_conf``
    destination, or ``<project_location>/<project id>/<run id>`` from its tags. A missing or
    unreadable file is not an error: :attr:`BasisFingerprint.problem` says why and the hash is used.

    :param prediction: the prediction.
    :param project_location: the Sync project's location (Databricks, when the basis configuration
        has no ``cluster_log_conf``).
    :param s3_client: a boto3 S3 client for ``s3://`` run folders.
    :param api: a :class:`~sync_provider.core.databricks.DatabricksApi` for ``dbfs:/`` run folders.
    """
    model = prediction if isinstance(prediction, Prediction) else Prediction.model_validate(prediction)
    if model.basis is None:
        return BasisFingerprint(problem=f"prediction {model.prediction_id} has no basis configuration")
    configuration = model.basis.configuration
    platform = "aws-emr" if isinstance(configuration.get("Instances"), Mapping) else "aws-databricks"
    if model.product_code in ("aws-emr", "aws-databricks"):
        platform = model.product_code
    tag = code_hash_of(configuration)
    url = _basis_file(configuration, project_location)
    if url is None:
        return BasisFingerprint(
            platform=platform,
            hash=tag,
            problem="the basis configuration does not say where its run folder is",
        )
    if url.startswith("dbfs:") and api is None:
        return BasisFingerprint(
            platform=platform, hash=tag, url=url, problem=f"{url} is on DBFS and no api was given"
        )
    loaded: Response[CodeFingerprint] = load_fingerprint(url, s3_client=s3_client, api=api)
    if loaded.error is not None:
        return BasisFingerprint(
            platform=platform, hash=tag, url=url, problem=f"{url} could not be read: {loaded.error.message}"
        )
    fingerprint = loaded.unwrap()
    problem = None
    if tag is not None and tag != fingerprint.hash:
        problem = (
            f"the basis {CODE_HASH_TAG} tag {tag} differs from {url} ({fingerprint.hash}); the file is used"
        )
    return BasisFingerprint(
        platform=platform, hash=fingerprint.hash, fingerprint=fingerprint, url=url, problem=problem
    )
