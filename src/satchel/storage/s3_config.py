"""What an ``s3://`` store URL means, and where its credentials come from. No I/O but files.

URL form::

    s3://BUCKET[/PREFIX][?endpoint=URL&region=R&profile=P&part_size=N&concurrency=N
                         &copy_if_not_exists=MODE]

Secrets never go in the URL (it is printed, logged and stored as ``Settings.store``).
Credentials are taken, first found wins, from:

1. the ``credentials`` given to ``S3BlobStore`` (or ``open_s3_store``);
2. the environment: ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``;
3. a profile's static keys: ``profile=`` in the URL, else ``AWS_PROFILE``, else ``default``,
   read from ``AWS_SHARED_CREDENTIALS_FILE`` (default ``~/.aws/credentials``) and
   ``AWS_CONFIG_FILE`` (default ``~/.aws/config``);
4. otherwise none: obstore's own chain then runs (EC2/ECS instance metadata, web identity
   tokens). Data operations work; listing incomplete multipart uploads (garbage) needs
   static keys and is skipped.

The region comes from ``region=``, ``AWS_REGION``, ``AWS_DEFAULT_REGION``, the profile, then
``us-east-1``; the endpoint from ``endpoint=``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``,
else AWS itself.
"""

from __future__ import annotations

import configparser
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from satchel.errors import ConfigError

__all__ = ["DEFAULT_PART_SIZE", "S3Credentials", "S3Location", "parse_s3_url", "resolve"]

MIB: Final = 1024 * 1024
DEFAULT_PART_SIZE: Final = 8 * MIB
DEFAULT_CONCURRENCY: Final = 8
#: The copy that publishes a streamed blob under its digest key must fail when the key
#: exists. With an ``endpoint`` (SeaweedFS, MinIO...) the default is ``If-None-Match`` on
#: CopyObject (atomic on SeaweedFS); on AWS itself (no endpoint) obstore's ``multipart``
#: mode, the one AWS documents (a part copy completed with ``If-None-Match``).
HEADER_COPY_IF_NOT_EXISTS: Final = "header:If-None-Match:*"
AWS_COPY_IF_NOT_EXISTS: Final = "multipart"
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_SEGMENT = re.compile(r"[A-Za-z0-9._\-]+")
_OPTIONS: Final = frozenset(
    {"endpoint", "region", "profile", "part_size", "concurrency", "copy_if_not_exists"}
)
_UNITS: Final = {"": 1, "k": 1024, "kib": 1024, "m": MIB, "mib": MIB, "g": 1024 * MIB}


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Credentials:
    """Static keys; ``session_token`` for temporary ones."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # never print a secret
        return f"S3Credentials(access_key_id={self.access_key_id!r}, secret_access_key='***')"


@dataclass(frozen=True, slots=True, kw_only=True)
class S3Location:
    """A parsed store URL: where blobs live and how they are uploaded."""

    bucket: str
    prefix: str
    endpoint: str | None = None
    region: str | None = None
    profile: str | None = None
    part_size: int = DEFAULT_PART_SIZE
    concurrency: int = DEFAULT_CONCURRENCY
    copy_if_not_exists: str | None = None  # None: chosen by endpoint (see above)

    @property
    def url(self) -> str:
        """The canonical URL (options that differ from the defaults, sorted)."""
        options: dict[str, str] = {}
        for name in sorted(_OPTIONS):
            value = getattr(self, name)
            default = S3Location.__dataclass_fields__[name].default
            if value is not None and value != default:
                options[name] = str(value)
        path = f"/{quote(self.prefix)}" if self.prefix else ""
        query = f"?{urlencode(options)}" if options else ""
        return f"s3://{self.bucket}{path}{query}"

    def key(self, relative: str) -> str:
        """The object key of a path relative to the store's prefix."""
        return f"{self.prefix}/{relative}" if self.prefix else relative


def _size(name: str, text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([a-zA-Z]*)", text.strip())
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ConfigError(f"s3 URL option {name} is not a size: {text!r}")
    return int(match.group(1)) * _UNITS[unit]


def parse_s3_url(url: str) -> S3Location:
    """Parse ``s3://bucket/prefix?options``; refuses anything it does not understand."""
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ConfigError(f"not an s3:// URL: {url!r}")
    if parts.username or parts.password:
        raise ConfigError("credentials do not belong in the store URL; see docs/storage.md")
    bucket = parts.hostname or ""
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ConfigError(f"not a valid S3 bucket name: {bucket!r}")
    segments = [s for s in parts.path.split("/") if s]
    for segment in segments:
        if not _SEGMENT.fullmatch(segment) or segment in (".", ".."):
            raise ConfigError(f"s3 prefix segments are [A-Za-z0-9._-]+: {parts.path!r}")
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False):
        if name not in _OPTIONS:
            raise ConfigError(f"unknown s3 URL option {name!r}; known: {sorted(_OPTIONS)}")
        options[name] = value
    part_size = _size("part_size", options.get("part_size", str(DEFAULT_PART_SIZE)))
    if not 5 * MIB <= part_size <= 512 * MIB:
        raise ConfigError(f"part_size must be between 5 MiB and 512 MiB: {part_size}")
    try:
        concurrency = int(options.get("concurrency", DEFAULT_CONCURRENCY))
    except ValueError as exc:
        raise ConfigError(f"concurrency must be an integer: {options['concurrency']!r}") from exc
    if not 1 <= concurrency <= 64 or part_size * concurrency > 192 * MIB:
        raise ConfigError(
            "concurrency must be 1..64 with part_size x concurrency at most 192 MiB "
            "(memory stays bounded, seed 001)"
        )
    endpoint = options.get("endpoint") or None
    if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
        raise ConfigError(f"the s3 endpoint must be an http(s) URL: {endpoint!r}")
    return S3Location(
        bucket=bucket,
        prefix="/".join(segments),
        endpoint=endpoint,
        region=options.get("region") or None,
        profile=options.get("profile") or None,
        part_size=part_size,
        concurrency=concurrency,
        copy_if_not_exists=options.get("copy_if_not_exists") or None,
    )


def _read_ini(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error) as exc:
        raise ConfigError(f"cannot read the AWS file {path}: {exc}") from exc
    return parser


def _profile_values(environ: Mapping[str, str], profile: str) -> dict[str, str]:
    """A profile's settings: the credentials file wins over the config file."""
    home = Path(environ.get("HOME") or Path.home())
    config = Path(environ.get("AWS_CONFIG_FILE") or home / ".aws" / "config").expanduser()
    shared = Path(
        environ.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials"
    ).expanduser()
    values: dict[str, str] = {}
    if config.is_file():
        parser = _read_ini(config)
        section = "default" if profile == "default" else f"profile {profile}"
        if parser.has_section(section):
            values.update(parser.items(section))
    if shared.is_file():
        parser = _read_ini(shared)
        if parser.has_section(profile):
            values.update(parser.items(profile))
    return values


def resolve(
    location: S3Location,
    credentials: S3Credentials | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[S3Credentials | None, str, str | None]:
    """The credentials (None: leave it to obstore's chain), region and endpoint to use."""
    env = os.environ if environ is None else environ
    profile_name = location.profile or env.get("AWS_PROFILE") or "default"
    profile = _profile_values(env, profile_name)
    if location.profile and not profile:
        raise ConfigError(f"AWS profile {location.profile!r} not found")
    found = credentials
    if found is None and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        found = S3Credentials(
            access_key_id=env["AWS_ACCESS_KEY_ID"],
            secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            session_token=env.get("AWS_SESSION_TOKEN") or None,
        )
    if found is None and profile.get("aws_access_key_id") and profile.get("aws_secret_access_key"):
        found = S3Credentials(
            access_key_id=profile["aws_access_key_id"],
            secret_access_key=profile["aws_secret_access_key"],
            session_token=profile.get("aws_session_token") or None,
        )
    region = (
        location.region
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or profile.get("region")
        or "us-east-1"
    )
    endpoint = (
        location.endpoint
        or env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or profile.get("endpoint_url")
        or None
    )
    return found, region, endpoint
