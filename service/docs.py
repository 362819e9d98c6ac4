"""``GET /docs``: the OpenAPI document as one self-contained HTML page.

Swagger UI and ReDoc pages load their scripts from a CDN, and the service must work
with no access to the internet, so the page is rendered here from the same spec that
``/openapi.json`` serves: no script, no external asset.
"""

from __future__ import annotations

import json
from html import escape

from flask import Blueprint, Response, current_app

blp = Blueprint("docs", __name__)

_METHODS = ("get", "post", "put", "patch", "delete")

_STYLE = """
body{font:15px/1.5 system-ui,sans-serif;max-width:960px;margin:2em auto;padding:0 1em;color:#222}
h2{border-bottom:1px solid #ccc;margin-top:2em}
.op{border:1px solid #ddd;border-radius:4px;margin:1em 0;padding:.5em 1em}
.m{display:inline-block;min-width:4.5em;font-weight:bold;text-transform:uppercase}
.get{color:#1b6ac9}.post{color:#1a8a3a}.delete{color:#c62828}
code,pre{font-family:ui-monospace,monospace;font-size:13px}
pre{background:#f6f8fa;padding:.5em;overflow:auto}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:2px 8px;
text-align:left;vertical-align:top}
"""


def _type(schema: dict) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "oneOf" in schema:
        return " | ".join(_type(s) for s in schema["oneOf"])
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    text = escape(str(kind))
    if "enum" in schema:
        text += ": " + ", ".join(f"<code>{escape(str(v))}</code>" for v in schema["enum"])
    return text


def _properties(schema: dict) -> str:
    props = schema.get("properties", {})
    if not props:
        return ""
    required = set(schema.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code>{' *' if name in required else ''}</td>"
        f"<td>{_type(prop)}</td><td>{escape(prop.get('description', ''))}</td></tr>"
        for name, prop in props.items()
    )
    return f"<table><tr><th>field</th><th>type</th><th>notes</th></tr>{rows}</table>"


def _operation(path: str, method: str, op: dict, shared_params: list) -> str:
    parts = [
        f'<div class="op"><span class="m {method}">{method}</span> <code>{escape(path)}</code>'
        f" — {escape(op.get('summary', ''))}"
    ]
    if op.get("description"):
        parts.append(f"<p>{escape(op['description'])}</p>")
    params = [*shared_params, *op.get("parameters", [])]
    if params:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{_type(p.get('schema', {}))}</td></tr>"
            for p in params
            if "name" in p
        )
        parts.append(f"<table><tr><th>parameter</th><th>in</th><th>type</th></tr>{rows}</table>")
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        parts.append(f"<p>Body: {_type(body.get('schema', {}))}</p>")
        if "example" in body:
            parts.append(f"<pre>{escape(json.dumps(body['example'], indent=2))}</pre>")
    codes = sorted(op.get("responses", {}).items(), key=lambda kv: (kv[0] == "default", kv[0]))
    responses = ", ".join(
        f"{escape(str(code))} {escape(r.get('description', r.get('$ref', '').rsplit('/', 1)[-1]))}"
        for code, r in codes
    )
    parts.append(f"<p>Responses: {responses}</p></div>")
    return "".join(parts)


def render(spec: dict) -> str:
    """The HTML page for an OpenAPI 3 document."""
    info = spec.get("info", {})
    title = escape(f"{info.get('title', 'API')} {info.get('version', '')}")
    out = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{title}</h1>",
        '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. '
        "Every error has the shape of <a href='#schema-Error'>Error</a>.</p>",
    ]
    tags = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    by_tag: dict[str, list[str]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                tag = (item[method].get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(
                    _operation(path, method, item[method], item.get("parameters", []))
                )
    for tag, ops in by_tag.items():
        out.append(f"<h2>{escape(tag)}</h2><p>{escape(tags.get(tag, ''))}</p>{''.join(ops)}")
    out.append("<h2>Schemas</h2>")
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        out.append(
            f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>'
            f"<p>{escape(schema.get('description', ''))}</p>{_properties(schema)}"
        )
    out.append("</body></html>")
    return "".join(out)


@blp.get("/docs")
def docs():
    api = current_app.extensions["nnjobs.api"]
    return Response(render(api.spec.to_dict()), mimetype="text/html")
