"""Static assets: vcbox's own, and the vendored UI libraries installed by npm."""

from __future__ import annotations

import os
from pathlib import Path

from bottle import Bottle, HTTPError, static_file

from controlplane.app import Services

OWN = Path(__file__).parent / "static"
NODE_MODULES = Path(os.environ.get("VCBOX_ASSETS") or Path(__file__).parents[2] / "node_modules")
# Only these folders of npm packages are served.
VENDOR = {
    "bootstrap": "bootstrap/dist",
    "bootstrap-icons": "bootstrap-icons/font",
    "chart.js": "chart.js/dist",
    # the browser join (/join/<id>): Janus's own client and the WebRTC shim it needs
    "janus-gateway": "janus-gateway/npm/dist",
    "webrtc-adapter": "webrtc-adapter/out",
}
CACHE = "public, max-age=86400"


def routes(app: Bottle, services: Services) -> None:
    @app.get("/static/vendor/<package>/<path:path>", auth="public", skip=["vcbox_audit"])
    def vendor(package: str, path: str):
        if package not in VENDOR:
            raise HTTPError(404)
        res = static_file(path, root=str(NODE_MODULES / VENDOR[package]))
        res.set_header("Cache-Control", CACHE)
        return res

    @app.get("/favicon.ico", auth="public", skip=["vcbox_audit"])
    def favicon():
        # Browsers ask for it by this name (pages link /static/favicon.svg as well).
        return static_file("favicon.ico", root=str(OWN), mimetype="image/x-icon")

    @app.get("/static/<path:path>", auth="public")
    def own(path: str):
        res = static_file(path, root=str(OWN))
        res.set_header("Cache-Control", "no-cache")
        return res
