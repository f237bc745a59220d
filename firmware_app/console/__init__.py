"""The web console: the box's own pages, in the daemon's event loop.

``[console] listen`` (default 127.0.0.1:8080; empty turns it off) is where
it answers. Beyond loopback it needs ``[console] password_hash`` (set with
``ivrbox console passwd``), and the daemon refuses to start without one:

    >>> from firmware_app.config import load
    >>> config = load(None)
    >>> config["console"]["listen"] = "0.0.0.0:8080"
    >>> problem(config)
    '[console] listen = "0.0.0.0:8080" is reachable from other machines: set a password first with `ivrbox console passwd` (or listen on 127.0.0.1)'
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("ivrbox.console")
HERE = Path(__file__).parent


class ConsoleError(Exception):
    pass


def problem(config: dict) -> str | None:
    """Why the console must not start with CONFIG, or None."""
    from .auth import is_loopback, parse_listen

    section = config["console"]
    if not section["listen"]:
        return None
    host, _ = parse_listen(section["listen"])
    if not is_loopback(host) and not section["password_hash"]:
        return (f'[console] listen = "{section["listen"]}" is reachable from other machines: set a password first '
                "with `ivrbox console passwd` (or listen on 127.0.0.1)")
    return None


class Console:
    def __init__(self, config: dict, shared: dict, lines: list[tuple[str, str]]):
        from .auth import LoginLimiter, Sessions
        from .data import Box
        from .history import History, HistoryError, history_path
        from .live import Live

        self.config = config
        try:
            history = History(history_path(config), keep_days=config["console"]["keep_days"])
        except HistoryError as e:
            log.warning("console: %s; calls are not kept", e)
            history = None
        self.live = Live(lines, history)
        self.box = Box(config, shared, self.live, history, sessions=Sessions(), limiter=LoginLimiter())
        self._runner = None
        self.url = ""

    def app(self):
        from aiohttp import web

        from .auth import parse_listen
        from .guard import middleware
        from .views import BOX, PAGES, Pages, caller_params, routes

        host, _ = parse_listen(self.config["console"]["listen"])
        app = web.Application(middlewares=[middleware(self.box.sessions,
                                                      lambda: self.config["console"]["password_hash"], host)],
                              client_max_size=64 * 1024)
        app[BOX] = self.box
        app[PAGES] = Pages(HERE / "templates", caller_params=caller_params)
        app.router.add_routes(routes)
        app.router.add_static("/static", HERE / "static")
        return app

    async def start(self) -> str:
        """Listen; ConsoleError if it must not (see problem()) or cannot."""
        from aiohttp import web

        from .auth import parse_listen

        why = problem(self.config)
        if why:
            raise ConsoleError(why)
        host, port = parse_listen(self.config["console"]["listen"])
        self._runner = web.AppRunner(self.app(), access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host, port).start()
        except OSError as e:
            await self._runner.cleanup()
            self._runner = None
            raise ConsoleError(f"the console cannot listen on {self.config['console']['listen']}: "
                               f"{e.strerror or e}") from None
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
        log.info("console on %s", self.url)
        return self.url

    async def stop(self) -> None:
        import asyncio

        self.live.close_feeds()
        tasks = [*self.box.background, *(t["task"] for t in self.box.tests.values())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
        if self.box.history is not None:
            self.box.history.close()


__all__ = ["Console", "ConsoleError", "problem"]
