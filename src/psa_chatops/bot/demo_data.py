"""Deterministic demo directory: German and English MSP customers, their people, assets and policies."""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta

from psa_chatops.core.directory import Asset, Contact, Customer, MaintenanceWindow, Role, Technician
from psa_chatops.core.priorities import Priority
from psa_chatops.core.routing import Category, RoutingRule
from psa_chatops.core.sla import BusinessCalendar, SlaPolicy, SlaTarget

SEED = 20261128
H = timedelta(hours=1)

POLICIES = (
    SlaPolicy(
        "standard",
        "Standard (Mo-Fr 8-17)",
        {
            Priority.CRITICAL: SlaTarget(0.5 * H, 4 * H),
            Priority.HIGH: SlaTarget(1 * H, 8 * H),
            Priority.MEDIUM: SlaTarget(4 * H, 24 * H),
            Priority.LOW: SlaTarget(8 * H, 40 * H),
        },
        frozenset({Priority.CRITICAL}),
    ),
    SlaPolicy(
        "premium",
        "Premium 24/7",
        {
            Priority.CRITICAL: SlaTarget(0.25 * H, 2 * H),
            Priority.HIGH: SlaTarget(0.5 * H, 4 * H),
            Priority.MEDIUM: SlaTarget(2 * H, 16 * H),
            Priority.LOW: SlaTarget(4 * H, 32 * H),
        },
        frozenset({Priority.CRITICAL, Priority.HIGH}),
    ),
)

_GERMAN_HOLIDAYS_2026 = frozenset(
    date.fromisoformat(d)
    for d in (
        "2026-01-01",
        "2026-04-03",
        "2026-04-06",
        "2026-05-01",
        "2026-05-14",
        "2026-05-25",
        "2026-10-03",
        "2026-12-25",
        "2026-12-26",
        "2027-01-01",
    )
)
_UK_HOLIDAYS_2026 = frozenset(
    date.fromisoformat(d)
    for d in (
        "2026-01-01",
        "2026-04-03",
        "2026-04-06",
        "2026-05-04",
        "2026-05-25",
        "2026-08-31",
        "2026-12-25",
        "2026-12-28",
        "2027-01-01",
    )
)
_WEEKDAYS_8_17 = tuple([((time(8), time(17)),)] * 5 + [(), ()])
_WEEKDAYS_9_1730 = tuple([((time(9), time(17, 30)),)] * 5 + [(), ()])

# (name, domain, locale, timezone)
CUSTOMERS = (
    ("Müller Maschinenbau GmbH", "mueller-mb.de", "de", "Europe/Berlin"),
    ("Bäckerei Schneider KG", "baeckerei-schneider.de", "de", "Europe/Berlin"),
    ("Steuerkanzlei Weber & Partner", "kanzlei-weber.de", "de", "Europe/Berlin"),
    ("Autohaus Fischer", "autohaus-fischer.de", "de", "Europe/Berlin"),
    ("Praxis Dr. Becker", "praxis-becker.de", "de", "Europe/Berlin"),
    ("Hofmann Logistik AG", "hofmann-logistik.de", "de", "Europe/Berlin"),
    ("Stadtwerke Lindenau", "sw-lindenau.de", "de", "Europe/Berlin"),
    ("Alpenblick Hotel GmbH", "alpenblick.at", "de", "Europe/Vienna"),
    ("Zürcher Treuhand AG", "zh-treuhand.ch", "de", "Europe/Zurich"),
    ("Wagner Elektrotechnik", "wagner-elektro.de", "de", "Europe/Berlin"),
    ("Schulz Immobilien", "schulz-immo.de", "de", "Europe/Berlin"),
    ("Koch & Söhne Bau", "koch-bau.de", "de", "Europe/Berlin"),
    ("Brightwater Solicitors LLP", "brightwater-law.co.uk", "en", "Europe/London"),
    ("Thames Valley Dental", "tvdental.co.uk", "en", "Europe/London"),
    ("Northwind Traders Ltd", "northwind.co.uk", "en", "Europe/London"),
    ("Harbour Freight Logistics", "harbourfreight.ie", "en", "Europe/Dublin"),
    ("Oakridge Accounting", "oakridge-accounting.com", "en", "America/New_York"),
    ("Pinecrest Veterinary Clinic", "pinecrest-vets.com", "en", "America/Chicago"),
    ("Summit Architects", "summit-arch.com", "en", "America/Denver"),
    ("Bluebell Nurseries", "bluebell-nurseries.co.uk", "en", "Europe/London"),
    ("Contoso Manufacturing", "contoso.example", "en", "Europe/London"),
    ("Fabrikam Retail GmbH", "fabrikam.example", "de", "Europe/Berlin"),
)

FIRST_NAMES_DE = (
    "Anna",
    "Jonas",
    "Lena",
    "Lukas",
    "Marie",
    "Felix",
    "Sophie",
    "Paul",
    "Laura",
    "Max",
    "Petra",
    "Jürgen",
)
FIRST_NAMES_EN = ("Olivia", "Jack", "Emily", "Harry", "Grace", "George", "Amelia", "Oscar", "Chloe", "James")
LAST_NAMES_DE = ("Schmidt", "Meyer", "Wolf", "Neumann", "Schwarz", "Zimmermann", "Braun", "Krüger", "Hartmann")
LAST_NAMES_EN = ("Smith", "Jones", "Taylor", "Brown", "Davies", "Evans", "Walsh", "Murphy", "Clarke")

TECHNICIANS = (
    Technician("t-admin", "Andrea Admin", "andrea.admin@msp.example", Role.ADMIN, None, "de"),
    Technician("t-dispatch", "Dirk Disponent", "dirk.dispatch@msp.example", Role.DISPATCHER, None, "de"),
    Technician("t-emma", "Emma Clarke", "emma.clarke@msp.example", Role.DISPATCHER, None, "en", "Europe/London"),
    Technician("t-jan", "Jan Keller", "jan.keller@msp.example", Role.TECHNICIAN, None, "de"),
    Technician("t-mia", "Mia Vogel", "mia.vogel@msp.example", Role.TECHNICIAN, None, "de"),
    Technician("t-tom", "Tom Baker", "tom.baker@msp.example", Role.TECHNICIAN, None, "en", "Europe/London"),
    Technician("t-noah", "Noah Berger", "noah.berger@msp.example", Role.TECHNICIAN, None, "de", "Europe/Vienna"),
    Technician(
        "t-ella",
        "Ella Reid",
        "ella.reid@msp.example",
        Role.TECHNICIAN,
        frozenset({"CUST-013", "CUST-014", "CUST-015", "CUST-020"}),
        "en",
        "Europe/London",
    ),
)

ASSET_KINDS = (
    ("WS-CLIENT", "workstation"),
    ("NB", "laptop"),
    ("SRV", "server"),
    ("FW", "firewall"),
    ("SW", "switch"),
    ("NAS", "storage"),
    ("PRN", "printer"),
)

ROUTING_RULES = (
    RoutingRule(0, "slack:C0DISPATCH", frozenset({Category.ESCALATION, Category.SLA}), dispatchers=True),
    RoutingRule(0, "slack:C0TICKETS", frozenset({Category.NEW, Category.ASSIGNMENT, Category.STATUS, Category.NOTE})),
    RoutingRule(
        0,
        "teams:19:psa-critical@thread.tacv2",
        frozenset({Category.NEW, Category.ESCALATION}),
        min_priority=Priority.HIGH,
    ),
    RoutingRule(0, "webhook:http://127.0.0.1:9/psa-events", frozenset(Category)),
)


def customers() -> list[Customer]:
    result = []
    for i, (name, domain, locale, tz) in enumerate(CUSTOMERS, start=1):
        is_german = locale == "de"
        calendar = BusinessCalendar(
            tz,
            _WEEKDAYS_8_17 if is_german else _WEEKDAYS_9_1730,
            _GERMAN_HOLIDAYS_2026 if is_german else _UK_HOLIDAYS_2026,
        )
        policy = "premium" if i % 4 == 0 else "standard"
        cid = "CUST-789" if i == 1 else f"CUST-{i:03d}"
        result.append(Customer(cid, name, (domain,), calendar, policy, locale))
    return result


def contacts(rng: random.Random, custs: list[Customer]) -> list[Contact]:
    result = []
    for c in custs:
        firsts, lasts = (FIRST_NAMES_DE, LAST_NAMES_DE) if c.locale == "de" else (FIRST_NAMES_EN, LAST_NAMES_EN)
        for n in range(3):
            first, last = rng.choice(firsts), rng.choice(lasts)
            email = f"{first}.{last}{n}@{c.email_domains[0]}".lower().replace("ü", "ue").replace("ö", "oe")
            result.append(Contact(f"{c.id}-P{n + 1}", c.id, f"{first} {last}", email, c.locale))
    return result


def assets(rng: random.Random, custs: list[Customer], total: int = 200) -> list[Asset]:
    result = []
    for i in range(total):
        customer = custs[i % len(custs)]
        prefix, kind = ASSET_KINDS[rng.randrange(len(ASSET_KINDS))]
        number = 1 + i // len(custs)
        name = "WS-CLIENT-042" if i == 0 else f"{prefix}-{customer.id[-3:]}-{number:03d}"
        host = f"{name.lower()}.{customer.email_domains[0].split('.')[0]}.local"
        result.append(Asset(name if i else "WS-CLIENT-042", customer.id, name, host, kind))
    return result


def maintenance_windows(now: datetime, custs: list[Customer], all_assets: list[Asset]) -> list[MaintenanceWindow]:
    first = custs[0]
    servers = tuple(a.id for a in all_assets if a.customer_id == first.id)[:3]
    saturday = (now + timedelta(days=(5 - now.weekday()) % 7 or 7)).replace(hour=20, minute=0, second=0, microsecond=0)
    return [
        MaintenanceWindow("MW-1", first.id, "Windows-Updates Server", saturday, saturday + 4 * H, servers),
        MaintenanceWindow("MW-2", custs[12].id, "Firewall firmware upgrade", saturday + 24 * H, saturday + 26 * H),
    ]


TICKET_TITLES = (
    ("Drucker im 2. OG druckt nicht", "Printer on 2nd floor not printing"),
    ("Outlook startet nicht", "Outlook will not start"),
    ("VPN-Verbindung bricht ab", "VPN keeps disconnecting"),
    ("Server {asset} antwortet nicht", "Server {asset} not responding"),
    ("Neuer Mitarbeiter: Konto anlegen", "New starter: create account"),
    ("Passwort zurücksetzen", "Password reset"),
    ("Backup-Job fehlgeschlagen", "Backup job failed"),
    ("Festplatte fast voll auf {asset}", "Disk almost full on {asset}"),
    ("WLAN im Besprechungsraum langsam", "Meeting room Wi-Fi slow"),
    ("Teams-Anrufe brechen ab", "Teams calls dropping"),
    ("Zertifikat läuft ab", "Certificate expiring"),
    ("Ransomware-Verdacht auf {asset}", "Suspected ransomware on {asset}"),
    ("Firewall-Regel für Lieferantenportal", "Firewall rule for supplier portal"),
    ("Monitor flackert", "Monitor flickering"),
    ("E-Mail-Versand an extern schlägt fehl", "Outbound e-mail failing"),
)
