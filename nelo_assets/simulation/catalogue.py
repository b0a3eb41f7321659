"""The product catalogue and its history: prices that change and products that get renamed.

Every change happens at absolute instants derived from the seed alone, so two simulations with
the same seed agree on a product's name and price at any moment, whatever windows they cover.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from itertools import accumulate

DAY_US = 86_400_000_000
CENT = Decimal("0.01")

# category: (subcategories, product nouns, price range in MXN, brands)
CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[int, int], tuple[str, ...]]] = {
    "Electrónica": (
        ("Audio", "Celulares", "Cómputo", "Accesorios"),
        (
            "Audífonos inalámbricos",
            "Bocina Bluetooth",
            "Cargador rápido",
            "Smartwatch",
            "Tableta",
            "Teclado mecánico",
            "Mouse ergonómico",
            "Power bank",
        ),
        (149, 8999),
        ("Sonara", "Voltia", "Nexo", "Kuántica"),
    ),
    "Hogar": (
        ("Cocina", "Decoración", "Limpieza"),
        (
            "Sartén antiadherente",
            "Juego de sábanas",
            "Lámpara de mesa",
            "Cafetera",
            "Licuadora",
            "Organizador",
            "Toallas de baño",
        ),
        (99, 3499),
        ("Casa Viva", "Hogarí", "Nido", "Terra"),
    ),
    "Belleza": (
        ("Cuidado de la piel", "Maquillaje", "Cabello"),
        (
            "Crema hidratante",
            "Protector solar",
            "Labial mate",
            "Shampoo",
            "Sérum facial",
            "Perfume",
        ),
        (79, 1899),
        ("Bella Luna", "Aurea", "Pétalo", "Lumière MX"),
    ),
    "Moda": (
        ("Mujer", "Hombre", "Niños"),
        ("Playera básica", "Jeans", "Tenis urbanos", "Chamarra", "Vestido", "Sudadera"),
        (149, 2499),
        ("Norte", "Alameda", "Urbano", "Selva"),
    ),
    "Deportes": (
        ("Fitness", "Ciclismo", "Fútbol"),
        ("Balón", "Tapete de yoga", "Mancuernas", "Botella térmica", "Casco", "Guantes"),
        (99, 4999),
        ("Atleta", "Cumbre", "Veloz"),
    ),
    "Juguetes": (
        ("Didácticos", "Muñecas", "Armables"),
        ("Bloques armables", "Rompecabezas", "Muñeca", "Carrito a control remoto", "Juego de mesa"),
        (99, 1999),
        ("Juguemos", "Pichón", "Kiwi"),
    ),
    "Supermercado": (
        ("Despensa", "Bebidas", "Snacks"),
        (
            "Café de Chiapas",
            "Aceite de oliva",
            "Galletas",
            "Agua mineral",
            "Chocolate de mesa",
            "Salsa picante",
        ),
        (19, 399),
        ("Don Maíz", "La Abuela", "Sierra Alta"),
    ),
    "Mascotas": (
        ("Perros", "Gatos"),
        ("Croquetas", "Arena para gato", "Juguete para perro", "Cama para mascota"),
        (49, 1499),
        ("Huellitas", "Mishi", "Canino"),
    ),
}
# A re-categorisation moves a product to the store's newer taxonomy.
CATEGORY_MOVES = {
    "Electrónica": "Tecnología",
    "Hogar": "Casa y Cocina",
    "Belleza": "Cuidado Personal",
    "Moda": "Ropa y Calzado",
    "Deportes": "Deportes y Fitness",
    "Juguetes": "Bebés y Juguetes",
    "Supermercado": "Despensa",
    "Mascotas": "Mascotas y Accesorios",
}
NAME_SUFFIXES = ("Pro", "Plus", "2.0", "Edición Especial", "Max")
VARIANTS = {"Moda": ("CH", "M", "G", "XG"), "Electrónica": ("Negro", "Blanco", "Azul")}
RENAMED_SHARE = 0.2
REPRICED_SHARE = 0.4
DEALS_PER_DAY = 20


@dataclass(frozen=True, slots=True)
class Attributes:
    name: str
    brand: str
    category: str
    category2: str


@dataclass(frozen=True, slots=True)
class Product:
    number: int  # position in the catalogue
    item_id: str
    base: Attributes
    base_price: Decimal
    stock_out_rate: float
    variants: tuple[str, ...]
    rename_period_us: int  # 0: never renamed
    rename_phase_us: int
    price_period_us: int  # 0: price never changes
    price_phase_us: int


def _round_price(value: float) -> Decimal:
    whole = max(9, int(value))
    return Decimal(f"{whole}.{('00', '90', '99')[whole % 3]}")


def _epoch(t_us: int, period_us: int, phase_us: int) -> int:
    return (t_us - phase_us) // period_us if period_us else 0


class Catalogue:
    """A few hundred products with deterministic renames, price changes and daily deals."""

    def __init__(self, seed: int, count: int) -> None:
        self._seed = seed
        rng = random.Random(f"{seed}:catalogue")
        names = list(CATEGORIES)
        self.products: list[Product] = []
        self.by_category: dict[str, list[int]] = {name: [] for name in names}
        for number in range(count):
            category = names[number % len(names)]
            subcategories, nouns, (low, high), brands = CATEGORIES[category]
            brand = rng.choice(brands)
            model = f"{rng.choice('AKMRSTVXZ')}{rng.randint(1, 99) * 10}"
            renamed, repriced = rng.random() < RENAMED_SHARE, rng.random() < REPRICED_SHARE
            rename_period = rng.randint(5, 40) * DAY_US if renamed else 0
            price_period = rng.randint(4, 30) * DAY_US if repriced else 0
            self.products.append(
                Product(
                    number=number,
                    item_id=str(100_001 + number),
                    base=Attributes(
                        f"{rng.choice(nouns)} {brand} {model}",
                        brand,
                        category,
                        rng.choice(subcategories),
                    ),
                    base_price=_round_price(low * (high / low) ** rng.random()),
                    stock_out_rate=rng.choice((0.0, 0.0, 0.02, 0.05, 0.12)),
                    variants=VARIANTS.get(category, ()),
                    rename_period_us=rename_period,
                    rename_phase_us=rng.randrange(rename_period) if renamed else 0,
                    price_period_us=price_period,
                    price_phase_us=rng.randrange(price_period) if repriced else 0,
                )
            )
            self.by_category[category].append(number)
        # Popularity is long-tailed: a few products get most of the trending slots.
        order = list(range(count))
        rng.shuffle(order)
        weights = [0.0] * count
        for rank, number in enumerate(order):
            weights[number] = 1.0 / (rank + 1) ** 0.9
        self.popularity = list(accumulate(weights))
        self._versions: dict[tuple[int, int], Attributes] = {}
        self._prices: dict[tuple[int, int], Decimal] = {}
        self._deals: tuple[date, dict[int, Decimal]] | None = None

    def popular(self, rng: random.Random, k: int) -> list[int]:
        """k distinct products, drawn by popularity."""
        chosen: dict[int, None] = {}
        while len(chosen) < k:
            chosen.update(
                dict.fromkeys(
                    rng.choices(range(len(self.products)), cum_weights=self.popularity, k=k)
                )
            )
        return list(chosen)[:k]

    def attributes(self, product: Product, t_us: int) -> Attributes:
        """The product's name, brand and category as the app shows them at `t_us`."""
        version = _epoch(t_us, product.rename_period_us, product.rename_phase_us)
        if not product.rename_period_us:
            return product.base
        key = (product.number, version)
        if key not in self._versions:
            if len(self._versions) > 50_000:
                self._versions.clear()
            # Each version is drawn from the base on its own, so A, B, A histories happen too.
            rng = random.Random(f"{self._seed}:rename:{product.item_id}:{version}")
            base, kind = product.base, rng.choice(("base", "base", "name", "brand", "category"))
            if kind == "name":
                suffix = rng.choice(NAME_SUFFIXES)
                attrs = Attributes(
                    f"{base.name} {suffix}", base.brand, base.category, base.category2
                )
            elif kind == "brand":
                others = [b for b in CATEGORIES[base.category][3] if b != base.brand]
                brand = rng.choice(others)
                name = base.name.replace(base.brand, brand)
                attrs = Attributes(name, brand, base.category, base.category2)
            elif kind == "category":
                moved = CATEGORY_MOVES[base.category]
                attrs = Attributes(base.name, base.brand, moved, base.category2)
            else:
                attrs = base
            self._versions[key] = attrs
        return self._versions[key]

    def list_price(self, product: Product, t_us: int) -> Decimal:
        """The regular price at `t_us`, before any deal."""
        if not product.price_period_us:
            return product.base_price
        key = (product.number, _epoch(t_us, product.price_period_us, product.price_phase_us))
        if key not in self._prices:
            if len(self._prices) > 50_000:
                self._prices.clear()
            factor = random.Random(f"{self._seed}:price:{product.item_id}:{key[1]}").uniform(
                0.85, 1.15
            )
            self._prices[key] = _round_price(float(product.base_price) * factor)
        return self._prices[key]

    def deals(self, day: date) -> dict[int, Decimal]:
        """Deals of the Day for a local date: product number -> discount rate."""
        if self._deals is None or self._deals[0] != day:
            rng = random.Random(f"{self._seed}:deals:{day.isoformat()}")
            numbers = rng.sample(range(len(self.products)), min(DEALS_PER_DAY, len(self.products)))
            self._deals = (
                day,
                {n: Decimal(rng.choice((10, 15, 20, 25, 30, 40))) / 100 for n in numbers},
            )
        return self._deals[1]

    def offer(self, product: Product, t_us: int, day: date) -> tuple[Decimal, Decimal]:
        """(unit price after discount, unit discount) at `t_us` on local date `day`."""
        price = self.list_price(product, t_us)
        rate = self.deals(day).get(product.number)
        if rate is None:
            return price, Decimal("0.00")
        discount = (price * rate).quantize(CENT)
        return price - discount, discount
