"""The central archive's workspace for archivists (and admins): browse, read, find, and the access log.

`bp` is its own blueprint (registered by server.app.create_app); it runs the web UI's login/role/CSRF
guard (server/web/blueprint.py) before each of its views, every one of which needs the archivist role.
"""
