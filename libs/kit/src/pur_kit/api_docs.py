"""`/docs` of every service: Swagger UI, working with no network.

FastAPI's own page loads Swagger UI from a CDN, so it is blank on a machine without internet
access, and starts it with an inline script, which a Content-Security-Policy without
'unsafe-inline' scripts refuses. Here the assets come from the `fastapi-offline` package (PyPI:
Swagger UI 5's release files, nothing downloaded at run time or copied into the repository), the
page is rendered by Jinja2 with autoescaping and starts Swagger UI with a script served by this
module, so it runs under a CSP that allows scripts, styles, images and fetches from 'self' only.

ReDoc (the same package ships it) is left out: its sidebar loads a logo from its vendor's CDN,
which that CSP refuses, and Swagger UI already shows the whole document.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, select_autoescape

ASSETS = Path(str(files("fastapi_offline") / "static"))
ASSETS_PATH = "/docs/assets"

# Its icons are data: images; it sets styles through the DOM (allowed), never in markup.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")

_PAGE = Environment(autoescape=select_autoescape(default=True, default_for_string=True)).from_string("""\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<link rel="icon" href="{{ assets }}/favicon.png">
<link rel="stylesheet" href="{{ assets }}/swagger-ui.css">
</head>
<body>
<div id="api-docs" data-openapi-url="{{ openapi_url }}"></div>
<script src="{{ assets }}/swagger-ui-bundle.js"></script>
<script src="{{ start }}"></script>
</body>
</html>
""")

START_SWAGGER = """\
"use strict";
(function () {
  var root = document.getElementById("api-docs");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl, domNode: root, layout: "BaseLayout", deepLinking: true,
    showExtensions: true, showCommonExtensions: true, validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis]
  });
})();
"""

_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def install_docs(app: FastAPI, docs_url: str = "/docs") -> None:
    """Add the page, its start script and Swagger UI's assets to `app` (none of them in the OpenAPI)."""
    app.mount(ASSETS_PATH, StaticFiles(directory=ASSETS), name="docs-assets")
    start = f"{docs_url}/start.js"

    @app.get(docs_url, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        html = _PAGE.render(title=f"{app.title} API", assets=root + ASSETS_PATH, start=root + start,
                            openapi_url=root + app.openapi_url)
        return HTMLResponse(html, headers={**_HEADERS, "Content-Security-Policy": CSP})

    @app.get(start, include_in_schema=False)
    async def start_swagger_ui() -> Response:
        return Response(START_SWAGGER, media_type="text/javascript", headers=_HEADERS)
