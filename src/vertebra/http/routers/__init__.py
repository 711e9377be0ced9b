"""The HTTP routers: ``api``, ``ask``, ``cdshooks`` and ``web``. They never import each other;
:mod:`vertebra.http.app` composes them."""
