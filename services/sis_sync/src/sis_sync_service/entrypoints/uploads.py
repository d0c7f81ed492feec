"""Spooling an uploaded roster to a temporary file (multipart field `file`, or a raw zip body)."""
from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from fastapi import Request
from pur_kit.errors import ApiError, validation_error
from pur_kit.logging import get_logger
from starlette.datastructures import UploadFile

from ..adapters.spool import SpoolUnwritable, new_spool, spool_directory

log = get_logger(__name__)
RAW_TYPES = ("application/zip", "application/x-zip-compressed", "application/octet-stream")


async def spool_upload(request: Request, directory: Path | None) -> tuple[Path, str | None]:
    """The upload as a file on disk (the caller deletes it) and the client's file name.

    SpoolUnwritable when the spool cannot be written (nothing is left behind): reading the request
    raises no OSError (a client that goes away is `ClientDisconnect`), so every OSError here is the
    spool's (ours, or Starlette's for a multipart form, in the system temp directory).
    """
    with _spool_errors(directory):
        return await _spool(request, directory)


@contextlib.contextmanager
def _spool_errors(directory: Path | None) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        # Names the errno (ENOSPC, EROFS, ENOTDIR, EACCES...) and the configured directory; never
        # the message, which holds the spool file's path, or anything about the upload.
        log.error("sis_upload_spool_unwritable", error=type(exc).__name__,
                  errno=errno.errorcode.get(exc.errno or 0), upload_dir=str(spool_directory(directory)))
        raise SpoolUnwritable() from None


async def _spool(request: Request, directory: Path | None) -> tuple[Path, str | None]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data" and content_type not in RAW_TYPES:
        raise ApiError(415, "unsupported_media_type",
                       "send the roster as the multipart form field 'file' or as an application/zip body")
    fd, path = new_spool(directory)
    try:
        if content_type == "multipart/form-data":
            name = await _spool_multipart(request, fd)
        else:
            name = None
            with os.fdopen(fd, "wb", closefd=False) as out:
                async for chunk in request.stream():
                    out.write(chunk)
        if path.stat().st_size == 0:
            raise validation_error("file", "the upload is empty")
        return path, name
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)


async def _spool_multipart(request: Request, fd: int) -> str | None:
    form = await request.form(max_files=1, max_fields=10)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise validation_error("file", "a multipart form field 'file' with the roster zip is required")

        def copy() -> None:
            upload.file.seek(0)
            with os.fdopen(fd, "wb", closefd=False) as out:
                shutil.copyfileobj(upload.file, out, 1024 * 1024)

        await asyncio.to_thread(copy)
        return upload.filename
    finally:
        await form.close()
