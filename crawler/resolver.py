"""Host names resolved off the reactor thread, and only allowed addresses handed to a connection.

Scrapy's HTTP download handler connects through Twisted's ``HostnameEndpoint``, which asks
``reactor.nameResolver`` for a host's addresses and then connects to those and only those.
``GuardedResolver`` is that resolver for a crawl, installed by Scrapy's ``TWISTED_DNS_RESOLVER``
setting: it runs ``getaddrinfo`` in the reactor's thread pool (the reactor never blocks on DNS)
and passes on only public addresses unless ``[crawler] allow_private_addresses`` is on. The
address check is therefore made on the very addresses connected to: a name that answers a public
address to an earlier lookup and 127.0.0.1 to the connection's (DNS rebinding with a zero TTL)
gets no address and no connection.

``SafetyMiddleware`` asks ``lookup`` before a request is sent, to say why a host cannot be fetched
(the name does not resolve, with the resolver's own message, or it resolves only to non-public
addresses). Answers are kept ``CACHE_SECONDS`` so that the connection usually reuses the
middleware's; when a connection still finds no allowed address, ``recent`` tells the failure
which of the two happened.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IAddress, IHostnameResolver, IHostResolution
from twisted.internet.threads import deferToThreadPool
from zope.interface import implementer  # type: ignore[import-untyped]

from narrative_tracker.crawler.urls import is_never_crawled, is_public_address

#: Seconds a lookup's answer is reused (by the middleware's check and the connection that follows).
CACHE_SECONDS = 60.0
#: Hosts whose answers are kept (the oldest are forgotten first).
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Lookup:
    """What resolving one host name gave: its addresses, or the resolver's error message."""

    host: str
    addresses: tuple[str, ...] = ()
    error: str | None = None

    def allowed(self, allow_private: bool) -> tuple[str, ...]:
        """The addresses a connection may use: public ones, and with ``allow_private`` also
        loopback and private ones, never link-local (``urls.is_never_crawled``)."""
        return tuple(
            a for a in self.addresses if not is_never_crawled(a) and (allow_private or is_public_address(a))
        )

    @property
    def resolved(self) -> bool:
        return bool(self.addresses)


def resolve(host: str) -> Lookup:
    """Resolve ``host`` with the system resolver (blocking: call it from a thread)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        return Lookup(host, error=exc.strerror or str(exc))
    except (UnicodeError, OSError) as exc:
        return Lookup(host, error=str(exc) or type(exc).__name__)
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    return Lookup(host, addresses, None if addresses else "no address")


_cache: OrderedDict[str, tuple[float, Lookup]] = OrderedDict()


def recent(host: str) -> Lookup | None:
    """The last answer for ``host`` in this process, if any (to explain a failed connection)."""
    entry = _cache.get(host.lower())
    return entry[1] if entry else None


def _remember(lookup: Lookup) -> Lookup:
    _cache[lookup.host] = (time.monotonic(), lookup)
    _cache.move_to_end(lookup.host)
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)
    return lookup


def lookup(host: str) -> Deferred[Lookup]:
    """Resolve ``host`` in the reactor's thread pool, or answer from the cache. Reactor thread only."""
    from twisted.internet import reactor

    host = host.lower()
    entry = _cache.get(host)
    if entry is not None and time.monotonic() - entry[0] < CACHE_SECONDS:
        return succeed(entry[1])
    found: Deferred[Lookup] = deferToThreadPool(reactor, reactor.getThreadPool(), resolve, host)
    return found.addCallback(_remember)


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:  # nothing to cancel: the lookup ends on its own
        pass


@implementer(IHostnameResolver)
class GuardedResolver:
    """The crawl's name resolver: threaded, cached, and blind to addresses the crawl may not reach."""

    def __init__(self, reactor: Any, allow_private: bool) -> None:
        self.reactor = reactor
        self.allow_private = allow_private

    @classmethod
    def from_crawler(cls, crawler: Any, reactor: Any) -> GuardedResolver:
        return cls(reactor, crawler.settings.getbool("NT_ALLOW_PRIVATE_ADDRESSES"))

    def install_on_reactor(self) -> None:
        self.reactor.installNameResolver(self)

    def resolveHostName(  # Twisted's interface names
        self,
        resolutionReceiver: Any,  # IResolutionReceiver (zope interfaces are not types to mypy)
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> Any:  # IHostResolution
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)

        def deliver(answer: Lookup) -> None:
            for address in answer.allowed(self.allow_private):
                ip = ipaddress.ip_address(address.split("%", 1)[0])
                kind = IPv6Address if ip.version == 6 else IPv4Address
                if addressTypes is None or kind in addressTypes:
                    resolutionReceiver.addressResolved(kind("TCP", address, portNumber))
            # With no address left, HostnameEndpoint fails with DNSLookupError; ``recent`` says why.
            resolutionReceiver.resolutionComplete()

        def failed(_failure: Any) -> None:
            resolutionReceiver.resolutionComplete()

        lookup(hostName).addCallbacks(deliver, failed)
        return resolution
