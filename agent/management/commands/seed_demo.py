"""Create the demo: a small shop in SQLite, a demo user, and a connection to it.

Deterministic (a fixed random seed), so every machine gets the same data and the
README's example answers hold. Safe to run again: existing rows are kept.
"""

from __future__ import annotations

import random
import secrets
import sqlite3
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import User
from connections.models import DatabaseConnection
from connections.services import session_connect, session_get_or_create_active

DEMO_FILE = "demo_shop.sqlite3"
DEMO_EMAIL = "demo@sqlagent.local"

COUNTRIES = [
    ("Germany", ["Berlin", "Hamburg", "Munich", "Cologne"]),
    ("France", ["Paris", "Lyon", "Marseille"]),
    ("Spain", ["Madrid", "Barcelona", "Valencia"]),
    ("Italy", ["Rome", "Milan", "Turin"]),
    ("Netherlands", ["Amsterdam", "Rotterdam"]),
    ("United Kingdom", ["London", "Manchester", "Leeds"]),
    ("United States", ["New York", "Chicago", "Austin", "Seattle"]),
    ("Canada", ["Toronto", "Vancouver"]),
    ("Brazil", ["São Paulo", "Rio de Janeiro"]),
    ("Japan", ["Tokyo", "Osaka"]),
]
FIRST = [
    "Ada",
    "Bruno",
    "Chen",
    "Dana",
    "Emil",
    "Fatima",
    "Gustav",
    "Hana",
    "Ivan",
    "Julia",
    "Kofi",
    "Lena",
    "Mateo",
    "Nora",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wei",
    "Ximena",
    "Yusuf",
    "Zoe",
]
LAST = [
    "Schmidt",
    "Dubois",
    "García",
    "Rossi",
    "de Vries",
    "Smith",
    "Tanaka",
    "Silva",
    "Novak",
    "Okafor",
    "Larsen",
    "Kowalski",
    "Nguyen",
    "Müller",
    "Brown",
]
CATEGORIES = {
    "Books": ["Atlas", "Cookbook", "Novel", "Field Guide", "Poetry Collection"],
    "Electronics": [
        "Headphones",
        "USB-C Charger",
        "E-Reader",
        "Smart Speaker",
        "Webcam",
    ],
    "Home": ["Teapot", "Desk Lamp", "Throw Blanket", "Plant Pot", "Wall Clock"],
    "Outdoor": ["Tent", "Water Bottle", "Hiking Poles", "Sleeping Bag", "Headlamp"],
    "Toys": ["Puzzle", "Building Blocks", "Kite", "Board Game", "Yo-yo"],
}
ADJECTIVES = ["Classic", "Deluxe", "Compact", "Eco", "Pro", "Mini"]
STATUSES = ["delivered"] * 8 + ["shipped", "cancelled"]

SCHEMA = """
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    country TEXT NOT NULL,
    city TEXT NOT NULL,
    signup_date DATE NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price NUMERIC(10, 2) NOT NULL,
    in_stock INTEGER NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    order_date DATE NOT NULL,
    status TEXT NOT NULL
);
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    unit_price NUMERIC(10, 2) NOT NULL
);
CREATE INDEX orders_customer ON orders(customer_id);
CREATE INDEX items_order ON order_items(order_id);
"""


def demo_database_build(path: Path, *, seed: int = 20261124) -> dict[str, int]:
    """Write the demo shop to `path` (replacing it) and return row counts."""
    rng = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    try:
        conn.executescript(SCHEMA)
        customers = []
        for customer_id in range(1, 301):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            country, cities = rng.choice(COUNTRIES)
            signup = date(2023, 1, 1) + timedelta(days=rng.randrange(0, 1000))
            email = f"{first}.{last}.{customer_id}@example.com".lower().replace(" ", "")
            customers.append(
                (
                    customer_id,
                    f"{first} {last}",
                    email,
                    country,
                    rng.choice(cities),
                    signup,
                )
            )
        conn.executemany("INSERT INTO customers VALUES (?, ?, ?, ?, ?, ?)", customers)
        products = []
        product_id = 0
        for category, nouns in CATEGORIES.items():
            for noun in nouns:
                for adjective in rng.sample(ADJECTIVES, 2):
                    product_id += 1
                    price = Decimal(rng.randrange(399, 24999)) / 100
                    products.append(
                        (
                            product_id,
                            f"{adjective} {noun}",
                            category,
                            str(price),
                            rng.randrange(0, 200),
                        )
                    )
        conn.executemany("INSERT INTO products VALUES (?, ?, ?, ?, ?)", products)
        orders, items = [], []
        item_id = 0
        for order_id in range(1, 1501):
            customer = rng.choice(customers)
            ordered = customer[5] + timedelta(days=rng.randrange(0, 600))
            orders.append((order_id, customer[0], ordered, rng.choice(STATUSES)))
            for product in rng.sample(products, rng.randrange(1, 5)):
                item_id += 1
                items.append(
                    (item_id, order_id, product[0], rng.randrange(1, 4), product[3])
                )
        conn.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", orders)
        conn.executemany("INSERT INTO order_items VALUES (?, ?, ?, ?, ?)", items)
        conn.commit()
    finally:
        conn.close()
    tmp.replace(path)
    return {
        "customers": len(customers),
        "products": len(products),
        "orders": len(orders),
        "order_items": len(items),
    }


class Command(BaseCommand):
    help = "Create the demo shop database, a demo user and a connection to it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="Give the existing demo user a new password and print it.",
        )
        parser.add_argument(
            "--rebuild", action="store_true", help="Rebuild the demo database file."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(settings.SQLITE_DATABASES_DIR) / DEMO_FILE
        if options["rebuild"] or not path.exists():
            counts = demo_database_build(path)
            summary = ", ".join(f"{n} {t}" for t, n in counts.items())
            self.stdout.write(f"Demo database {path}: {summary}.")
        else:
            self.stdout.write(f"Demo database {path} exists.")
        with transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            password = None
            if user is None:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(
                    email=DEMO_EMAIL, password=password, name="Demo User"
                )
            elif options["reset_password"]:
                password = secrets.token_urlsafe(12)
                user.set_password(password)
                user.save(update_fields=["password"])
            connection, created = DatabaseConnection.objects.get_or_create(
                owner=user,
                db_type="sqlite",  # the demo is a SQLite file it writes itself
                database_name=DEMO_FILE,
                defaults={"label": "Demo shop (SQLite)", "host": "", "port": 0},
            )
        if password:
            self.stdout.write(
                self.style.SUCCESS(f"Demo user: {DEMO_EMAIL}  password: {password}")
            )
        else:
            self.stdout.write(
                f"Demo user {DEMO_EMAIL} exists (run `python manage.py seed_demo "
                "--reset-password` for a new password)."
            )
        if created:
            self.stdout.write(f"Demo connection #{connection.pk} created.")
        # The README says: log in and ask. So the demo session starts connected.
        session = session_get_or_create_active(user=user)
        if session.db_connection_id is None:
            session_connect(session=session, connection=connection)
            self.stdout.write("Demo session connected to the demo shop.")
