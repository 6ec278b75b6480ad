"""The session-authenticated web app: routes, templates and static files (`static/`).

`static/vendor/` holds third-party browser assets served as they are (see its README.md).
"""
