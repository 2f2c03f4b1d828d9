"""The taxonomy file (schemas/taxonomy.yaml) loaded into lookup tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.errors import ConfigError
from schemas.files import load_yaml
from schemas.text import fold


@dataclass(frozen=True)
class Term:
    vocabulary: str
    code: str
    label: str
    aliases: tuple[str, ...] = ()
    parent: str | None = None  # sub-theme -> theme code
    group: str | None = None  # coll_type -> group label
    siren_prefixes: tuple[str, ...] = ()
    legal_categories: tuple[str, ...] = ()  # coll_type -> INSEE categories that fit


@dataclass
class Vocabulary:
    name: str
    terms: list[Term]
    multi: bool = False
    open: bool = False
    max_items: int | None = None
    _index: dict[str, Term] = field(default_factory=dict, repr=False)
    _by_label: dict[str, Term] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for term in self.terms:
            self._by_label[term.label] = term
            for spelling in (term.label, term.code, *term.aliases):
                key = fold(spelling)
                other = self._index.get(key)
                if other is not None and other.code != term.code:
                    raise ConfigError(
                        f"taxonomie : dans {self.name}, l'écriture {spelling!r} désigne à la fois "
                        f"{other.label!r} et {term.label!r}"
                    )
                self._index[key] = term

    @property
    def labels(self) -> list[str]:
        return [t.label for t in self.terms]

    def match(self, text: str) -> Term | None:
        return self._index.get(fold(text))

    def by_label(self, label: str) -> Term | None:
        return self._by_label.get(label)


@dataclass
class Taxonomy:
    version: str
    vocabularies: dict[str, Vocabulary]
    path: Path | None = None
    legal_categories: dict[str, str] = field(default_factory=dict)  # INSEE code -> label

    def __getitem__(self, name: str) -> Vocabulary:
        return self.vocabularies[name]

    @classmethod
    def load(cls, path: Path) -> Taxonomy:
        return cls.from_dict(load_yaml(path, "fichier de taxonomie"), path)

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> Taxonomy:
        try:
            vocabularies = {}
            for name, spec in data["vocabularies"].items():
                terms = [
                    Term(
                        vocabulary=name,
                        code=str(v["code"]),
                        label=str(v["label"]),
                        aliases=tuple(str(a) for a in v.get("aliases") or ()),
                        parent=v.get("parent"),
                        group=v.get("group"),
                        siren_prefixes=tuple(str(p) for p in v.get("siren_prefixes") or ()),
                        legal_categories=tuple(str(c) for c in v.get("legal_categories") or ()),
                    )
                    for v in spec["values"]
                ]
                vocabularies[name] = Vocabulary(
                    name=name,
                    terms=terms,
                    multi=bool(spec.get("multi", False)),
                    open=bool(spec.get("open", False)),
                    max_items=spec.get("max_items"),
                )
            categories = {str(k): str(v) for k, v in (data.get("legal_categories") or {}).items()}
            return cls(
                version=str(data["version"]),
                vocabularies=vocabularies,
                path=path,
                legal_categories=categories,
            )
        except (KeyError, TypeError) as exc:
            where = path or "taxonomie"
            raise ConfigError(f"{where} : taxonomie mal formée ({exc!r} absent ou faux)") from None

    def rows(self) -> list[dict[str, Any]]:
        """The taxonomy as table rows, for the warehouse's `taxonomy_terms`."""
        return [
            {
                "vocabulary": vocab.name,
                "code": term.code,
                "label": term.label,
                "parent_code": term.parent,
                "group_label": term.group,
                "position": position,
                "taxonomy_version": self.version,
            }
            for vocab in self.vocabularies.values()
            for position, term in enumerate(vocab.terms)
        ]
