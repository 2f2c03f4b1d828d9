"""The feed of the association's current site (a Datami widget), read back as the widget reads
it: rows split on line breaks first, then `;` with quotes, then multi-values on the custom
properties' `tagSeparator`. Every exported value must come back whole."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from bibia.pipeline import run_job
from bibia.settings import Settings
from publish.site.datami import (
    COLUMNS,
    CUSTOM_PROPS,
    DATA,
    MAP_SETTINGS,
    SCHEMA,
    choose_joiner,
    joiner_of,
    multi_values,
)
from schemas.project import PUBLIC, columns_meta
from schemas.taxonomy import Taxonomy
from tests.conftest import DEMO_PUBLISHED, VALID_ANSWERS, demo_synced, query, tally_submission

HEADER = (
    "coll_nom;nom_projet;coll_siret;latitude;longitude;coll_type;projet_date;projet_status;"
    "partenaires;usage_description;theme;sous_theme;audience_service;url_infos;image_url;date"
)


def feed(settings: Settings) -> Path:
    return settings.export_dir / PUBLIC / "datami"


def read_as_the_widget(settings: Settings) -> tuple[list[dict[str, Any]], str]:
    """The rows as Datami reads them, multi-values split; and the separator it splits on."""
    props = json.loads((feed(settings) / CUSTOM_PROPS).read_text(encoding="utf-8"))
    separators = {f["name"]: f["tagSeparator"] for f in props["fields"] if "tagSeparator" in f}
    lines = (feed(settings) / DATA).read_text(encoding="utf-8").split("\n")
    assert lines[-1] == ""  # the file ends with a line break
    header, *body = lines[:-1]
    names = header.split(";")
    out = []
    for line in body:  # line by line, before looking at quotes
        (cells,) = list(csv.reader([line], delimiter=";"))
        row: dict[str, Any] = {}
        for name, cell in zip(names, cells, strict=True):
            cell = cell.rstrip()
            row[name] = cell.split(separators[name]) if name in separators and cell else cell
        out.append(row)
    joiners = set(separators.values())
    assert len(joiners) == 1
    return out, joiners.pop()


def as_exported(row: dict[str, Any]) -> dict[str, Any]:
    """What the widget should give back for an exported row: each documented rendering."""

    def text(value: str | None) -> str:
        flat = " ".join((value or "").splitlines())
        return "'" + flat if flat[:1] in ("=", "+", "-", "@") else flat

    siret = row["coll_siret"]
    day = row["date"]
    lines = [line for line in (row["partenaires"] or "").split("\n") if line.strip()]
    return {
        "coll_nom": text(row["coll_nom"]),
        "nom_projet": text(row["nom_projet"]),
        "coll_siret": f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}",
        "latitude": "" if row["latitude"] is None else row["latitude"],
        "longitude": "" if row["longitude"] is None else row["longitude"],
        "coll_type": row["coll_type"],
        "projet_date": f"{row['projet_date'][5:]}/{row['projet_date'][:4]}",
        "projet_status": row["projet_status"],
        "partenaires": [text(line) for line in lines] or "",
        "usage_description": text(row["usage_description"]),
        "theme": row["theme"],
        "sous_theme": row["sous_theme"] or "",
        "audience_service": row["audience_service"] or "",
        "url_infos": row["url_infos"] or "",
        "image_url": row["image_url"] or "",
        "date": day.strftime("%d/%m/%Y"),  # a date in the Parquet export
    }


def numbers(row: dict[str, Any]) -> dict[str, Any]:
    for name in ("latitude", "longitude"):
        row[name] = float(row[name]) if row[name] != "" else ""
    return row


def exported(settings: Settings) -> list[dict[str, Any]]:
    path = settings.export_dir / PUBLIC / "bibliotheque_ia.parquet"
    return list(pq.read_table(path).to_pylist())


def test_every_demo_project_comes_back_whole_from_the_feed(settings):
    demo_synced(settings)
    read, _ = read_as_the_widget(settings)
    assert len(read) == DEMO_PUBLISHED
    assert [numbers(r) for r in read] == [as_exported(r) for r in exported(settings)]
    multiline = [r for r in exported(settings) if "\n" in (r["usage_description"] or "")]
    assert multiline  # the demo has descriptions of several paragraphs: one line each here


def test_a_value_holding_the_usual_separators_comes_back_whole(settings, emulator):
    demo_synced(settings)  # every line made with the usual joiner, then made again
    answers = {
        **VALID_ANSWERS,
        "nom_projet": "Assistant -- séparateurs",
        "audience_service": ["Agent", "Grand-public | tous ¦ partout"],
        "partenaires": "Université Paris-Saclay, CNRS | INRIA - Lab ¦ X",
    }
    late = "2026-11-20T10:00:00.000Z"  # after the first run's: the next run brings it
    emulator.add_submissions("bibiaD", [tally_submission("seps1", answers, submitted_at=late)])
    run_job(settings, "sync")
    read, joiner = read_as_the_widget(settings)
    assert joiner not in "-|¦"
    assert [numbers(r) for r in read] == [as_exported(r) for r in exported(settings)]
    (mine,) = [r for r in read if r["nom_projet"] == "Assistant -- séparateurs"]
    assert mine["audience_service"] == ["Agent", "Grand-public | tous ¦ partout"]
    assert mine["partenaires"] == ["Université Paris-Saclay, CNRS | INRIA - Lab ¦ X"]


@pytest.mark.parametrize(
    ("values", "joiner"),
    [
        ([["Agent", "Élu"]], "-"),
        ([["Grand-public"]], "|"),
        ([["a-b", "c|d", "e¦f"]], "•"),
        ([["-|¦•·§¤"]], "\ue000"),
        ([["-|¦•·§¤\ue000"]], "\ue001"),
    ],
)
def test_the_joiner_is_the_first_character_no_value_holds(values, joiner):
    assert choose_joiner([values]) == joiner


@pytest.mark.parametrize(
    ("partenaires", "sous_theme", "audience_service"),
    [
        ("Université\nCNRS", ["Santé"], ["Agent", "Élu"]),
        ("Paris-Saclay", None, ["Agent"]),
        (None, ["a|b"], ["c-d"]),
        ("x¦y", [], ["-|•·§¤"]),
        ("-|¦•·§¤\ue000", None, None),
    ],
)
def test_the_joiner_found_in_sql_is_the_one_chosen_in_python(
    tmp_path, partenaires, sous_theme, audience_service
):
    export = tmp_path / "export.parquet"
    pq.write_table(
        pa.table(
            {
                "partenaires": pa.array([partenaires, "Mairie"], pa.string()),
                "sous_theme": pa.array([sous_theme, ["Eau"]], pa.list_(pa.string())),
                "audience_service": pa.array([audience_service, None], pa.list_(pa.string())),
            }
        ),
        export,
    )
    expected = choose_joiner(multi_values(export))
    assert joiner_of(duckdb.connect(), export) == expected


def test_the_feed_has_the_current_sites_exact_format(settings):
    demo_synced(settings)
    text = (feed(settings) / DATA).read_text(encoding="utf-8")
    lines = text.split("\n")
    assert lines[0] == HEADER
    assert len(lines) == DEMO_PUBLISHED + 2  # header, one line a project, the final break
    (sid, siret, month, day) = query(
        settings,
        "SELECT submission_id, coll_siret, projet_date, date FROM projects "
        "ORDER BY projet_id LIMIT 1",
    )[0]
    first = next(csv.reader([lines[1]], delimiter=";"))
    assert first[2] == f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}"
    assert first[6] == f"{month[5:]}/{month[:4]}"
    assert first[15] == f"{day[8:]}/{day[5:7]}/{day[:4]}"
    assert sid  # the line is the first project of the export


def test_schema_and_custom_properties_come_from_the_contract_and_the_taxonomy(settings):
    demo_synced(settings)
    taxonomy = Taxonomy.load(settings.taxonomy_path)
    schema = json.loads((feed(settings) / SCHEMA).read_text(encoding="utf-8"))
    props = json.loads((feed(settings) / CUSTOM_PROPS).read_text(encoding="utf-8"))
    columns = columns_meta()
    assert [f["name"] for f in schema["fields"]] == COLUMNS
    assert [f["name"] for f in props["fields"]] == COLUMNS
    by_name = {f["name"]: f for f in schema["fields"]}
    for name in COLUMNS:
        field = by_name[name]
        assert field["title"] == columns[name].title
        assert field["constraints"]["required"] == columns[name].metadata["required"]
    for name in ("theme", "projet_status", "coll_type"):
        vocabulary = columns[name].metadata["vocabulary"]
        assert by_name[name]["constraints"]["enum"][: len(taxonomy[vocabulary].labels)] == (
            taxonomy[vocabulary].labels
        )
    read, _ = read_as_the_widget(settings)
    for name in ("theme", "projet_status", "coll_type", "sous_theme", "audience_service"):
        enum = set(by_name[name]["constraints"]["enum"])
        for row in read:  # every value can be filtered on
            values = row[name] if isinstance(row[name], list) else [row[name]]
            assert set(values) - {""} <= enum, (name, values)
    subtypes = {f["name"]: f.get("subtype") for f in props["fields"]}
    assert subtypes["theme"] == "tag" and subtypes["sous_theme"] == "tags"
    assert subtypes["url_infos"] == "link" and subtypes["image_url"] == "image"
    assert subtypes["partenaires"] == "tags"


def test_the_map_settings_colour_every_theme_of_the_taxonomy(settings):
    demo_synced(settings)
    taxonomy = Taxonomy.load(settings.taxonomy_path)
    settings_file = json.loads((feed(settings) / MAP_SETTINGS).read_text(encoding="utf-8"))
    options = settings_file["mapOptions"]
    assert options["item_geo_fields"] == {"latitude": "latitude", "longitude": "longitude"}
    match = options["map_layers"]["all_points_layer"]["circle_color"]
    assert match[:2] == ["match", ["get", "theme"]]
    assert match[2:-1:2] == taxonomy["theme"].labels
