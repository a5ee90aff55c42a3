"""Unit tests for the Procore REST client (HTTP mocked with ``responses``)."""

from __future__ import annotations

import json
import random
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from embedded_app.procore import errors
from embedded_app.procore.client import ProcoreClient, updated_range

API = "https://api.example.test"
NOW = 1_800_000_000.0


class FakeTime:
    """A clock that only moves when the client sleeps."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Tokens:
    """A token provider whose refresh hands out tok-1, tok-2, …"""

    def __init__(self, token: str = "tok-0") -> None:
        self.token = token
        self.rejected: list[str] = []

    def access_token(self) -> str:
        return self.token

    def refresh(self, rejected: str) -> str:
        self.rejected.append(rejected)
        self.token = f"tok-{len(self.rejected)}"
        return self.token


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_client(fake_time):
    def make(**kwargs) -> ProcoreClient:
        kwargs.setdefault("company_id", 42)
        kwargs.setdefault("token_provider", "secret-token-abc")
        return ProcoreClient(
            API, sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(7), **kwargs
        )

    return make


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


@responses.activate
def test_sets_auth_and_company_headers_but_not_on_me_and_companies(make_client):
    responses.get(f"{API}/rest/v1.0/prime_contract/5", json={"id": 5})
    responses.get(f"{API}/rest/v1.0/me", json={"id": 1, "login": "a@b.c"})
    responses.get(f"{API}/rest/v1.0/companies", json=[{"id": 42, "name": "Acme"}])
    client = make_client()
    assert client.prime_contract(7, 5) == {"id": 5}
    assert client.me()["id"] == 1
    assert client.companies() == [{"id": 42, "name": "Acme"}]
    first, me, companies = responses.calls
    assert first.request.headers["Authorization"] == "Bearer secret-token-abc"
    assert first.request.headers["Procore-Company-Id"] == "42"
    assert query(first) == {"project_id": ["7"]}
    assert "Procore-Company-Id" not in me.request.headers
    assert "Procore-Company-Id" not in companies.request.headers
    assert me.request.headers["Authorization"] == "Bearer secret-token-abc"
    assert client.requests_made == 3


@responses.activate
def test_company_scoped_calls_send_that_company(make_client):
    responses.get(f"{API}/rest/v1.0/projects", json=[{"id": 1}])
    responses.get(f"{API}/rest/v1.0/vendors", json=[])
    client = make_client(company_id=None)
    client.projects(9)
    client.vendors(9, updated_since="2024-01-01T00:00:00Z")
    for call in responses.calls:
        assert call.request.headers["Procore-Company-Id"] == "9"
        assert query(call)["company_id"] == ["9"]
    assert query(responses.calls[1])["filters[updated_at]"][0].startswith("2024-01-01T00:00:00Z...")


def _link(path: str, page: int, last: int, per_page: int, host: str = API) -> str:
    parts = [f'<{host}{path}?page=1&per_page={per_page}>; rel="first"']
    if page > 1:
        parts.append(f'<{host}{path}?page={page - 1}&per_page={per_page}>; rel="prev"')
    if page < last:
        parts.append(f'<{host}{path}?page={page + 1}&per_page={per_page}&project_id=3>; rel="next"')
    parts.append(f'<{host}{path}?page={last}&per_page={per_page}>; rel="last"')
    return ", ".join(parts)


@responses.activate
def test_pagination_follows_link_and_keeps_token_on_our_host(make_client):
    path = "/rest/v1.0/payment_applications"
    pages = {1: [{"id": 1}, {"id": 2}], 2: [{"id": 3}, {"id": 4}], 3: [{"id": 5}]}

    def callback(request):
        page = int(parse_qs(urlsplit(request.url).query)["page"][0])
        # The server names another host in Link (e.g. behind a proxy): the client must stay on API.
        headers = {
            "Link": _link(path, page, 3, 2, host="https://elsewhere.test"),
            "Total": "5",
            "Per-Page": "2",
        }
        return 200, headers, json.dumps(pages[page])

    responses.add_callback(responses.GET, f"{API}{path}", callback=callback)
    client = make_client()
    records = list(client.paginate(path, {"project_id": 3}, per_page=2))
    assert [r["id"] for r in records] == [1, 2, 3, 4, 5]
    assert len(responses.calls) == 3
    assert all(c.request.url.startswith(API) for c in responses.calls)
    assert query(responses.calls[0])["per_page"] == ["2"]


@responses.activate
def test_pagination_falls_back_to_total(make_client):
    path = "/rest/v1.0/prime_contracts"
    data = [{"id": i} for i in range(1, 8)]

    def callback(request):
        q = parse_qs(urlsplit(request.url).query)
        page, per_page = int(q["page"][0]), int(q["per_page"][0])
        chunk = data[(page - 1) * per_page : page * per_page]
        return 200, {"Total": "7", "Per-Page": str(per_page)}, json.dumps(chunk)

    responses.add_callback(responses.GET, f"{API}{path}", callback=callback)
    records = list(make_client().paginate(path, {"project_id": 1}, per_page=3))
    assert [r["id"] for r in records] == list(range(1, 8))
    assert len(responses.calls) == 3  # 3 + 3 + 1, no probe for an empty page


@responses.activate
def test_pagination_without_headers_stops_at_short_page(make_client):
    path = "/rest/v1.0/vendors"
    responses.get(f"{API}{path}", json=[{"id": 1}, {"id": 2}])
    responses.get(f"{API}{path}", json=[{"id": 3}])
    records = list(make_client().paginate(path, per_page=2))
    assert [r["id"] for r in records] == [1, 2, 3]
    assert len(responses.calls) == 2


@responses.activate
def test_pagination_uses_server_per_page_when_clamped(make_client):
    path = "/rest/v1.0/vendors"
    responses.get(f"{API}{path}", json=[{"id": 1}, {"id": 2}], headers={"Per-Page": "2"})
    responses.get(f"{API}{path}", json=[{"id": 3}], headers={"Per-Page": "2"})
    records = list(make_client().paginate(path))
    assert [r["id"] for r in records] == [1, 2, 3]
    assert query(responses.calls[1])["page"] == ["2"]


@responses.activate
def test_per_page_is_the_endpoint_maximum(make_client):
    responses.get(f"{API}/rest/v1.0/prime_contracts", json=[])
    client = make_client()
    client.prime_contracts(3)
    assert query(responses.calls[0])["per_page"] == [str(client.max_per_page("/rest/v1.0/prime_contracts"))]
    list(client.paginate("/rest/v1.0/prime_contracts", per_page=10**6))
    assert int(query(responses.calls[1])["per_page"][0]) == client.max_per_page("/rest/v1.0/prime_contracts")


@responses.activate
def test_v2_data_envelope(make_client):
    responses.get(f"{API}/rest/v2.0/companies/1/projects/2/prime_contracts", json={"data": [{"id": 9}]})
    assert list(make_client().paginate("/rest/v2.0/companies/1/projects/2/prime_contracts")) == [{"id": 9}]


@pytest.mark.parametrize(
    ("status", "body", "cls", "text"),
    [
        (
            403,
            {"message": "Missing Procore-Company-Id header!"},
            errors.Forbidden,
            "Missing Procore-Company-Id",
        ),
        (404, {"errors": "Not Found"}, errors.NotFound, "Not Found"),
        (422, {"errors": {"amount": ["must be greater than 0"]}}, errors.InvalidRequest, "amount must be"),
        (400, {"errors": ["date is invalid"]}, errors.InvalidRequest, "date is invalid"),
        (409, {"message": "conflict"}, errors.InvalidRequest, "conflict"),
        (418, "teapot", errors.ProcoreError, "teapot"),
    ],
)
@responses.activate
def test_error_statuses_become_typed_errors(make_client, fake_time, status, body, cls, text):
    kwargs = {"json": body} if not isinstance(body, str) else {"body": body}
    responses.get(f"{API}/rest/v1.0/prime_contract/1", status=status, **kwargs)
    client = make_client()
    with pytest.raises(cls) as info:
        client.prime_contract(2, 1)
    assert text in str(info.value)
    assert info.value.status == status
    assert "secret-token-abc" not in str(info.value) + repr(info.value)
    assert len(responses.calls) == 1  # 4xx is never retried
    assert fake_time.sleeps == []


@responses.activate
def test_invalid_request_carries_validation_messages(make_client):
    responses.post(
        f"{API}/rest/v1.0/contract_payments",
        status=422,
        json={"errors": {"amount": ["can't be blank"], "base": ["Contract is closed"]}},
    )
    with pytest.raises(errors.InvalidRequest) as info:
        make_client().create_contract_payment(1, 2, {"date": "2024-01-01"})
    assert info.value.messages == ["amount can't be blank", "Contract is closed"]
    body = json.loads(responses.calls[0].request.body)
    assert body == {"project_id": 1, "contract_id": 2, "contract_payment": {"date": "2024-01-01"}}


@responses.activate
def test_retry_after_is_honoured_on_429(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, status=429, headers={"Retry-After": "7"}, json={"message": "slow down"})
    responses.get(url, json={"id": 1})
    client = make_client()
    assert client.me() == {"id": 1}
    assert len(fake_time.sleeps) == 1
    assert 7 <= fake_time.sleeps[0] <= 8.5
    assert client.count_429 == 1 and client.requests_made == 2


@responses.activate
def test_retry_after_http_date(make_client, fake_time):
    import email.utils

    url = f"{API}/rest/v1.0/me"
    when = email.utils.formatdate(NOW + 20, usegmt=True)
    responses.get(url, status=503, headers={"Retry-After": when})
    responses.get(url, json={"id": 1})
    make_client().me()
    assert 20 <= fake_time.sleeps[0] <= 22


@responses.activate
def test_rate_limit_reset_is_honoured_on_429_without_retry_after(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(
        url,
        status=429,
        headers={
            "X-Rate-Limit-Limit": "25",
            "X-Rate-Limit-Remaining": "0",
            "X-Rate-Limit-Reset": str(int(NOW + 12)),
        },
    )
    responses.get(
        url,
        json={"id": 1},
        headers={
            "X-Rate-Limit-Limit": "25",
            "X-Rate-Limit-Remaining": "24",
            "X-Rate-Limit-Reset": str(int(NOW + 22)),
        },
    )
    client = make_client()
    client.me()
    # One wait, until the reset (the throttle must not add a second one on top of the retry wait).
    assert len(fake_time.sleeps) == 1
    assert 12 <= fake_time.sleeps[0] <= 13.5
    assert client.rate_limit.remaining == 24 and client.rate_limit.limit == 25


@responses.activate
def test_429_retries_are_bounded(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, status=429, headers={"Retry-After": "1"})
    client = make_client(max_retries=2)
    with pytest.raises(errors.RateLimited) as info:
        client.me()
    assert len(responses.calls) == 3 and len(fake_time.sleeps) == 2
    assert info.value.retry_after is not None and info.value.retry_after >= 1


@responses.activate
def test_429_with_a_wait_longer_than_max_wait_fails_fast(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, status=429, headers={"X-Rate-Limit-Reset": str(int(NOW + 3000))})
    with pytest.raises(errors.RateLimited) as info:
        make_client(max_wait=60).me()
    assert fake_time.sleeps == []
    assert info.value.retry_after > 2900
    assert "retry in" in str(info.value)


@responses.activate
def test_5xx_retried_with_backoff_then_server_error(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, status=502, body="bad gateway")
    client = make_client(max_retries=3)
    with pytest.raises(errors.ServerError):
        client.me()
    assert len(responses.calls) == 4
    assert len(fake_time.sleeps) == 3
    # exponential with jitter: each wait within [base*2^n/2, base*2^n]
    for n, wait in enumerate(fake_time.sleeps):
        assert 0.5 * 2**n / 2 <= wait <= 0.5 * 2**n


@responses.activate
def test_5xx_recovers(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, status=500)
    responses.get(url, json={"id": 3})
    assert make_client().me() == {"id": 3}
    assert len(fake_time.sleeps) == 1


@responses.activate
def test_post_is_not_retried_on_500_but_is_on_503_and_429(make_client, fake_time):
    url = f"{API}/rest/v1.0/contract_payments"
    responses.post(url, status=500)
    with pytest.raises(errors.ServerError):
        make_client().create_contract_payment(1, 2, {"amount": "1.00"})
    assert len(responses.calls) == 1
    responses.reset()
    responses.post(url, status=503, headers={"Retry-After": "2"})
    responses.post(url, status=429, headers={"Retry-After": "1"})
    responses.post(url, status=201, json={"id": 77})
    assert make_client().create_contract_payment(1, 2, {"amount": "1.00"}) == {"id": 77}
    assert len(responses.calls) == 3


@responses.activate
def test_connection_errors_are_retried_then_connection_failed(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, body=requests.ConnectionError("Connection refused"))
    with pytest.raises(errors.ConnectionFailed) as info:
        make_client(max_retries=2).me()
    assert len(fake_time.sleeps) == 2
    assert "could not be reached" in str(info.value)
    assert info.value.status is None


@responses.activate
def test_connection_error_then_success(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, body=requests.ConnectionError("reset"))
    responses.get(url, json={"id": 1})
    assert make_client().me() == {"id": 1}


@responses.activate
def test_post_not_retried_when_it_may_have_been_sent(make_client, fake_time):
    url = f"{API}/rest/v1.0/contract_payments"
    responses.post(url, body=requests.ConnectionError("Connection aborted: RemoteDisconnected"))
    with pytest.raises(errors.ConnectionFailed):
        make_client().create_contract_payment(1, 2, {"amount": "1"})
    assert len(responses.calls) == 1 and fake_time.sleeps == []


@responses.activate
def test_401_refreshes_once_and_retries(make_client):
    url = f"{API}/rest/v1.0/me"
    responses.get(
        url,
        status=401,
        json={"message": "expired"},
        match=[matchers.header_matcher({"Authorization": "Bearer tok-0"})],
    )
    responses.get(url, json={"id": 5}, match=[matchers.header_matcher({"Authorization": "Bearer tok-1"})])
    tokens = Tokens()
    assert make_client(token_provider=tokens).me() == {"id": 5}
    assert tokens.rejected == ["tok-0"]


@responses.activate
def test_401_after_refresh_means_reconnect(make_client):
    responses.get(f"{API}/rest/v1.0/me", status=401, json={"message": "revoked"})
    tokens = Tokens()
    with pytest.raises(errors.ReconnectRequired):
        make_client(token_provider=tokens).me()
    assert tokens.rejected == ["tok-0"] and len(responses.calls) == 2


@responses.activate
def test_401_with_static_token_is_reconnect_required(make_client):
    responses.get(f"{API}/rest/v1.0/me", status=401)
    with pytest.raises(errors.ReconnectRequired) as info:
        make_client().me()
    assert isinstance(info.value, errors.Unauthorized)
    assert "secret-token-abc" not in str(info.value)


def _rl(limit: int, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-Rate-Limit-Limit": str(limit),
        "X-Rate-Limit-Remaining": str(remaining),
        "X-Rate-Limit-Reset": str(int(reset)),
    }


@responses.activate
def test_throttles_before_the_window_is_spent(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, json={}, headers=_rl(100, 50, NOW + 8))
    responses.get(url, json={}, headers=_rl(100, 1, NOW + 8))
    responses.get(url, json={}, headers=_rl(100, 99, NOW + 18))
    client = make_client()
    client.me()
    client.me()
    assert fake_time.sleeps == []  # plenty left: no waiting
    client.me()  # last answer said 1 left (= reserve): wait for the reset instead of spending it
    assert len(fake_time.sleeps) == 1
    assert 8 <= fake_time.sleeps[0] <= 8.3
    assert client.count_429 == 0


@responses.activate
def test_paces_requests_when_the_window_runs_low(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, json={}, headers=_rl(100, 5, NOW + 10))
    responses.get(url, json={}, headers=_rl(100, 4, NOW + 10))
    client = make_client()
    client.me()
    client.me()
    # 5 left, reserve 1: spread over the 10 s left -> 10 / 5 = 2 s
    assert fake_time.sleeps == [pytest.approx(2.0)]


@responses.activate
def test_throttle_wait_beyond_max_wait_raises_rate_limited(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, json={}, headers=_rl(600, 0, NOW + 1800))
    client = make_client(max_wait=60)
    client.me()
    with pytest.raises(errors.RateLimited) as info:
        client.me()
    assert len(responses.calls) == 1  # never sent
    assert info.value.retry_after >= 1800


@responses.activate
def test_expired_window_is_ignored(make_client, fake_time):
    url = f"{API}/rest/v1.0/me"
    responses.get(url, json={}, headers=_rl(100, 0, NOW - 1))
    client = make_client()
    client.me()
    client.me()
    assert fake_time.sleeps == []


@responses.activate
def test_on_request_reports_progress_without_secrets(make_client):
    events = []
    responses.get(f"{API}/rest/v1.0/me", json={}, headers=_rl(100, 80, NOW + 5))
    client = make_client(on_request=events.append)
    client.me()
    assert len(events) == 1
    event = events[0]
    assert (event.method, event.path, event.status, event.requests_made) == ("GET", "/rest/v1.0/me", 200, 1)
    assert event.rate_limit.remaining == 80
    assert "secret-token-abc" not in repr(event) + repr(client)


@responses.activate
def test_typed_write_helpers_send_procore_shapes(make_client):
    responses.patch(f"{API}/rest/v1.0/prime_contract/5", json={"id": 5})
    responses.post(f"{API}/rest/v1.0/projects/3/generic_tools/8/generic_tool_items", json={"id": 1})
    responses.patch(f"{API}/rest/v1.0/projects/3/generic_tools/8/generic_tool_items/1", json={"id": 1})
    responses.get(f"{API}/rest/v1.1/companies/42/custom_field_definitions", json=[{"id": 1}])
    responses.get(f"{API}/rest/v1.0/companies/42/generic_tools", json=[{"id": 8}])
    responses.get(f"{API}/rest/v1.0/contract_payments", json=[])
    client = make_client()
    client.update_prime_contract(3, 5, {"custom_field_12": "Promised"})
    client.create_generic_tool_item(3, 8, {"title": "Promise", "private": True})
    client.update_generic_tool_item(3, 8, 1, {"status": "Closed"})
    assert client.custom_field_definitions(42) == [{"id": 1}]
    assert client.generic_tools(42) == [{"id": 8}]
    client.contract_payments(3, 5, updated_since="2024-02-01T00:00:00Z")
    bodies = [json.loads(c.request.body) for c in responses.calls[:3]]
    assert bodies[0] == {"project_id": 3, "prime_contract": {"custom_field_12": "Promised"}}
    assert query(responses.calls[0])["project_id"] == ["3"]
    assert bodies[1] == {"generic_tool_item": {"title": "Promise", "private": True}}
    assert bodies[2] == {"generic_tool_item": {"status": "Closed"}}
    q = query(responses.calls[5])
    assert q["project_id"] == ["3"] and q["contract_id"] == ["5"]
    assert "filters[updated_at]" in q
    for call in responses.calls:
        assert call.request.headers["Procore-Company-Id"] == "42"


def test_updated_range_format():
    from datetime import UTC, datetime

    value = updated_range(datetime(2024, 3, 1, 12, 0, 5, 123, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC))
    assert value == "2024-03-01T12:00:05Z...2024-03-02T00:00:00Z"
