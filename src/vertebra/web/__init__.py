"""The clinician web app (``vertebra serve``): patient form, plan page, printouts, knowledge
browser and fracture liaison page. Jinja2 templates with HTMX; every asset is served from this
package (no CDN, no build step).

:func:`vertebra.api.app.create_app` includes :data:`router` automatically.
"""

from __future__ import annotations

from vertebra.web.routes import router

__all__ = ["router"]
