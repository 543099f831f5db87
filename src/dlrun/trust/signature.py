"""Sign what a run records, so that dlrun knows the runs this user made on this machine.

As Jupyter trusts the notebooks its user saved: an HMAC-SHA256 of the run's `.hydra` files under a
random key kept in the user's data dir (never in a run dir). A run dir whose signature checks out was
written by this user's dlrun and not changed since; a copied, edited or foreign one was not.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

# What a run's config is rebuilt from: the job config, its overrides, and Hydra's record (the config
# dir and config name among it).
SIGNED_FILES = (".hydra/config.yaml", ".hydra/overrides.yaml", ".hydra/hydra.yaml")
SIGNATURE_FILE = ".hydra/dlrun-signature.json"
KEY_FILE = "trust-key"
ALGORITHM = "hmac-sha256"
# The user's word that a run dir's config may build whatever it names, as Hugging Face's trust_remote_code.
TRUST_ENV = "DLRUN_TRUST_CONFIG"
TRUST_FLAG = "--trust-config"


ACCEPT = f"give {TRUST_FLAG} (or set {TRUST_ENV}=1) to open it as it is"


@dataclass(frozen=True)
class Trust:
    trusted: bool
    why: str
    accept: str = ACCEPT  # how the user says that they trust it, where this run dir is being opened


def trust_of(run_dir: Path, trust_config: bool = False, accept: str | None = None) -> Trust:
    """Trusted: the user vouched for it, or this user's dlrun signed it and nothing changed since."""
    accept = accept or ACCEPT
    if trust_config:
        return Trust(True, f"{TRUST_FLAG} was given", accept)
    if os.environ.get(TRUST_ENV, "").strip().lower() in ("1", "true", "yes"):
        return Trust(True, f"{TRUST_ENV} is set", accept)
    if is_signed_here(run_dir):
        return Trust(True, "your dlrun signed it on this machine", accept)
    if (run_dir / SIGNATURE_FILE).is_file():
        why = "its .hydra files changed since it was signed, or another user or machine signed them"
    else:
        why = "it carries no signature of yours: it was made elsewhere, by another user, or by an older dlrun"
    return Trust(False, why, accept)


def data_dir() -> Path:
    """dlrun's per-user data dir ($XDG_DATA_HOME/dlrun on Linux), where the key lives."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("dlrun", appauthor=False))


def sign(run_dir: Path) -> None:
    """Write the run's signature (replacing an older one of the same run)."""
    key = _key(create=True)
    assert key is not None  # made if missing
    record = {"algorithm": ALGORITHM, "files": list(SIGNED_FILES), "digest": _digest(run_dir, key)}
    path = run_dir / SIGNATURE_FILE
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    scratch.write_text(json.dumps(record) + "\n", encoding="utf-8")
    os.replace(scratch, path)


def is_signed_here(run_dir: Path) -> bool:
    """Whether the run dir carries a signature that this user's key made over its files as they are."""
    key = _key(create=False)
    if key is None:
        return False
    try:
        record = json.loads((run_dir / SIGNATURE_FILE).read_text(encoding="utf-8"))
        claimed = str(record["digest"])
    except (OSError, ValueError, TypeError, KeyError):
        return False
    return hmac.compare_digest(claimed, _digest(run_dir, key))


def _digest(run_dir: Path, key: bytes) -> str:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for name in SIGNED_FILES:
        try:
            content = (run_dir / name).read_bytes()
        except FileNotFoundError:
            mac.update(f"{name}\0absent\0".encode())
            continue
        # Name and length first, so no two different sets of files give the same byte stream.
        mac.update(f"{name}\0{len(content)}\0".encode())
        mac.update(content)
    return mac.hexdigest()


def _key(create: bool) -> bytes | None:
    path = data_dir() / KEY_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        if not create:
            return None
    except ValueError:  # a damaged key file: nothing it signed can be trusted, and nothing is lost
        if not create:
            return None
        path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    # Readable by this user only, and put in place whole by a hard link that fails when the name is
    # taken: two runs starting together end up with one key, never a half-written one.
    scratch = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    handle = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(key.hex() + "\n")
    try:
        os.link(scratch, path)
    except FileExistsError:
        return _key(create=False)
    finally:
        scratch.unlink()
    return key
