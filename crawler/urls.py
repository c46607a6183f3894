"""URL normalisation and the rules on which URLs a crawl may request.

An article is identified by its normalised URL (lower-case scheme and host, no default port, no
fragment, no tracking parameters), so that ``?utm_source=rss`` copies of one link are one article.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

#: Query parameters that only say where a click came from; dropped from article URLs.
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "piwik_", "hsa_", "_hs")
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "igshid", "mkt_tok", "ocid", "ncid",
        "cmpid", "smid", "smtyp", "at_medium", "at_campaign", "at_custom1", "at_custom2", "ref_src",
        "xtor", "ito", "wt_mc", "__twitter_impression",
    }
)  # fmt: skip
DEFAULT_PORTS = {"http": 80, "https": 443}


def normalize_url(url: str) -> str:
    """The canonical form of ``url`` used as an article's identity."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    port = parts.port
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in TRACKING_PARAMS and not key.lower().startswith(TRACKING_PREFIXES)
    ]
    return urlunsplit((scheme, netloc, parts.path or "/", urlencode(query, doseq=True), ""))


def url_hash(normalized_url: str) -> str:
    """SHA-1 hex digest of a normalised URL: the unique key of an article."""
    return hashlib.sha1(normalized_url.encode("utf-8")).hexdigest()  # noqa: S324 - a key, not security


def is_http(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def host_of(url: str) -> str:
    """The host name of ``url`` in lower case, without port or trailing dot."""
    return (urlsplit(url).hostname or "").rstrip(".").lower()


def on_domains(url: str, domains: list[str] | tuple[str, ...]) -> bool:
    """True when the host of ``url`` is one of ``domains`` or a subdomain of one (the port is ignored)."""
    host = host_of(url)
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (not loopback, private, link-local, reserved...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def is_never_crawled(address: str) -> bool:
    """Link-local (the cloud metadata service at 169.254.169.254, fe80::), multicast and unspecified
    addresses: no news site lives there, so ``allow_private_addresses`` (meant for a local test
    site or an intranet mirror) does not open them."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_link_local or ip.is_multicast or ip.is_unspecified


@lru_cache(maxsize=4096)
def resolves_to_public_addresses(host: str) -> bool:
    """True when every address ``host`` resolves to is a public one (blocking: not for the reactor
    thread; a crawl checks addresses with ``resolver.GuardedResolver``).

    Loopback, private, link-local, reserved and unresolvable hosts give False, so that crawled
    links cannot make the crawler reach the machine it runs on or its local network.
    """
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(is_public_address(str(a)) for a in addresses)
