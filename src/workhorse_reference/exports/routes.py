"""``GET /api/exports/files/{queue}/{job}/{filename}?expires=..&signature=..``: the
download of an export file.  The signed URL is the permission (a browser follows it
without the API's bearer token): a bad or expired signature is refused with 403, a
file already removed with its job answers 410."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from workhorse_reference.exports.artifacts import URL_PREFIX, ArtifactStore
from workhorse_reference.exports.formats import media_type_of
from workhorse_reference.exports.signing import DownloadRefused

GONE = "this export file has been removed (with its job, or its link expired): start a new export"


def download_router(artifacts: ArtifactStore) -> APIRouter:
    router = APIRouter(tags=["export"])

    @router.get(
        URL_PREFIX + "/{queue}/{job}/{filename}",
        response_class=FileResponse,
        responses={
            200: {"description": "The export file, as an attachment"},
            403: {"description": "Signature invalid or link expired"},
            410: {"description": "The file has been removed"},
        },
    )
    async def download(
        queue: str,
        job: str,
        filename: str,
        expires: str | None = None,
        signature: str | None = None,
    ) -> FileResponse:
        """An export file, from the signed URL in the export job's result."""
        path = f"{URL_PREFIX}/{queue}/{job}/{filename}"
        try:
            artifacts.signer.check(path, expires, signature, artifacts.clock())
        except DownloadRefused as exc:
            raise HTTPException(403, str(exc)) from None
        found = artifacts.file(queue, job, filename)
        if found is None:
            raise HTTPException(410, GONE)
        return FileResponse(found, media_type=media_type_of(filename), filename=filename)

    return router
