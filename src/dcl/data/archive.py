"""Safe unpacking of distribution archives (``.tar.gz``) into a dataset folder.

The archive's members are checked before anything is written: every member must be a
regular file or a folder whose path lies under the expected top folder (no absolute paths,
no ``..``, no links, devices or FIFOs). Files are copied out by this module (not by
``tarfile.extract``) into a hidden temporary folder beside the destination, which is
renamed into place only when the whole archive has been read. A truncated or corrupt
archive, or a bad member, raises :class:`~dcl.errors.DCLError` naming the archive and
leaves nothing behind.

Bounded: the members to unpack may declare at most ``max_bytes`` together (each dataset
passes its known unpacked size with some margin) and the archive may hold at most
``MAX_MEMBERS`` entries; both are checked from the member headers before any byte of that
member is written, so an archive declaring a 3 GiB member fails at once, with nothing
written. A member name that appears twice is refused (a genuine archive has none); so is a
member bigger than the free space left on the destination's disk.
"""
from __future__ import annotations

import errno
import os
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath
from typing import Callable

from ..errors import DCLError, one_line

_CHUNK = 1 << 20
#: entries an archive may hold (the datasets' archives hold fewer than 20)
MAX_MEMBERS = 10_000
#: the default bound on the bytes unpacked from one archive
MAX_BYTES = 1 << 30


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


def _unpack_folder(archive: Path, dest: Path, top: str) -> Path:
    """The hidden temporary folder beside ``dest/top``; a read-only or missing folder is one line."""
    try:
        return Path(tempfile.mkdtemp(prefix=f".{top}.unpack-", dir=dest))
    except OSError as e:
        why = "read-only file system" if e.errno == errno.EROFS else (e.strerror or str(e)).lower()
        raise DCLError(f"cannot unpack {archive}: its folder {dest} is not writable ({why}); unpack it "
                       f"elsewhere and point --data-dir at that copy") from None


def _check_room(archive: Path, member: tarfile.TarInfo, tmp: Path, total: int, max_bytes: int) -> None:
    """Refuse a member that would take the unpacked size past ``max_bytes`` or fill the disk."""
    if total > max_bytes:
        raise DCLError(f"{archive}: member {member.name!r} ({member.size:,} bytes) takes the unpacked size to "
                       f"{total:,} bytes, more than the {max_bytes:,} this dataset's archive holds; refusing it")
    free = shutil.disk_usage(tmp).free
    if member.size > free:
        raise DCLError(f"cannot unpack {archive}: member {member.name!r} needs {member.size:,} bytes but the "
                       f"disk holding {tmp.parent} has {free:,} free (no space left on device)")


def extract_archive(archive: str | os.PathLike, dest: str | os.PathLike, top: str,
                    keep: Callable[[PurePosixPath], bool] | None = None, max_bytes: int = MAX_BYTES) -> Path:
    """Unpack ``archive`` (a tar, optionally gzip/bz2/xz compressed) into ``dest/top``.

    Args:
        archive: the archive file; all its members must lie under ``top/``.
        dest: the folder that receives ``top/``.
        top: the archive's single top-level folder (e.g. ``cifar-10-batches-py``).
        keep: optional filter on member paths; files it rejects are skipped (e.g. STL-10's
            2.7 GB ``unlabeled_X.bin``), but they are still checked for safety.
        max_bytes: the most bytes the kept members may declare together.

    Returns ``dest/top``. If ``dest/top`` appears meanwhile (another process), that one is kept.
    """
    archive, dest = Path(archive), Path(dest)
    tmp = _unpack_folder(archive, dest, top)
    try:
        try:
            seen: set[PurePosixPath] = set()
            total = 0
            with tarfile.open(archive, "r:*") as tar:
                for count, member in enumerate(tar, start=1):  # streamed: a truncated archive fails here or while copying
                    if count > MAX_MEMBERS:
                        raise DCLError(f"{archive} holds more than {MAX_MEMBERS:,} entries; not a dataset archive")
                    path = _member_path(archive, member, top)
                    target = tmp.joinpath(*path.parts)
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    if path in seen:
                        raise DCLError(f"{archive}: member {member.name!r} appears twice; a genuine archive names "
                                       f"each file once (refusing it)")
                    seen.add(path)
                    if keep is not None and not keep(path):
                        continue
                    total += member.size
                    _check_room(archive, member, tmp, total, max_bytes)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    if src is None:  # pragma: no cover - isfile() members always have data
                        raise DCLError(f"{archive}: cannot read member {member.name!r}")
                    with src, open(target, "xb") as out:
                        shutil.copyfileobj(src, out, _CHUNK)
                        if out.tell() != member.size:
                            raise DCLError(f"{archive} is truncated: member {member.name!r} is incomplete")
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DCLError(f"cannot unpack {archive}: no space left on device in {dest}") from None
            raise DCLError(f"{archive} is truncated or not a valid tar archive ({one_line(e)})") from None
        except (tarfile.TarError, EOFError, zlib.error) as e:
            if isinstance(e, tarfile.ReadError) and "could not be opened" in str(e):  # no format fits
                raise DCLError(f"{archive} is not a tar archive (plain, gzip, bz2 or xz); delete it and fetch "
                               f"it again") from None
            raise DCLError(f"{archive} is truncated or not a valid tar archive ({one_line(e)})") from None
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
           keep: Callable[[PurePosixPath], bool] | None = None, max_bytes: int = MAX_BYTES) -> Path:
    """The folder that holds a dataset's files, unpacking the archive if need be.

    In order: ``folder/top/`` if it exists; else ``folder/archive`` unpacked to
    ``folder/top/``; else ``folder`` itself if it holds ``marker`` (files copied without
    their top folder); else ``folder/top`` (the reader then names the missing file).
    """
    unpacked = folder / top
    if unpacked.is_dir():
        return unpacked
    if (folder / archive).is_file():
        return extract_archive(folder / archive, folder, top, keep, max_bytes)
    if (folder / marker).is_file():
        return folder
    return unpacked
