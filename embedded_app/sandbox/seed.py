"""The built-in, deterministic dataset of the Procore stand-in: a general contractor's receivables.

``build_seed()`` returns a dataset in the format of ``docs/sandbox-dataset.md``: two companies (contractors),
their owner/client directory companies ("vendors"), projects in several states, prime contracts with mixed
payment terms, ~24 months of monthly AIA G702 payment applications ending at :data:`SEED_ANCHOR`, and
payments received — prompt, late, partial, matched to an invoice by ``invoice_number`` /
``draw_request_number`` or not matched at all. Everything comes from one ``random.Random(seed)``, so the same
arguments always give the same dataset (no wall clock involved).
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

__all__ = ["SEED_ANCHOR", "build_seed", "money", "terms_days"]

SEED_ANCHOR = date(2026, 11, 30)
BILLING_MONTHS = 24

CENT = Decimal("0.01")
ZERO = Decimal("0.00")

COMPANY_A = 10001
COMPANY_B = 10002

_COMPANIES: list[dict[str, Any]] = [
    {
        "id": COMPANY_A,
        "name": "Summit Ridge Builders, Inc.",
        "prefix": "SRB",
        "city": "San Diego",
        "state_code": "CA",
        "zip": "92101",
        "phone": "(619) 555-0140",
        "states": ["CA", "TX", "AZ", "CO", "WA", "NV"],
    },
    {
        "id": COMPANY_B,
        "name": "Harborline Construction Co.",
        "prefix": "HLC",
        "city": "Tampa",
        "state_code": "FL",
        "zip": "33602",
        "phone": "(813) 555-0177",
        "states": ["NY", "FL", "NJ", "GA", "MA", "NC"],
    },
]

_CITIES: dict[str, list[tuple[str, str]]] = {
    "CA": [
        ("San Diego", "92101"),
        ("Sacramento", "95814"),
        ("Fresno", "93721"),
        ("Oakland", "94612"),
        ("Irvine", "92614"),
    ],
    "TX": [("Austin", "78701"), ("Houston", "77002"), ("Dallas", "75201"), ("San Antonio", "78205")],
    "AZ": [("Phoenix", "85004"), ("Tucson", "85701"), ("Mesa", "85201")],
    "CO": [("Denver", "80202"), ("Boulder", "80302"), ("Colorado Springs", "80903")],
    "WA": [("Seattle", "98101"), ("Spokane", "99201"), ("Tacoma", "98402")],
    "NV": [("Las Vegas", "89101"), ("Reno", "89501")],
    "NY": [("Brooklyn", "11201"), ("Albany", "12207"), ("Buffalo", "14202"), ("White Plains", "10601")],
    "FL": [("Tampa", "33602"), ("Orlando", "32801"), ("Miami", "33131"), ("Jacksonville", "32202")],
    "NJ": [("Newark", "07102"), ("Jersey City", "07302"), ("Princeton", "08540")],
    "GA": [("Atlanta", "30303"), ("Savannah", "31401"), ("Augusta", "30901")],
    "MA": [("Boston", "02108"), ("Worcester", "01608"), ("Cambridge", "02139")],
    "NC": [("Charlotte", "28202"), ("Raleigh", "27601"), ("Durham", "27701")],
}

_OWNER_WORDS = [
    "Bayview",
    "Cedar Grove",
    "Lone Star",
    "Pinecrest",
    "Redwood",
    "Granite Peak",
    "Silver Creek",
    "Harbor Light",
    "Meridian",
    "Oak Hollow",
    "Sunbelt",
    "Northgate",
    "Riverside",
    "Blue Mesa",
    "Coastal",
    "Evergreen",
    "Ironwood",
    "Lakeshore",
    "Magnolia",
    "Palisade",
    "Prairie",
    "Quarry Hill",
    "Sagebrush",
    "Tidewater",
    "Union Square",
    "Westfield",
    "Willow Bend",
    "Highland",
    "Crescent",
    "Falcon Ridge",
    "Golden Gate",
    "Heritage",
    "Keystone",
    "Liberty",
    "Maple Leaf",
    "Old Mill",
    "Parkside",
    "Summitview",
    "Stonebridge",
    "Three Rivers",
    "Vista Verde",
    "Whitewater",
    "Brightwater",
    "Copperline",
    "Driftwood",
    "Elm Street",
    "Foxhall",
    "Greystone",
    "Juniper",
]
_OWNER_KINDS = [
    "Development LLC",
    "Holdings LLC",
    "Medical Partners",
    "Unified School District",
    "Properties LP",
    "Realty Trust",
    "Hospitality Group",
    "Community College District",
    "Logistics REIT",
    "Senior Living, Inc.",
    "Housing Authority",
    "Retail Partners LLC",
    "Office Investors LP",
    "County Facilities Department",
    "Self Storage LLC",
    "Charter Academy",
    "Health System",
    "Church",
    "Water District",
    "Ventures LLC",
]
_PROJECT_KINDS = [
    "Medical Office Building",
    "Mixed-Use Residences",
    "Elementary School Modernization",
    "Distribution Center",
    "Parking Structure",
    "Senior Living Community",
    "Fire Station No. {n}",
    "Library Renovation",
    "Hotel & Conference Center",
    "Corporate Campus Phase {n}",
    "Science Building",
    "Retail Center",
    "Apartment Homes",
    "Aquatic Center",
    "Public Safety Building",
    "Self Storage Facility",
    "Clinic Expansion",
    "Transit Center",
    "Data Center Shell",
    "Student Housing",
    "Community Center",
    "Warehouse Tilt-Up",
]
_PACKAGES = [
    "Base Building",
    "Tenant Improvements",
    "Site Work",
    "Parking Garage",
    "Phase 2",
    "Interior Fit-Out",
    "Central Plant",
]
_FIRST = [
    "Dana",
    "Marcus",
    "Priya",
    "Luis",
    "Alicia",
    "Grant",
    "Mei",
    "Tomas",
    "Renee",
    "Jamal",
    "Karen",
    "Omar",
    "Sofia",
    "Derek",
    "Hannah",
    "Victor",
    "Lena",
    "Ray",
    "Nadia",
    "Colin",
    "Ingrid",
    "Felix",
    "Tanya",
    "Wes",
]
_LAST = [
    "Whitfield",
    "Oyelaran",
    "Raman",
    "Castillo",
    "Brennan",
    "Nakamura",
    "Kowalski",
    "Okafor",
    "Lindqvist",
    "Hernandez",
    "Patel",
    "Sullivan",
    "Moreau",
    "Goldberg",
    "Abernathy",
    "Tran",
    "Fischer",
    "Delgado",
    "Kim",
    "O'Neill",
    "Baptiste",
    "Novak",
    "Reyes",
    "Chandler",
]

_STREETS = ["Ave", "Blvd", "St"]
PAYMENT_TERMS = ["Net 30", "Net 30", "Net 45", "Due on receipt", "30 days", "", "Net 60", "Net 30"]
# An owner's payment habit (drawn once per owner; keep the list's length, it is part of the random stream):
# "prompt" pays on or about the due date, "steady" within a month after it, "partial" short-pays and settles the
# rest a month or two later. On top of that each company has a couple of "chronic" slow payers (see
# ``_build_payments``).
PROFILES = ["prompt", "prompt", "steady", "prompt", "partial", "steady", "prompt", "steady", "prompt"]
CHRONIC_PER_COMPANY = 2


def money(value: Decimal) -> str:
    """A Decimal as Procore's money string with two decimals ("1234.50")."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_UP))


def terms_days(terms: str | None, default: int = 30) -> int:
    """Days from billing to due date for the free-text terms the seed uses ("Net 45", "30 days", …)."""
    text = (terms or "").strip().lower()
    if not text:
        return default
    if "receipt" in text:
        return 0
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else default


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + (d.month - 1) + months
    return date(total // 12, total % 12 + 1, 1)


def _month_end(d: date) -> date:
    return _add_months(d, 1) - timedelta(days=1)


def _ts(d: date, rng: random.Random) -> str:
    return f"{d.isoformat()}T{rng.randint(13, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"


def _phone(rng: random.Random) -> str:
    return f"({rng.randint(201, 989)}) 555-{rng.randint(100, 9999):04d}"


def _slug(text: str) -> str:
    return "".join(ch for ch in text.lower() if ch.isalnum())[:18]


class _Ids:
    def __init__(self) -> None:
        self._next = {
            "project": 2_000_001,
            "vendor": 3_000_001,
            "contract": 4_000_001,
            "pay_app": 5_000_001,
            "payment": 6_000_001,
            "user": 7_000_001,
            "contact": 7_500_001,
            "tool": 8_000_001,
            "custom_field": 9_000_001,
            "period": 9_500_001,
        }

    def take(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value


def _s_curve(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def build_seed(scale: int = 1, seed: int = 20261204) -> dict[str, Any]:
    """Build the deterministic built-in dataset.

    ``scale`` multiplies the number of owners, projects, contracts, payment applications and payments
    (``scale=10`` gives roughly ten times the records of ``scale=1``); companies, users, OAuth clients, custom
    field definitions and generic tools stay the same.
    """
    if scale < 1:
        raise ValueError("scale must be >= 1")
    rng = random.Random(seed)
    ids = _Ids()
    anchor = SEED_ANCHOR
    first_month = _add_months(anchor.replace(day=1), -(BILLING_MONTHS - 1))

    companies: list[dict[str, Any]] = []
    vendors: list[dict[str, Any]] = []
    projects: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = []
    prime_contracts: list[dict[str, Any]] = []
    pay_apps: list[dict[str, Any]] = []
    payments: list[dict[str, Any]] = []
    custom_field_definitions: list[dict[str, Any]] = []
    generic_tools: list[dict[str, Any]] = []

    # --- users: a bookkeeper and a project manager per company, plus a controller who sees both
    def make_user(
        first: str,
        last: str,
        company: dict[str, Any],
        title: str,
        company_ids: list[int] | None = None,
    ) -> dict[str, Any]:
        login = f"{first.lower()}.{_slug(last)}@{_slug(company['name'].split(',')[0])}.example.com"
        user: dict[str, Any] = {
            "id": ids.take("user"),
            "login": login,
            "name": f"{first} {last}",
            "first_name": first,
            "last_name": last,
            "email_address": login,
            "job_title": title,
            "is_active": True,
            "company_id": company["id"],
            "created_at": "2023-02-01T16:00:00Z",
            "updated_at": "2025-06-01T16:00:00Z",
        }
        if company_ids:
            user["company_ids"] = company_ids
        users.append(user)
        return user

    people = [("Dana", "Whitfield", "Luis", "Castillo"), ("Marcus", "Oyelaran", "Alicia", "Brennan")]
    company_users: dict[int, list[dict[str, Any]]] = {}
    for spec, (b_first, b_last, pm_first, pm_last) in zip(_COMPANIES, people, strict=True):
        company_users[spec["id"]] = [
            make_user(b_first, b_last, spec, "Bookkeeper"),
            make_user(pm_first, pm_last, spec, "Project Manager"),
        ]
    make_user("Priya", "Raman", _COMPANIES[0], "Controller", [COMPANY_A, COMPANY_B])

    # --- companies, custom fields, generic tools ------------------------------------------------------------
    for spec in _COMPANIES:
        companies.append(
            {
                "id": spec["id"],
                "name": spec["name"],
                "is_active": True,
                "logo_url": None,
                "my_company": True,
                "pcn_business_experience": None,
            }
        )
        custom_field_definitions.append(
            {
                "id": ids.take("custom_field"),
                "company_id": spec["id"],
                "label": "Collections stage",
                "data_type": "string",
                "holder_type": "PrimeContract",
                "description": "Set by the collections app",
                "active": True,
                "created_at": "2026-01-10T17:00:00Z",
                "updated_at": "2026-01-10T17:00:00Z",
            }
        )
        custom_field_definitions.append(
            {
                "id": ids.take("custom_field"),
                "company_id": spec["id"],
                "label": "Next promised payment",
                "data_type": "date",
                "holder_type": "PrimeContract",
                "description": "Set by the collections app",
                "active": True,
                "created_at": "2026-01-10T17:05:00Z",
                "updated_at": "2026-01-10T17:05:00Z",
            }
        )
    default_statuses = [
        {"status_name": "Draft", "status": "Draft"},
        {"status_name": "Open", "status": "Open"},
        {"status_name": "Pending", "status": "Open"},
        {"status_name": "Closed", "status": "Closed"},
    ]
    tool_titles = {
        COMPANY_A: [("Collections Log", "COL"), ("Notice of Delay", "NOD"), ("Letter", "LTR")],
        COMPANY_B: [("Letter", "LTR"), ("Notice of Change", "NOC")],
    }
    for company_id, titles in tool_titles.items():
        for title, abbreviation in titles:
            generic_tools.append(
                {
                    "id": ids.take("tool"),
                    "company_id": company_id,
                    "title": title,
                    "abbreviation": abbreviation,
                    "tool_type": "correspondence",
                    "active": True,
                    "statuses": [dict(s) for s in default_statuses],
                    "created_at": "2024-03-04T15:00:00Z",
                    "updated_at": "2024-03-04T15:00:00Z",
                }
            )

    # --- owners (vendors), projects, contracts
    owner_names: set[str] = set()
    vendor_profile: dict[int, str] = {}
    invoice_seq = {COMPANY_A: 10001, COMPANY_B: 20001}
    pending_apps: list[tuple[dict[str, Any], dict[str, Any], str, str]] = []

    for c_index, spec in enumerate(_COMPANIES):
        company_id = spec["id"]
        contractor = {
            "id": company_id + 500_000,
            "name": spec["name"],
            "email_address": f"ar@{_slug(spec['name'].split(',')[0])}.example.com",
            "business_phone": spec["phone"],
            "is_active": True,
        }
        n_vendors = (24 if c_index == 0 else 20) * scale
        company_vendors: list[dict[str, Any]] = []
        for _ in range(n_vendors):
            while True:
                name = f"{rng.choice(_OWNER_WORDS)} {rng.choice(_OWNER_KINDS)}"
                if name not in owner_names:
                    break
                name = f"{name} {rng.choice(['II', 'West', 'East', 'North', 'South', 'Partners'])}"
                if name not in owner_names:
                    break
            owner_names.add(name)
            state = rng.choice(spec["states"])
            city, zip_code = rng.choice(_CITIES[state])
            domain = f"{_slug(name)}.example.com"
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            has_email = rng.random() > 0.15
            contact_email = f"{first.lower()}.{_slug(last)}@{domain}" if rng.random() > 0.1 else None
            created = first_month - timedelta(days=rng.randint(30, 900))
            vendor_id = ids.take("vendor")
            vendor = {
                "id": vendor_id,
                "company_id": company_id,
                "name": name,
                "abbreviated_name": "".join(w[0] for w in name.split() if w[0].isalpha())[:6].upper(),
                "email_address": f"ap@{domain}" if has_email else None,
                "business_phone": _phone(rng),
                "fax_number": None,
                "mobile_phone": None,
                "website": f"https://www.{domain}",
                "address": f"{rng.randint(100, 9900)} {rng.choice(_OWNER_WORDS)} {rng.choice(_STREETS)}",
                "city": city,
                "state_code": state,
                "zip": zip_code,
                "country_code": "US",
                "is_active": True,
                "license_number": None,
                "labor_union": None,
                "authorized_bidder": False,
                "prequalified": False,
                "primary_contact": {
                    "id": ids.take("contact"),
                    "first_name": first,
                    "last_name": last,
                    "email_address": contact_email,
                    "business_phone": _phone(rng),
                    "mobile_phone": None,
                },
                "invoice_contacts": (
                    [{"id": ids.take("contact"), "name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"}]
                    if rng.random() < 0.6
                    else []
                ),
                "origin_id": None,
                "origin_data": None,
                "origin_code": None,
                "created_at": _ts(created, rng),
                "updated_at": _ts(min(anchor, created + timedelta(days=rng.randint(20, 1000))), rng),
            }
            if not has_email and rng.random() < 0.5:
                vendor["primary_contact"]["email_address"] = None
            vendors.append(vendor)
            company_vendors.append(vendor)
            vendor_profile[vendor_id] = rng.choice(PROFILES)

        n_projects = (38 if c_index == 0 else 32) * scale
        # every owner gets at least one project; the rest go to repeat clients
        owners_for_projects = list(company_vendors)
        rng.shuffle(owners_for_projects)
        owners_for_projects = owners_for_projects[:n_projects]
        repeat = company_vendors[: max(3, len(company_vendors) // 4)]
        while len(owners_for_projects) < n_projects:
            owners_for_projects.append(rng.choice(repeat))
        for p_index, owner in enumerate(owners_for_projects):
            state = (
                spec["states"][p_index % len(spec["states"])] if p_index < 12 else rng.choice(spec["states"])
            )
            city, zip_code = rng.choice(_CITIES[state])
            kind = rng.choice(_PROJECT_KINDS).replace("{n}", str(rng.randint(2, 9)))
            pname = f"{owner['name'].split()[0]} {kind}" if rng.random() < 0.5 else f"{city} {kind}"
            # start month: spread over the window, weighted towards the first half so long jobs fill it
            start_offset = int(rng.betavariate(1.2, 1.8) * (BILLING_MONTHS - 2))
            project_start = _add_months(first_month, start_offset)
            duration = rng.randint(12, 30)
            project_id = ids.take("project")
            project_number = f"{(project_start.year % 100):02d}-{p_index + 101:03d}"
            project = {
                "id": project_id,
                "company_id": company_id,
                "name": pname,
                "display_name": f"{project_number} - {pname}",
                "project_number": project_number,
                "active": True,
                "address": f"{rng.randint(10, 9900)} {rng.choice(_OWNER_WORDS)} Rd",
                "city": city,
                "state_code": state,
                "zip": zip_code,
                "country_code": "US",
                "county": None,
                "company": {"id": company_id, "name": spec["name"]},
                "start_date": project_start.isoformat(),
                "completion_date": _month_end(_add_months(project_start, duration - 1)).isoformat(),
                "stage": None,
                "total_value": None,
                "origin_id": None,
                "created_at": _ts(project_start - timedelta(days=rng.randint(20, 90)), rng),
            }
            projects.append(project)
            n_contracts = rng.choices([1, 2, 3], weights=[50, 35, 15])[0]
            last_touch = project_start
            project_complete = True
            for k in range(n_contracts):
                contract_owner = owner if (k == 0 or rng.random() < 0.7) else rng.choice(company_vendors)
                c_start = _add_months(project_start, 0 if k == 0 else rng.randint(1, 4))
                c_duration = max(6, duration - (0 if k == 0 else rng.randint(0, 8)))
                title = (
                    f"{pname} - Prime Contract" if n_contracts == 1 else f"{pname} - {_PACKAGES[k * 2 % 7]}"
                )
                contract, apps, touch = _build_contract(
                    rng,
                    ids,
                    anchor,
                    first_month,
                    project,
                    contract_owner,
                    contractor,
                    company_users[company_id],
                    k + 1,
                    title,
                    c_start,
                    c_duration,
                )
                prime_contracts.append(contract)
                for app in apps:
                    pending_apps.append((app, contract, spec["prefix"], str(company_id)))
                last_touch = max(last_touch, touch)
                if contract["status"] != "Complete":
                    project_complete = False
            if project_complete and rng.random() < 0.3:
                project["active"] = False
            project["stage"] = "Closeout" if project_complete else "Course of Construction"
            project["updated_at"] = _ts(min(anchor, last_touch), rng)

        # a couple of contracts still being negotiated (no billing yet)
        for _ in range(scale):
            project = rng.choice([p for p in projects if p["company_id"] == company_id and p["active"]])
            owner_id = next(c["vendor"]["id"] for c in prime_contracts if c["project_id"] == project["id"])
            owner = next(v for v in company_vendors if v["id"] == owner_id)
            draft_contract, _apps, _touch = _build_contract(
                rng,
                ids,
                anchor,
                first_month,
                project,
                owner,
                contractor,
                company_users[company_id],
                9,
                f"{project['name']} - Change of Scope",
                _add_months(anchor.replace(day=1), 1),
                8,
            )
            draft_contract["status"] = rng.choice(["Draft", "Out For Signature"])
            draft_contract["executed"] = False
            prime_contracts.append(draft_contract)

    # invoice numbers run per company in billing order, as an accounting system would issue them
    pending_apps.sort(key=lambda item: (item[0]["billing_date"], item[0]["id"]))
    for app, _contract, prefix, company_key in pending_apps:
        company_id = int(company_key)
        app["invoice_number"] = f"{prefix}-{invoice_seq[company_id]}"
        invoice_seq[company_id] += 1
        pay_apps.append(app)
    pay_apps.sort(key=lambda a: a["id"])
    _build_payments(rng, ids, anchor, projects, prime_contracts, pay_apps, vendor_profile, payments, scale)
    payments.sort(key=lambda p: p["id"])

    return {
        "companies": companies,
        "projects": projects,
        "vendors": vendors,
        "users": users,
        "prime_contracts": prime_contracts,
        "payment_applications": pay_apps,
        "contract_payments": payments,
        "custom_field_definitions": custom_field_definitions,
        "generic_tools": generic_tools,
        "oauth_clients": [
            {
                "client_id": "demo-app-client",
                "client_secret": "demo-app-secret",
                "redirect_uris": ["http://localhost:5100/oauth/callback"],
                "company_ids": [COMPANY_A, COMPANY_B],
                "kind": "user",
                "name": "Collections (demo)",
            },
            {
                "client_id": "demo-service-account",
                "client_secret": "demo-service-secret",
                "redirect_uris": [],
                "company_ids": [COMPANY_A, COMPANY_B],
                "kind": "service_account",
                "name": "Collections (DMSA)",
            },
        ],
    }


def _build_contract(
    rng: random.Random,
    ids: _Ids,
    anchor: date,
    first_month: date,
    project: dict[str, Any],
    owner: dict[str, Any],
    contractor: dict[str, Any],
    staff: list[dict[str, Any]],
    number: int,
    title: str,
    start: date,
    duration: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], date]:
    """One prime contract and its monthly payment applications (payments are added later)."""
    state = project["state_code"]
    contract_id = ids.take("contract")
    original = Decimal(rng.randrange(350_000, 18_000_000, 2_500))
    retainage = (
        Decimal("5.0")
        if state == "CA" and rng.random() < 0.7
        else Decimal(rng.choice(["5.0", "7.5", "10.0", "10.0"]))
    )
    terms = rng.choice(PAYMENT_TERMS)
    anchor_month = anchor.replace(day=1)
    end_month = _add_months(start, duration - 1)
    complete = end_month < _add_months(anchor_month, -1)
    executed_on = start - timedelta(days=rng.randint(10, 45))
    architect = staff[1]

    apps: list[dict[str, Any]] = []
    co_total = ZERO
    prev_completed = ZERO
    prev_earned_less = ZERO
    month = start
    k = 0
    last_touch = executed_on
    noise = [rng.uniform(-0.03, 0.03) for _ in range(duration)]
    while month <= min(end_month, anchor_month) and month >= first_month:
        k += 1
        if rng.random() < 0.12 and k > 1:
            sign = -1 if rng.random() < 0.1 else 1
            co_total += sign * (original * Decimal(str(round(rng.uniform(0.004, 0.035), 4)))).quantize(CENT)
        sum_to_date = original + co_total
        fraction = 1.0 if k == duration else min(0.995, max(0.0, _s_curve(k / duration) + noise[k - 1]))
        completed = (sum_to_date * Decimal(str(fraction))).quantize(CENT, rounding=ROUND_HALF_UP)
        floor = prev_completed + (sum_to_date * Decimal("0.006")).quantize(CENT)  # every month bills some work
        completed = min(max(completed, floor), sum_to_date)
        app = _pay_app(
            ids,
            project,
            contract_id,
            title,
            owner,
            k,
            month,
            sum_to_date,
            original,
            co_total,
            completed,
            retainage,
            prev_completed,
            prev_earned_less,
            rng,
        )
        apps.append(app)
        prev_completed = completed
        prev_earned_less = Decimal(app["g702"]["total_earned_less_retainage"])
        month = _add_months(month, 1)

    substantial = None
    if complete:
        substantial = _month_end(end_month) - timedelta(days=rng.randint(0, 10))
        # retainage release: billed 1-3 months after completion, unless still held back
        release_month = _add_months(end_month, rng.randint(1, 3))
        if release_month <= anchor_month and rng.random() < 0.75 and apps:
            k += 1
            app = _pay_app(
                ids,
                project,
                contract_id,
                title,
                owner,
                k,
                release_month,
                original + co_total,
                original,
                co_total,
                prev_completed,
                ZERO,
                prev_completed,
                prev_earned_less,
                rng,
            )
            app["is_retainage_release"] = True
            apps.append(app)

    # statuses: history is approved; the newest application of a running job may still be in the workflow
    for i, app in enumerate(apps):
        billing = date.fromisoformat(app["billing_date"])
        status = "approved"
        if i == len(apps) - 1 and billing >= _add_months(anchor_month, -1):
            status = rng.choices(
                ["approved", "under_review", "draft", "revise_and_resubmit"], weights=[40, 25, 18, 17]
            )[0]
        app["status"] = status
        created = billing - timedelta(days=rng.randint(0, 3))
        updated = min(anchor, billing + timedelta(days=rng.randint(1, 12) if status == "approved" else 0))
        app["created_at"] = _ts(created, rng)
        app["updated_at"] = _ts(max(updated, created), rng)
        if app["updated_at"] < app["created_at"]:
            app["updated_at"] = app["created_at"]
        last_touch = max(last_touch, updated)

    change_orders = co_total
    pending = (
        (original * Decimal(str(round(rng.uniform(0.002, 0.02), 4)))).quantize(CENT)
        if not complete and rng.random() < 0.4
        else ZERO
    )
    contract: dict[str, Any] = {
        "id": contract_id,
        "project_id": project["id"],
        "number": str(number),
        "title": title,
        "description": f"Prime contract with {owner['name']} for {title}.",
        "status": "Complete" if complete else "Approved",
        "executed": True,
        "private": False,
        "grand_total": money(original),
        "retainage_percent": str(retainage),
        "accounting_method": "amount",
        "approved_change_orders": money(change_orders),
        "vendor": {"id": owner["id"], "name": owner["name"]},
        "contractor": dict(contractor),
        "architect": {"id": architect["id"], "login": architect["login"], "name": architect["name"]},
        "contract_date": executed_on.isoformat(),
        "execution_date": executed_on.isoformat(),
        "signed_contract_received_date": (executed_on + timedelta(days=3)).isoformat(),
        "contract_start_date": start.isoformat(),
        "contract_estimated_completion_date": _month_end(end_month).isoformat(),
        "substantial_completion_date": substantial.isoformat() if substantial else None,
        "actual_completion_date": substantial.isoformat() if substantial else None,
        "contract_termination_date": None,
        "letter_of_intent_date": None,
        "approval_letter_date": None,
        "issued_on_date": executed_on.isoformat(),
        "returned_date": None,
        "inclusions": "",
        "exclusions": "",
        "origin_id": None,
        "origin_data": None,
        "origin_code": None,
        "deleted_at": None,
        "created_at": _ts(executed_on, rng),
        "updated_at": _ts(min(anchor, last_touch), rng),
        # show-only fields
        "payment_terms": terms,
        "allow_payment_applications": True,
        "allow_payments": True,
        "pending_change_orders_amount": money(pending),
        "custom_fields": {},
    }
    return contract, apps, last_touch


def _pay_app(
    ids: _Ids,
    project: dict[str, Any],
    contract_id: int,
    title: str,
    owner: dict[str, Any],
    number: int,
    month: date,
    sum_to_date: Decimal,
    original: Decimal,
    co_total: Decimal,
    completed: Decimal,
    retainage: Decimal,
    prev_completed: Decimal,
    prev_earned_less: Decimal,
    rng: random.Random,
) -> dict[str, Any]:
    total_retainage = (completed * retainage / 100).quantize(CENT, rounding=ROUND_HALF_UP)
    earned_less = completed - total_retainage
    current_due = earned_less - prev_earned_less
    period_end = _month_end(month)
    billing = period_end - timedelta(days=rng.randint(0, 6))
    percent = (completed / sum_to_date * 100).quantize(CENT) if sum_to_date else ZERO
    return {
        "id": ids.take("pay_app"),
        "project_id": project["id"],
        "number": number,
        "invoice_number": "",
        "billing_date": billing.isoformat(),
        "period_start": month.isoformat(),
        "period_end": period_end.isoformat(),
        "period_id": 9_500_000 + month.year * 12 + month.month,
        "billing_period": {"start_date": month.isoformat(), "end_date": period_end.isoformat()},
        "status": "approved",
        "percent_complete": str(percent),
        "total_amount_accrued_this_period": money(completed - prev_completed),
        "formatted_contract_company": owner["name"],
        "contract": {"id": contract_id, "type": "PrimeContract", "title": title},
        "currency_configuration": {"currency_iso_code": "USD", "currency_symbol": "$"},
        "g702": {
            "original_contract_sum": money(original),
            "net_change_by_change_orders": money(co_total),
            "contract_sum_to_date": money(sum_to_date),
            "total_completed_and_stored_to_date": money(completed),
            "completed_work_retainage_percent": str(retainage),
            "completed_work_retainage_amount": money(total_retainage),
            "stored_materials_retainage_percent": str(retainage),
            "stored_materials_retainage_amount": "0.00",
            "total_retainage": money(total_retainage),
            "total_earned_less_retainage": money(earned_less),
            "less_previous_certificates_for_payment": money(prev_earned_less),
            "current_payment_due": money(current_due),
            "balance_to_finish_including_retainage": money(sum_to_date - earned_less),
            "tax_applicable_to_this_payment": "0.00",
        },
    }


def _build_payments(
    rng: random.Random,
    ids: _Ids,
    anchor: date,
    projects: list[dict[str, Any]],
    contracts: list[dict[str, Any]],
    apps: list[dict[str, Any]],
    vendor_profile: dict[int, str],
    payments: list[dict[str, Any]],
    scale: int,
) -> None:
    """Payments received up to the anchor, by the owner's payment habit (see :data:`PROFILES`).

    Per company, on top of each owner's habit: :data:`CHRONIC_PER_COMPANY` chronic slow payers among the owners
    still being billed, 1–3 "disputes in waiting" (a progress invoice 4–14 months old that was never paid), and one
    overpayment (an owner who paid a pay app gross of retainage on a job that is otherwise paid off: an unapplied
    credit).
    """
    company_of = {p["id"]: p["company_id"] for p in projects}
    # who is chronic, which invoices are disputed, who overpaid: drawn from their own stream, so tuning the
    # payment timings below does not reshuffle them
    choose = random.Random(rng.getrandbits(64))
    by_contract: dict[int, list[dict[str, Any]]] = {}
    for app in apps:
        by_contract.setdefault(app["contract"]["id"], []).append(app)
    for contract_apps in by_contract.values():
        contract_apps.sort(key=lambda a: a["number"])

    profile_of = dict(vendor_profile)
    disputed: set[int] = set()
    recent = anchor - timedelta(days=120)
    for company_id in sorted(set(company_of.values())):
        company_contracts = [c for c in contracts if company_of[c["project_id"]] == company_id]
        billing_owners = sorted(
            {
                c["vendor"]["id"]
                for c in company_contracts
                if any(
                    a["status"] == "approved" and date.fromisoformat(a["billing_date"]) >= recent
                    for a in by_contract.get(c["id"], [])
                )
            }
        )
        for vendor_id in choose.sample(billing_owners, min(len(billing_owners), CHRONIC_PER_COMPANY * scale)):
            profile_of[vendor_id] = "chronic"
        candidates = [
            a
            for c in company_contracts
            if profile_of[c["vendor"]["id"]] != "chronic"
            for a in by_contract.get(c["id"], [])
            if a["status"] == "approved"
            and not a.get("is_retainage_release")
            and 120 <= (anchor - date.fromisoformat(a["billing_date"])).days <= 430
            and Decimal("150000") <= Decimal(a["g702"]["current_payment_due"]) <= Decimal("900000")
        ]
        candidates.sort(key=lambda a: a["id"])
        for app in choose.sample(candidates, min(len(candidates), choose.randint(1, 3) * scale)):
            disputed.add(app["id"])

    paid_off: list[tuple[dict[str, Any], dict[str, Any], date]] = []  # (contract, last progress app, paid on)
    for contract in contracts:
        contract_apps = by_contract.get(contract["id"], [])
        profile = profile_of[contract["vendor"]["id"]]
        days = terms_days(contract["payment_terms"])
        has_dispute = any(a["id"] in disputed for a in contract_apps)
        seq = 0
        all_paid = True
        last_progress: tuple[dict[str, Any], date] | None = None
        carry: list[tuple[dict[str, Any], Decimal]] = []  # steady payers now and then pay two invoices at once
        for app in contract_apps:
            due = Decimal(app["g702"]["current_payment_due"])
            if app["status"] != "approved" or due <= 0:
                continue
            billing = date.fromisoformat(app["billing_date"])
            if app["id"] in disputed:
                all_paid = False
                continue
            if app.get("is_retainage_release"):
                plan = [(days + rng.randint(-5, 40), due)]
            elif profile == "prompt":  # on or about the due date
                plan = [(max(days + rng.randint(-10, 4), rng.randint(8, 16)), due)]
            elif profile == "steady":  # within a month after the due date
                plan = [(max(days + rng.randint(-4, 22), rng.randint(18, 28)), due)]
            elif profile == "partial":  # most of it on time, the rest a month or two later (now and then never)
                first = (due * Decimal(str(round(rng.uniform(0.6, 0.92), 2)))).quantize(CENT)
                plan = [(max(days + rng.randint(-3, 15), 14), first)]
                if rng.random() < 0.96:
                    plan.append((days + rng.randint(25, 60), due - first))
                else:
                    all_paid = False
            else:  # chronic: one to three months late, now and then much later
                late = rng.randint(110, 200) if rng.random() < 0.1 else rng.randint(40, 100)
                plan = [(days + late, due)]
            if profile == "steady" and not carry and not has_dispute and rng.random() < 0.1:
                carry.append((app, due))
                continue
            for offset, amount in plan:
                paid_on = billing + timedelta(days=max(0, offset))
                if paid_on > anchor:
                    all_paid = False
                    continue
                seq += 1
                lump = bool(carry) and offset == plan[0][0]
                if lump:
                    amount = amount + sum(a for _, a in carry)
                payments.append(
                    _payment(
                        rng,
                        ids,
                        contract,
                        app,
                        paid_on,
                        amount,
                        seq,
                        anchor,
                        lump_of=[a for a, _ in carry] if lump else None,
                        # keep the disputed invoice the old open one: later cash names its invoice
                        matched=has_dispute,
                    )
                )
                if lump:
                    carry = []
                if not app.get("is_retainage_release"):
                    last_progress = (app, paid_on)
        if carry:
            all_paid = False
        if contract["status"] == "Complete" and all_paid and last_progress is not None:
            paid_off.append((contract, *last_progress))

    for company_id in sorted(set(company_of.values())):
        choices = [item for item in paid_off if company_of[item[0]["project_id"]] == company_id]
        if not choices:
            continue
        contract, app, paid_on = choose.choice(choices)
        g702 = app["g702"]
        period_retainage = Decimal(g702["total_completed_and_stored_to_date"]) - Decimal(
            g702["total_earned_less_retainage"]
        )
        previous = next(
            (
                a
                for a in reversed(by_contract[contract["id"]])
                if a["number"] < app["number"] and a["status"] == "approved"
            ),
            None,
        )
        if previous is not None:
            period_retainage -= Decimal(previous["g702"]["total_retainage"])
        if period_retainage <= 0:
            continue
        seq = sum(1 for p in payments if p["contract_id"] == contract["id"]) + 1
        extra = _payment(rng, ids, contract, app, paid_on + timedelta(days=2), period_retainage, seq, anchor)
        extra.update(
            invoice_number=app["invoice_number"],
            draw_request_number=app["number"],
            notes=f"Paid pay app #{app['number']} gross of retainage (overpayment)",
        )
        payments.append(extra)
    for app in apps:
        app.pop("is_retainage_release", None)


def _payment(
    rng: random.Random,
    ids: _Ids,
    contract: dict[str, Any],
    app: dict[str, Any],
    paid_on: date,
    amount: Decimal,
    seq: int,
    anchor: date,
    lump_of: list[dict[str, Any]] | None = None,
    matched: bool = False,
) -> dict[str, Any]:
    method = rng.choices(["check", "electronic", "credit_card"], weights=[55, 42, 3])[0]
    roll = rng.random()
    invoice_number: str | None = app["invoice_number"]
    draw: int | None = app["number"]
    notes = ""
    if lump_of:
        invoice_number, draw = None, None
        numbers = ", ".join(f"#{a['number']}" for a in [*lump_of, app])
        notes = f"One payment for pay apps {numbers}"
    elif matched:
        draw = None if roll < 0.2 else draw
    elif roll < 0.12:
        invoice_number = None
    elif roll < 0.20:
        draw = None
    elif roll < 0.30:
        invoice_number, draw = None, None
        notes = rng.choice(
            ["ACH received - no remittance detail", "Wire from owner", "Deposit, see bank stmt"]
        )
    settled = paid_on + timedelta(days=rng.randint(0, 4) if method == "check" else 1)
    recent = (anchor - paid_on).days < 5
    return {
        "id": ids.take("payment"),
        "project_id": contract["project_id"],
        "contract_id": contract["id"],
        "amount": money(amount),
        "date": paid_on.isoformat(),
        "payment_method": method,
        "check_number": str(rng.randint(1000, 99999)) if method == "check" else None,
        "draw_request_number": draw,
        "invoice_number": invoice_number,
        "notes": notes,
        "payment_number": str(seq),
        "status": "pending" if recent and rng.random() < 0.5 else "approved",
        "date_payment_settled": None if recent else min(settled, anchor).isoformat(),
        "created_at": _ts(paid_on, rng),
        "updated_at": _ts(min(anchor, paid_on + timedelta(days=1)), rng),
    }
