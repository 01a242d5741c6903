"""moto's request router without its per-request cost.

moto's DomainDispatcherApplication decides which service a request is for on every request, under one
global lock: it lists and stats every folder of the moto package (about 170) and tries every service's
URL patterns in turn. The answer for a given host never changes while the process runs, so this
dispatcher computes the folder list once and remembers each host's backend. Which backend a request
reaches is exactly what moto decides.
"""

from __future__ import annotations

from typing import Any


def create_dispatcher() -> Any:
    import moto.backends as backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    module_names = frozenset(backends.list_of_moto_modules())

    class CachedDomainDispatcher(DomainDispatcherApplication):
        def __init__(self) -> None:
            super().__init__(create_backend_app)
            self._backend_by_host: dict[str, Any] = {}

        def get_backend_for_host(self, host: str | None) -> Any:
            if host is None:
                return None
            known = self._backend_by_host.get(host)
            if known is not None:
                return known
            if host == "moto_api" or host in module_names:
                backend: Any = host
            else:
                backend = next(
                    (name for name, pattern in self.backend_url_patterns if pattern.match(f"http://{host}")),
                    None,
                )
                if backend is None:
                    # moto's own lookup, for its message about an unknown amazonaws.com host.
                    return super().get_backend_for_host(host)
            self._backend_by_host[host] = backend
            return backend

    return CachedDomainDispatcher()
