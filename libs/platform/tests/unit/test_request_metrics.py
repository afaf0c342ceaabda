from typing import Any

from prometheus_client import REGISTRY

from onceonly.platform.metrics import RequestMetricsMiddleware

Message = dict[str, Any]


class _Route:
    path = "/v1/things/{code}"


def _app(statuses: list[int]) -> Any:
    answers = iter(statuses)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope["route"] = _Route()
        await send({"type": "http.response.start", "status": next(answers), "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


def _count(status: str) -> float:
    value = REGISTRY.get_sample_value(
        "onceonly_http_request_duration_seconds_count",
        {
            "service": "unit-metrics",
            "method": "GET",
            "route": _Route.path,
            "status": status,
        },
    )
    return value or 0.0


async def _request(middleware: RequestMetricsMiddleware) -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(_: Message) -> None:
        return None

    await middleware({"type": "http", "method": "GET", "path": "/v1/things/1"}, receive, send)


async def test_each_status_of_a_route_is_its_own_series_however_often_it_is_met() -> None:
    before = {status: _count(status) for status in ("200", "404")}
    middleware = RequestMetricsMiddleware(
        _app([200, 200, 404, 200, 404, 200]), service="unit-metrics"
    )
    for _ in range(6):
        await _request(middleware)
    assert _count("200") == before["200"] + 4
    assert _count("404") == before["404"] + 2
