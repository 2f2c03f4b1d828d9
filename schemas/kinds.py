"""What a column's kind means, everywhere it matters, declared once.

Every column of every contract has a kind (`column(kind=...)`). The kind says how the warehouse
stores it (DuckDB), how Arrow and Parquet carry it, how `datapackage.json` describes it (in the
CSV export and in the Parquet one), how a CSV cell renders it, which normaliser cleans a
contributor's answer of that kind and which check validates it, and what a record's value of
that kind is in Python. The rest of bibia looks these up; no other place branches on a kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow

LIST_DELIMITER = ", "  # how a CSV cell joins a list


@dataclass(frozen=True)
class Kind:
    name: str
    duckdb: str  # column type in the warehouse
    arrow: pyarrow.DataType  # what loads and Parquet exports carry
    table_schema: dict[str, Any]  # its Table Schema field (type, format) in a CSV export
    csv: str  # how a CSV cell renders it: "text" (formulas neutralised), "list", "number"
    python: tuple[type, ...]  # what a record holds for it (besides None)
    pandas: str = "str"  # the dtype a validated frame gives it
    normaliser: str | None = None  # a function of transforms.normalise (None: not typed in)
    check: str | None = None  # a check of transforms.validate (None: any value of the type)
    parquet_schema: dict[str, Any] | None = None  # its Table Schema field in a Parquet export
    repeats: bool = False  # the same answers come back from one submission to the next
    # the longest text a contributor may give (characters): longer holds the project back
    max_length: int | None = None
    parquet_arrow: pyarrow.DataType | None = None  # its type in a Parquet export, if not `arrow`
    # one value only: fed several (two files, a multi-choice), the first is kept, with a warning
    one_value: bool = False
    # how a project's page shows a value: "text", "link" (an http(s) address), "list",
    # "paragraphs", "month", "day" (in French) or "number"
    page: str = "text"
    datami_type: str = "string"  # its type in the current site's feed (Datami's schema)
    datami_subtype: str | None = None  # how the Datami widget shows it (a tag, a link...)

    @property
    def many(self) -> bool:
        """Several values (a list): a curator may give several."""
        return self.csv == "list"


_STRING = pyarrow.string()
_TEXT = {"type": "string"}


def _kind(name: str, **declared: Any) -> Kind:
    defaults: dict[str, Any] = {
        "duckdb": "VARCHAR",
        "arrow": _STRING,
        "table_schema": _TEXT,
        "csv": "text",
        "python": (str,),
        "pandas": "str",
    }
    return Kind(name=name, **{**defaults, **declared})


KINDS: dict[str, Kind] = {
    k.name: k
    for k in [
        _kind("id", normaliser="text"),
        _kind("text", normaliser="text", max_length=1_000),
        _kind("longtext", normaliser="long_text", max_length=20_000, page="paragraphs"),
        _kind("siret", normaliser="siret", check="siret", repeats=True, one_value=True),
        _kind(
            "month",
            table_schema={"type": "yearmonth"},
            normaliser="month",
            check="month",
            repeats=True,
            one_value=True,
            page="month",
        ),
        _kind(
            "day",
            table_schema={"type": "date", "format": "%Y-%m-%d"},
            parquet_schema={"type": "date"},
            parquet_arrow=pyarrow.date32(),
            page="day",
        ),
        _kind(
            "url",
            table_schema={"type": "string", "format": "uri"},
            normaliser="url",
            check="url",
            repeats=True,
            one_value=True,
            max_length=2_000,
            page="link",
            datami_subtype="link",
        ),
        _kind(
            "email",
            table_schema={"type": "string", "format": "email"},
            normaliser="email",
            check="email",
            repeats=True,
            one_value=True,
            max_length=320,
            datami_subtype="email",
        ),
        _kind(
            "enum",
            normaliser="enum",
            check="vocabulary",
            repeats=True,
            one_value=True,
            datami_subtype="tag",
        ),
        _kind(
            "enum_list",
            duckdb="VARCHAR[]",
            arrow=pyarrow.list_(_STRING),
            table_schema={"type": "list", "delimiter": LIST_DELIMITER, "itemType": "string"},
            # a Parquet list<string> column, which Table Schema cannot type
            parquet_schema={"type": "any", "bibia:parquetType": "list<string>"},
            csv="list",
            python=(list,),
            pandas="object",
            normaliser="enum_list",
            check="vocabulary",
            repeats=True,
            page="list",
            datami_subtype="tags",
        ),
        _kind(
            "number",
            duckdb="DOUBLE",
            arrow=pyarrow.float64(),
            table_schema={"type": "number"},
            csv="number",
            python=(float, int),
            pandas="float64",
            page="number",
            datami_type="number",
        ),
        _kind(
            "integer",
            duckdb="INTEGER",
            arrow=pyarrow.int64(),
            table_schema={"type": "integer"},
            csv="number",
            python=(int,),
            pandas="Int64",
        ),
        _kind(
            "bigint",
            duckdb="BIGINT",
            arrow=pyarrow.int64(),
            table_schema={"type": "integer"},
            csv="number",
            python=(int,),
            pandas="Int64",
        ),
        _kind(
            "boolean",
            duckdb="BOOLEAN",
            arrow=pyarrow.bool_(),
            table_schema={"type": "boolean"},
            python=(bool,),
            pandas="boolean",
        ),
        _kind(
            "timestamp",
            duckdb="TIMESTAMP",
            arrow=pyarrow.timestamp("us"),
            table_schema={"type": "datetime"},
            python=(datetime,),
            pandas="datetime64[us]",
        ),
        _kind("json", duckdb="JSON", table_schema={"type": "object"}),
    ]
}
