"""``/api/v1/docs``: the API's operations, read from its OpenAPI schema and rendered here.

No script and nothing from another host (the CSP allows neither); the schema itself is at
``/api/v1/openapi.json`` for tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from conduct_desk.web.pages import render

router = APIRouter(include_in_schema=False)
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    parameters: tuple[str, ...]
    body: str
    answers: tuple[str, ...]


def operations(schema: dict[str, Any]) -> list[Operation]:
    """Every operation of the schema, in path order, with what a caller needs to know."""
    out = []
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = tuple(
                f"{p['name']} ({p['in']}{', required' if p.get('required') else ''})"
                for p in op.get("parameters", []))
            ref = (op.get("requestBody", {}).get("content", {}).get("application/json", {})
                   .get("schema", {}).get("$ref", ""))
            out.append(Operation(
                method=method.upper(), path=path, summary=op.get("summary", ""),
                description=op.get("description", ""), parameters=params,
                body=ref.rsplit("/", 1)[-1],
                answers=tuple(f"{code} {a.get('description', '')}"
                              for code, a in op.get("responses", {}).items())))
    return out


@router.get("/api/v1/docs")
def api_docs(request: Request) -> Response:
    schema = request.app.openapi()
    return render(request, "api_docs.html", {
        "info": schema.get("info", {}), "operations": operations(schema),
        "models": sorted(schema.get("components", {}).get("schemas", {}).items())})
