"""The dashboard: server-rendered pages (Jinja2 + Tailwind), live over SSE.

Pages read the store directly; forms write through the same ``ConfigEditor``
as the REST API, so every change lands in the YAML. ``routes.setup`` wires it
into the application; the pieces are ``pages`` (reading), ``actions`` (forms and
buttons), ``live`` (SSE), ``session`` (login, CSRF) and ``assets``.
"""
