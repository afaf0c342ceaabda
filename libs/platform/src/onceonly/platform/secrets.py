"""Secret settings: key rings with key ids, secrets read from files, the development keys.

Every secret setting may be given in the environment (`ONCEONLY_PII_KEYS=...`) or as a
file that holds it (`ONCEONLY_PII_KEYS_FILE=/run/secrets/pii-keys`), the form a mounted
Kubernetes or Docker secret takes; giving both is refused, so that a forgotten variable
cannot silently win over the mounted file.

A key ring is `id:material[,id:material...]`: the first key signs or seals, every key
verifies or opens, so a key rotates by putting a new one first and dropping the old one
once nothing made with it is still in use. The id travels with what the key made (a
token's `kid` header, a sealed value's prefix), so the right key is found without trying
them all.

The development keys are published in this file; `PlatformSettings` accepts them only
when the environment is development, set explicitly, on loopback (`settings.py`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

if TYPE_CHECKING:
    from pydantic_settings import BaseSettings

# Suffix of the variable that names a file holding a secret setting.
FILE_SUFFIX = "_FILE"
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

# Well-known keys so that a fresh checkout runs on a developer's machine; published here,
# so refused everywhere else (settings.py). One per purpose, as in production.
# (S105: these are meant to be public.)
DEVELOPMENT_PII_KEY = "dev1:b25jZW9ubHktZGV2ZWxvcG1lbnQta2V5LTMyYnl0ZSE="
DEVELOPMENT_DEPARTMENT_API_TOKEN_KEYS = "dev-department:onceonly-development-department-api-key"  # noqa: S105
DEVELOPMENT_TRACKING_API_TOKEN_KEYS = "dev-tracking:onceonly-development-tracking-api-key"  # noqa: S105
DEVELOPMENT_NOTIFY_API_TOKEN_KEYS = "dev-notify:onceonly-development-notify-api-key"  # noqa: S105
DEVELOPMENT_RECIPIENT_HASH_KEY = "onceonly-development-recipient-hash-key"
# The workflow's base registry is keyed with it: the seeded local registry needs it as is.
DEVELOPMENT_REGISTRY_KEY = "onceonly-development-registry-key"
# Signs e-licences (Ed25519 private key, base64 of its 32 bytes): whatever it signed is
# forgeable by anyone, so verifiers outside development must not publish its public key.
DEVELOPMENT_ELICENCE_SIGNING_KEYS = "dev-elicence:b25jZW9ubHktZGV2ZWxvcG1lbnQtZWxpY2VuY2UtayE="
# Signs tracking's timeline checkpoints (Ed25519, as above): its own key, so that the
# e-licence key never vouches for a timeline, nor this one for a licence.
DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS = (
    "dev-checkpoint:b25jZW9ubHktZGV2ZWxvcG1lbnQtY2hlY2twb2ludCE="
)
# The single secret that signed every staff token and hashed notify's recipients before
# keys were separated by purpose: published, so refused as a value of any secret.
DEVELOPMENT_SECRET = "onceonly-development-signing-secret-not-for-production"  # noqa: S105


class SettingsRefused(ValueError):
    """A setting that keeps the process from starting; the message is one line that
    names the variable to fix."""


def env_name(settings_cls: type[BaseSettings], field_name: str) -> str:
    """The environment variable of a setting, e.g. `ONCEONLY_PII_KEYS`."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return f"{prefix}{field_name}".upper()


def secret_fields(settings_cls: type[BaseSettings]) -> tuple[str, ...]:
    """The settings that are secrets: every `SecretStr` field, and those a class names in
    `FILE_SETTINGS` (e.g. the database URL, which holds a password)."""
    extra = tuple(getattr(settings_cls, "FILE_SETTINGS", ()))
    return tuple(
        name
        for name, field in settings_cls.model_fields.items()
        if _is_secret(field) or name in extra
    )


def _is_secret(field: FieldInfo) -> bool:
    annotation = field.annotation
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


class FileSecretsSource(PydanticBaseSettingsSource):
    """Reads `ONCEONLY_<SETTING>_FILE` for every secret setting: the file's content,
    without surrounding whitespace (a trailing newline is common in mounted secrets)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        environ = {key.upper(): value for key, value in os.environ.items()}
        found: dict[str, Any] = {}
        for name in secret_fields(self.settings_cls):
            variable = env_name(self.settings_cls, name)
            path = environ.get(variable + FILE_SUFFIX)
            if path is None:
                continue
            if variable in environ:
                raise SettingsRefused(
                    f"{variable} and {variable}{FILE_SUFFIX} are both set; keep one"
                )
            found[name] = read_secret_file(path, variable=variable + FILE_SUFFIX)
        return found


def read_secret_file(path: str, *, variable: str) -> str:
    """The secret held in the file at `path`; refused (naming `variable`) if unreadable
    or empty."""
    try:
        value = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
        raise SettingsRefused(f"{variable}={path} cannot be read: {reason}") from None
    if not value:
        raise SettingsRefused(f"{variable}={path} is empty")
    return value


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Keys by id; the first one is current (signs), every one verifies."""

    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, spec: str, *, setting: str, min_bytes: int = 32) -> KeyRing:
        """`id:secret[,id:secret...]`, each secret at least `min_bytes` long; refused with
        a message naming `setting` (never the secret)."""
        keys: list[tuple[str, bytes]] = []
        for number, item in enumerate(spec.split(","), start=1):
            key_id, _, material = item.strip().partition(":")
            if not _KEY_ID.fullmatch(key_id) or not material:
                raise SettingsRefused(
                    f"{setting}: key {number} is not `id:secret` (id: letters, digits, . _ -)"
                )
            raw = material.encode()
            if len(raw) < min_bytes:
                raise SettingsRefused(
                    f"{setting}: key {key_id!r} is shorter than {min_bytes} bytes"
                )
            if any(key_id == known for known, _ in keys):
                raise SettingsRefused(f"{setting}: key id {key_id!r} appears twice")
            keys.append((key_id, raw))
        return cls(tuple(keys))

    @property
    def current(self) -> tuple[str, bytes]:
        return self.keys[0]

    def get(self, key_id: str) -> bytes | None:
        return next((key for known, key in self.keys if known == key_id), None)

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(key_id for key_id, _ in self.keys)


def development_materials() -> frozenset[str]:
    """Every published development secret, whole and as the material of each of its keys."""
    values = (
        DEVELOPMENT_PII_KEY,
        DEVELOPMENT_DEPARTMENT_API_TOKEN_KEYS,
        DEVELOPMENT_TRACKING_API_TOKEN_KEYS,
        DEVELOPMENT_NOTIFY_API_TOKEN_KEYS,
        DEVELOPMENT_RECIPIENT_HASH_KEY,
        DEVELOPMENT_REGISTRY_KEY,
        DEVELOPMENT_ELICENCE_SIGNING_KEYS,
        DEVELOPMENT_TIMELINE_CHECKPOINT_SIGNING_KEYS,
        DEVELOPMENT_SECRET,
    )
    return frozenset(_pieces(values))


def holds_development_key(value: str) -> bool:
    """Whether a secret's value is, or has among its keys, a published development one."""
    return not development_materials().isdisjoint(_pieces([value]))


def _pieces(values: Iterable[str]) -> Iterator[str]:
    for value in values:
        candidates = [value]
        for item in value.split(","):
            candidates += [item, item.partition(":")[2]]
        yield from (piece.strip() for piece in candidates if piece.strip())
