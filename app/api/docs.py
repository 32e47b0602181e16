"""The interactive API docs (Swagger UI) at /docs, served entirely by the app.

FastAPI's own /docs page loads Swagger UI from a CDN and starts it with an inline script: blank
without internet, and its CSP has to allow scripts from anywhere. Here the page, Swagger UI's
assets (from the pinned ``fastapi-offline`` package) and the script that starts it all come from
this app, so the docs CSP allows only 'self' (app/middleware/security_headers.py) and the page
works on an air-gapped cluster. The API has no OAuth2 flow, so there is no oauth2-redirect
page; ReDoc is not served.
"""

from __future__ import annotations

import html
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from app.core.errors import NotFound

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
_PACKAGE_ASSETS = Path(fastapi_offline.__file__).resolve().parent / "static"
# The only files served under ASSETS_PATH: name -> (file, media type).
ASSETS = {
    "swagger-ui-bundle.js": (_PACKAGE_ASSETS / "swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": (_PACKAGE_ASSETS / "swagger-ui.css", "text/css; charset=utf-8"),
    "favicon.png": (_PACKAGE_ASSETS / "favicon.png", "image/png"),
}
# Starts Swagger UI with FastAPI's defaults; the schema's URL comes from the page's markup.
INIT_SCRIPT = """\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
"""
_PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} - Swagger UI</title>
<link rel="icon" type="image/png" href="{assets}/favicon.png">
<link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui" data-openapi-url="{openapi_url}"></div>
<script src="{assets}/swagger-ui-bundle.js"></script>
<script src="{assets}/swagger-init.js"></script>
</body>
</html>
"""

router = APIRouter(include_in_schema=False)


@router.get(DOCS_PATH, response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    openapi_url = request.app.openapi_url or "/openapi.json"
    return HTMLResponse(_PAGE.format(title=html.escape(request.app.title), assets=html.escape(root + ASSETS_PATH),
                                     openapi_url=html.escape(root + openapi_url)))


@router.get(ASSETS_PATH + "/swagger-init.js")
async def swagger_init() -> Response:
    return Response(INIT_SCRIPT, media_type="text/javascript; charset=utf-8")


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str) -> Response:
    if name not in ASSETS:
        raise NotFound("no such docs asset")
    path, media_type = ASSETS[name]
    return FileResponse(path, media_type=media_type)
