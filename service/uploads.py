"""Reading a file sent to the API: as the body itself, or as the ``file`` field of a
multipart upload with an optional ``name`` field; bounded before it is read."""

from __future__ import annotations

from flask import request

from registry.names import NAME_PATTERN, NAME_RE, NAME_RULE, anchored

from .errors import abort


def upload_body(description: str, media_type: str, content: dict) -> dict:
    """The OpenAPI request body of an upload: the file as the body (``media_type``, its
    ``content`` entry), or a multipart form of ``file`` and an optional ``name``."""
    form = {
        "type": "object",
        "properties": {
            "file": {"type": "string", "format": "binary"},
            "name": {"type": "string", "pattern": anchored(NAME_PATTERN)},
        },
        "required": ["file"],
        "additionalProperties": False,
    }
    return {
        "required": True,
        "description": description,
        "content": {media_type: content, "multipart/form-data": {"schema": form}},
    }


#: bytes of a body read at a time
READ_STEP = 1 << 20


def _body(max_bytes: int) -> bytes:
    """The request's body, up to one byte over ``max_bytes``.

    Read in steps of :data:`READ_STEP`, not as ``request.get_data`` reads (64 KiB at a
    time): a server that reads ahead, as gunicorn does, copies what it holds on each
    read, which for a body of tens of MiB costs more than parsing it.
    """
    chunks, size = [], 0
    while size <= max_bytes and (chunk := request.stream.read(READ_STEP)):
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def read_upload(
    settings: dict, setting: str, body_types: tuple[str, ...], what: str
) -> tuple[bytes, str | None, str | None]:
    """The file's bytes, the ``name`` form field and the file's name.

    ``setting``: the limit of the file's size in MiB, among ``settings``; ``body_types``:
    the media types taken as the file itself; ``what``: the file as the refusals name it
    ("the CSV file").
    """
    max_mb = settings[setting]
    max_bytes = int(max_mb * 2**20)
    too_large = f"the file is over the limit of {max_mb:g} MiB ({setting})"
    if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
        abort(413, too_large)
    if request.mimetype in body_types:
        data, name, filename = _body(max_bytes), None, None
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            abort(
                422,
                f"file: missing; send {what} in the multipart field named file",
                {"files": {"file": ["Missing data for required field."]}},
            )
        unknown = sorted({str(k) for k in (*request.form, *request.files)} - {"file", "name"})
        if unknown:
            abort(
                422,
                f"{unknown[0]!r}: unknown field; a multipart upload takes file and name",
                {"form": {unknown[0]: ["Unknown field."]}},
            )
        data = upload.read(max_bytes + 1)
        name, filename = request.form.get("name"), upload.filename
        if name is not None and not NAME_RE.fullmatch(name):
            abort(422, f"name: {NAME_RULE}", {"form": {"name": [NAME_RULE]}})
    else:
        abort(
            415,
            f"send {what} as the body with Content-Type: {body_types[0]}, or as the file "
            f"field of a multipart/form-data upload (got {request.mimetype or 'no content type'})",
        )
    if len(data) > max_bytes:
        abort(413, too_large)
    return data, name, filename
