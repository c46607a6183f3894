"""The OpenAPI description of /api/v1/ (written by hand: the API is small and this is its contract)."""

from __future__ import annotations

from typing import Any


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


_ARTICLE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "url": {"type": "string"},
        "source": {"type": "string", "description": "the outlet's slug"},
        "group": {"type": "string"},
        "title": {"type": "string"},
        "text": {"type": "string"},
        "lang": {"type": "string"},
        "published_at": {"type": ["string", "null"], "format": "date-time"},
        "fetched_at": {"type": ["string", "null"], "format": "date-time"},
        "duplicate_of": {"type": ["string", "null"]},
        "narratives": {"type": "array", "items": {"type": "object", "properties": {
            "id": {"type": "string"}, "score": {"type": "number"}, "stance": {"type": "string"}}}},
    },
}
_ERRORS = {
    "400": {"description": "a parameter is wrong; the error names it"},
    "401": {"description": "no session and no valid bearer token"},
    "403": {"description": "the role does not allow it; nothing changed"},
}


def _get(summary: str, parameters: list[dict[str, Any]], schema: dict[str, Any]) -> dict[str, Any]:
    return {"get": {"summary": summary, "parameters": parameters, "responses": {
        "200": {"description": "OK", "content": {"application/json": {"schema": schema}}}, **_ERRORS}}}


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Narrative Tracker API", "version": "1"},
    "servers": [{"url": "/api/v1"}],
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"},
                                       "session": {"type": "apiKey", "in": "cookie", "name": "nt_session"}}},
    "security": [{"bearer": []}, {"session": []}],
    "paths": {
        "/alerts": _get("The alerts of a day (default: the latest day with alerts)",
                        [_query("date", "YYYY-MM-DD", {"type": "string", "format": "date"})],
                        {"type": "object", "properties": {"date": {"type": "string"}, "alerts": {"type": "array"}}}),
        "/trends": _get("Daily counts per narrative, source group and language",
                        [_query("narrative", "narrative id"), _query("group", "source group"),
                         _query("lang", "ISO 639-1"), _query("days", "1-730, default 28", {"type": "integer"})],
                        {"type": "object", "properties": {"rows": {"type": "array"}}}),
        "/narratives": _get("The taxonomy's narratives", [], {"type": "object"}),
        "/articles": _get(
            "Articles, newest first, in keyset pages (pass next_cursor back as cursor)",
            [_query("q", "words that must all occur in the title or text"), _query("narrative", "narrative id"),
             _query("stance", "promotes | refutes | reports"), _query("group", "source group"),
             _query("source", "outlet slug"), _query("lang", "ISO 639-1"),
             _query("since", "YYYY-MM-DD (published)"), _query("until", "YYYY-MM-DD (published)"),
             _query("cursor", "from next_cursor"), _query("limit", "1-200, default 50", {"type": "integer"})],
            {"type": "object", "properties": {"articles": {"type": "array", "items": _ARTICLE},
                                              "next_cursor": {"type": ["string", "null"]}}}),
        "/articles/{id}": {"get": {
            "summary": "One article with its evidence sentences, copies and labels",
            "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": _ARTICLE}}},
                          "404": {"description": "no such article"}, **_ERRORS}}},
        "/labels": {"post": {
            "summary": "Label a stored article (analyst) as `labels import` stores a record: the narratives "
                       "listed are present, every other one absent; an empty list says it carries none",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["article_id"],
                "properties": {"article_id": {"type": "integer"},
                               "narratives": {"type": "array", "items": {"type": "string"}},
                               "stance": {"type": "object", "additionalProperties": {
                                   "enum": ["promotes", "refutes", "reports"]}}}}}}},
            "responses": {"201": {"description": "stored"}, **_ERRORS}}},
    },
}
