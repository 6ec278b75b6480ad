"""The demo agency's cast and catalogue: people, disciplines, task templates, clients, tags.

Static data only; `agency.py` turns it into a workspace.
"""

from __future__ import annotations

from typing import Final

from billabled.models.membership import Role

PEOPLE: Final = (
    ("Priya Raman", Role.ADMIN, "ops", 40, 17500, 8000, 0.1),
    ("Marcus Bell", Role.MANAGER, "pm", 40, 17500, 7500, 0.2),
    ("Sofia Alvarez", Role.MANAGER, "pm", 40, 16500, 7000, 0.1),
    ("Ethan Brooks", Role.MEMBER, "dev", 40, 15000, 6000, 0.8),
    ("Hannah Kim", Role.MEMBER, "design", 40, 14500, 5800, 0.1),
    ("Diego Santos", Role.MEMBER, "dev", 40, 15000, 6200, 0.7),
    ("Grace Okafor", Role.MEMBER, "content", 32, 13500, 5200, 0.1),
    ("Liam O'Connor", Role.MEMBER, "design", 40, 14000, 5500, 0.3),
    ("Mei Tanaka", Role.MEMBER, "seo", 24, 12500, 4800, 0.1),
    ("Noah Fischer", Role.MEMBER, "dev", 40, 13000, 5000, 0.6),
    ("Zara Ahmed", Role.MEMBER, "strategy", 32, 14000, 5400, 0.1),
)
LATE_JOINER: Final = "Noah Fischer"  # joined six weeks ago: no time before that
OWNER_HOURS: Final = 32  # the rest of the owner's week goes to running the agency
OWNER_RATES: Final = (22500, 9500)  # bill, cost

# Which disciplines work on which kind of project (managers run client projects of any kind).
DISCIPLINES: Final = {
    "website": ("design", "dev"),
    "brand": ("design", "strategy"),
    "campaign": ("content", "design", "strategy"),
    "seo": ("seo", "content"),
    "care": ("dev", "design"),
    "social": ("content", "design"),
    "app": ("design", "dev", "strategy"),
    "analytics": ("dev", "seo"),
}

# Task names per kind; (name, billable) where False marks internal work on a client project.
TASKS: Final[dict[str, tuple[tuple[str, bool | None], ...]]] = {
    "website": (
        ("Discovery & workshops", None), ("Information architecture", None),
        ("Wireframes", None), ("Visual design", None), ("Front-end build", None),
        ("QA & accessibility", None), ("Launch", None), ("Internal review", False),
    ),
    "brand": (
        ("Research", None), ("Moodboards", None), ("Logo concepts", None),
        ("Brand guidelines", None), ("Asset production", None), ("Internal review", False),
    ),
    "campaign": (
        ("Strategy", None), ("Creative concepts", None), ("Copywriting", None),
        ("Ad production", None), ("Media setup", None), ("Reporting", None),
    ),
    "seo": (
        ("Technical audit", None), ("Keyword research", None), ("On-page optimisation", None),
        ("Content briefs", None), ("Monthly report", None),
    ),
    "care": (
        ("Support requests", None), ("Content updates", None),
        ("Plugin & security updates", None), ("Small enhancements", None),
        ("Monthly report", None),
    ),
    "social": (
        ("Content calendar", None), ("Post design", None), ("Copywriting", None),
        ("Community management", None), ("Monthly report", None),
    ),
    "app": (
        ("Discovery", None), ("User flows", None), ("UI design", None), ("Prototype", None),
        ("Usability testing", None), ("Design handoff", None), ("Internal review", False),
    ),
    "analytics": (
        ("Tracking plan", None), ("Tag manager setup", None), ("Dashboards", None),
        ("Training", None),
    ),
}  # fmt: skip

SUBTASKS: Final[dict[str, tuple[tuple[str, bool | None], ...]]] = {
    "Visual design": (("Homepage", None), ("Inner pages", None), ("Mobile layouts", None)),
    "Front-end build": (
        ("Component library", None), ("Page templates", None), ("Performance pass", None),
    ),
    "Launch": (("Go-live checklist", None), ("Internal walkthrough", False)),
    "Logo concepts": (("First round", None), ("Refinements", None)),
    "Brand guidelines": (("Typography & colour", None), ("Usage rules", None)),
    "Creative concepts": (("Concept A", None), ("Concept B", None)),
    "Ad production": (("Display banners", None), ("Social ads", None), ("Video cut-downs", None)),
    "UI design": (("Onboarding", None), ("Dashboard", None), ("Settings", None)),
    "Content updates": (("Blog posts", None), ("Landing page edits", None)),
    "Post design": (("Instagram", None), ("LinkedIn", None)),
    "Dashboards": (("Executive dashboard", None), ("Channel dashboard", None)),
}  # fmt: skip

# Internal projects: name, tasks, weight (how much of a normal day goes to it).
INTERNAL: Final = (
    ("Admin & operations", ("Timesheets & admin", "Invoicing", "IT & tools"), 0.25),
    ("Team meetings", ("Weekly all-hands", "1:1s", "Retrospectives"), 0.35),
    ("Business development", ("Proposals", "Pitch meetings", "Case studies"), 0.2),
    ("Training & learning", ("Courses", "Conference talks", "Lunch & learn"), 0.15),
    ("Northwind website", ("Portfolio updates", "Blog posts", "Site maintenance"), 0.1),
    ("Intranet migration", ("Content audit", "Migration"), 0.15),  # archived
)
INTERNAL_NOTES: Final = {
    "Timesheets & admin": "Timesheets and expenses", "Invoicing": "Month-end invoicing",
    "IT & tools": "Laptop setup and tool licences", "Weekly all-hands": "Weekly all-hands",
    "1:1s": "1:1 with my manager", "Retrospectives": "Sprint retrospective",
    "Proposals": "Proposal for a prospect", "Pitch meetings": "Pitch meeting and prep",
    "Case studies": "Case study write-up", "Courses": "Online course",
    "Conference talks": "Conference talk prep", "Lunch & learn": "Lunch & learn session",
    "Portfolio updates": "New portfolio pieces", "Blog posts": "Blog post draft",
    "Site maintenance": "Website updates", "Content audit": "Intranet content audit",
    "Migration": "Moving pages to the new intranet",
}  # fmt: skip
NOTES: Final = (
    "{task}", "{task}: first pass", "{task}: revisions after client feedback",
    "{task} working session", "Call with {client} about {task_l}", "{task}: internal review",
    "Continued {task_l}", "{task}: final tweaks", "{task} and follow-up emails",
)  # fmt: skip
SCHEDULE_NOTES: Final = ("Client workshop", "Deadline on Friday", "Review with the client", None)

# Tag name, color; which tags each kind of project carries.
TAGS: Final = (
    ("Design", "#7c3aed"), ("Development", "#2563eb"), ("Strategy", "#0891b2"),
    ("Content", "#16a34a"), ("SEO", "#ca8a04"), ("Paid media", "#ea580c"),
    ("Maintenance", "#64748b"), ("Internal", "#475569"), ("Urgent", "#dc2626"),
    ("Rework", "#f59e0b"),
)  # fmt: skip
KIND_TAGS: Final = {
    "website": ("Design", "Development"), "brand": ("Design", "Strategy"),
    "campaign": ("Paid media", "Content"), "seo": ("SEO", "Content"),
    "care": ("Maintenance", "Development"), "social": ("Content",),
    "app": ("Design", "Strategy"), "analytics": ("Development",), "internal": ("Internal",),
}  # fmt: skip

# Clients: name, default hourly rate, archived, projects as (name, kind, billing code).
# Billing codes: hourly (with a project rate), hourly-open (no project rate: the client's or the
# member's applies), fixed, retainer-under|near|over, pitch (non-billable), and "-done" for
# projects finished (archived) during the history.
CLIENTS: Final = (
    ("Acme Outdoor Co.", 15000, False, (
        ("Website redesign", "website", "fixed"),
        ("SEO retainer", "seo", "retainer-near"),
        ("Spring campaign", "campaign", "hourly"))),
    ("Bluebird Bakery", None, False, (
        ("Website care plan", "care", "retainer-under"),
        ("Menu & packaging design", "brand", "hourly-open"))),
    ("Cobalt Financial Group", 18000, False, (
        ("Investor portal UX", "app", "fixed"),
        ("Annual report design", "brand", "fixed-done"),
        ("Marketing retainer", "campaign", "retainer-over"))),
    ("Driftwood Hotels", 16000, False, (
        ("Booking site improvements", "website", "hourly"),
        ("Social media retainer", "social", "retainer-near"))),
    ("Evergreen Health Partners", None, False, (
        ("Patient portal redesign", "app", "hourly"),
        ("Analytics setup", "analytics", "hourly-open"),
        ("Rebrand pitch", "brand", "pitch"))),
    ("Foxglove Botanicals", 14000, False, (
        ("Shopify build", "website", "fixed"),
        ("Email campaigns", "campaign", "hourly-open"))),
    ("Granite Peak Capital", 19500, False, (
        ("Brand identity", "brand", "fixed"),
        ("Website care plan", "care", "retainer-under"))),
    ("Harbor & Vine Wines", None, False, (
        ("Wine club campaign", "campaign", "hourly"),
        ("Social media retainer", "social", "retainer-over"))),
    ("Ironclad Fitness", 14500, False, (
        ("Member app design", "app", "fixed"),
        ("Landing pages", "website", "hourly-open"))),
    ("Juniper Schools Foundation", 12000, False, (
        ("Donor campaign", "campaign", "fixed-done"),
        ("Website care plan", "care", "retainer-near"))),
    ("Kestrel Aerospace", 17500, False, (
        ("Product launch campaign", "campaign", "fixed"),
        ("Trade show graphics", "brand", "hourly"))),
    ("Lumen Solar", None, False, (
        ("Lead-gen website", "website", "hourly"),
        ("SEO retainer", "seo", "retainer-under"))),
    ("Maple Street Dental", 13500, False, (
        ("Website refresh", "website", "fixed-done"),
        ("Local SEO", "seo", "hourly-open"))),
    ("Nimbus Cloud Software", 17000, False, (
        ("Product marketing retainer", "campaign", "retainer-over"),
        ("Docs site build", "website", "hourly"),
        ("Dashboard UX audit", "app", "fixed"))),
    ("Orchard Lane Farms", None, False, (
        ("Packaging design", "brand", "fixed"),
        ("Farm shop website", "website", "hourly"))),
    ("Pioneer Credit Union", 15500, False, (
        ("Accessibility remediation", "website", "hourly"),
        ("Analytics & reporting retainer", "analytics", "retainer-near"))),
    ("Quarry Architecture", 16000, False, (
        ("Portfolio website", "website", "fixed"),
        ("Brand refresh", "brand", "hourly-open"))),
    ("Redwood Legal LLP", 20000, False, (
        ("Website care plan", "care", "retainer-near"),
        ("Thought leadership content", "campaign", "hourly"))),
    ("Saltwater Surf Co.", None, False, (
        ("Summer campaign", "campaign", "fixed-done"),
        ("Online store support", "care", "hourly-open"))),
    ("Tidewater Museum", 12500, False, (
        ("Exhibition microsite", "website", "fixed"),
        ("Membership campaign", "campaign", "hourly"))),
    ("Urban Roots Coffee", 13000, False, (
        ("Social media retainer", "social", "retainer-under"),
        ("Loyalty app concept", "app", "hourly-open"))),
    ("Vantage Realty", 15000, False, (
        ("Listings site rebuild", "website", "hourly"),
        ("Paid search management", "campaign", "retainer-over"))),
    ("Willow & Wren Interiors", None, True, (
        ("Lookbook design", "brand", "fixed-done"),)),
    ("Yellowstone Outfitters", 14000, True, (
        ("Catalogue website", "website", "hourly-done"),
        ("Winter campaign", "campaign", "fixed-done"))),
)  # fmt: skip
INTERNAL_CLIENT: Final = "Northwind Creative (internal)"
STREETS: Final = (
    "Main Street", "Oak Avenue", "Harbor Road", "Market Street", "Elm Street", "Mill Lane",
    "Broadway", "Cedar Court", "Riverside Drive", "Pine Street", "Union Square", "Maple Avenue",
)  # fmt: skip
CITIES: Final = (
    ("Portland", "ME", "04101"), ("Boston", "MA", "02110"), ("Brooklyn", "NY", "11201"),
    ("Providence", "RI", "02903"), ("Burlington", "VT", "05401"), ("Hartford", "CT", "06103"),
    ("Philadelphia", "PA", "19106"), ("Baltimore", "MD", "21202"),
)  # fmt: skip
# Retainer use over a month, as a share of the included hours (the current month ends there).
RETAINER_USE: Final = {"under": 0.5, "near": 0.94, "over": 1.27}
