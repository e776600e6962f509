"""``torchx dashboard``: a local web page for every job the launcher can reach.

:py:mod:`torchx.dashboard.api` is the JSON API over a :py:class:`~torchx.runner.api.Runner`,
:py:mod:`torchx.dashboard.server` serves it and the static pages (``static/``) with the
standard library's HTTP server. Nothing here is imported by other commands.
"""
