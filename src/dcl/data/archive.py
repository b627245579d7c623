"""Safe unpacking of distribution archives (``.tar.gz``) into a dataset folder.

The archive's members are checked before anything is written: every member must be a
regular file or a folder whose path lies under the expected top folder (no absolute paths,
no ``..``, no links, devices or FIFOs). Files are copied out by this module (not by
``tarfile.extract``) into a hidden temporary folder beside the destination, which is
renamed into place only when the whole archive has been read. A truncated or corrupt
archive, or a bad member, raises :class:`~dcl.errors.DCLError` naming the archive and
leaves nothing behind.
"""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from ..errors import DCLError

_CHUNK = 1 << 20


def _member_path(archive: Path, member: tarfile.TarInfo, top: str) -> PurePosixPath:
    """The member's path, checked to be a plain relative path under ``top``."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or "\\" in member.name or not path.parts:
        raise DCLError(f"{archive}: refusing unsafe member path {member.name!r}")
    if path.parts[0] != top:
        raise DCLError(f"{archive}: member {member.name!r} lies outside {top}/; not the expected archive")
    if not (member.isfile() or member.isdir()):
        raise DCLError(f"{archive}: refusing member {member.name!r} (links, devices and FIFOs are not allowed)")
    return path


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike, top: str,
                    keep: Callable[[PurePosixPath], bool] | None = None) -> Path:
    """Unpack ``archive`` (a tar, optionally gzip/bz2/xz compressed) into ``dest/top``.

    Args:
        archive: the archive file; all its members must lie under ``top/``.
        dest: the folder that receives ``top/``.
        top: the archive's single top-level folder (e.g. ``cifar-10-batches-py``).
        keep: optional filter on member paths; files it rejects are skipped (e.g. STL-10's
            2.7 GB ``unlabeled_X.bin``), but they are still checked for safety.

    Returns ``dest/top``. If ``dest/top`` appears meanwhile (another process), that one is kept.
    """
    archive, dest = Path(archive), Path(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{top}.unpack-", dir=dest))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                for member in tar:  # streamed: a truncated archive fails here or while copying
                    path = _member_path(archive, member, top)
                    target = tmp.joinpath(*path.parts)
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    if keep is not None and not keep(path):
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    if src is None:  # pragma: no cover - isfile() members always have data
                        raise DCLError(f"{archive}: cannot read member {member.name!r}")
                    with src, open(target, "xb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
                        if out.tell() != member.size:
                            raise DCLError(f"{archive} is truncated: member {member.name!r} is incomplete")
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise DCLError(f"{archive} is truncated or not a valid tar archive ({e})") from None
        if not (tmp / top).is_dir():
            raise DCLError(f"{archive} does not contain the folder {top}/")
        final = dest / top
        try:
            os.rename(tmp / top, final)
        except OSError:
            if not final.is_dir():
                raise
        return final
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def locate(folder: Path, top: str, archive: str, marker: str,
           keep: Callable[[PurePosixPath], bool] | None = None) -> Path:
    """The folder that holds a dataset's files, unpacking the archive if need be.

    In order: ``folder/top/`` if it exists; else ``folder/archive`` unpacked to
    ``folder/top/``; else ``folder`` itself if it holds ``marker`` (files copied without
    their top folder); else ``folder/top`` (the reader then names the missing file).
    """
    unpacked = folder / top
    if unpacked.is_dir():
        return unpacked
    if (folder / archive).is_file():
        return extract_archive(folder / archive, folder, top, keep)
    if (folder / marker).is_file():
        return folder
    return unpacked
