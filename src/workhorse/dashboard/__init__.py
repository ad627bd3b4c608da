"""The operators' dashboard at ``/admin/queues``: server-rendered pages (jinja2) and
one small script of our own, no front-end build step.

:class:`workhorse.dashboard.extension.Dashboard` plugs it into the API process; the
users who may log in come from the settings (:mod:`workhorse.dashboard.users`).  This
package's ``__init__`` imports nothing, so the settings can use the user model
without importing the web layer."""
