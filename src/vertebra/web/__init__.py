"""The clinician web app (``vertebra serve``): patient form, plan page, printouts, knowledge
browser and fracture liaison page. Jinja2 templates with HTMX; every asset is served from this
package (no CDN, no build step).

The HTTP routes are in :mod:`vertebra.http.routers.web`.
"""
