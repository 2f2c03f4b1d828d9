"""Every vocabulary value and alias of the data model, and the quirks of real entries.

The expectations are written out here from data-model.md, not read from taxonomy.yaml: the file
is what is under test."""

from __future__ import annotations

import pytest

from bibia.settings import DEFAULT_TAXONOMY
from schemas.errors import ConfigError
from schemas.taxonomy import Taxonomy
from transforms.normalise import enum

TAXONOMY = Taxonomy.load(DEFAULT_TAXONOMY)

CANONICAL = {
    "theme": [
        "Transition écologique et énergétique",
        "Attractivité et aménagement",
        "Citoyenneté, santé et solidarité",
        "Mobilités",
        "Gouvernance et socles technologiques",
        "Administration et organisation interne",
    ],
    "sous_theme": [
        "Performance énergétique",
        "Éclairage public",
        "Gestion de l'eau",
        "Déchets et économie circulaire",
        "Qualité de l'air et nuisances sonores",
        "Biodiversité et préservation des espaces naturels",
        "Prévention et gestion des risques",
        "Commerce et développement économique",
        "Agriculture",
        "Tourisme et patrimoine",
        "Culture et loisirs",
        "Construction et aménagement",
        "Immobilier",
        "Éducation",
        "Santé et accès aux soins",
        "Accessibilité et handicap",
        "Lien social et relation aux usagers",
        "Inclusion numérique",
        "Participation citoyenne",
        "Logistique urbaine",
        "Multimodalité",
        "Flux et trafic",
        "Mobilité décarbonée",
        "Stationnement",
        "Modélisation et jumeau numérique",
        "Outillage des systèmes d'information",
        "Infrastructures numériques",
        "Gouvernance et stratégie numérique responsable",
        "Plateforme de données",
        "Cybersécurité",
        "Gestion des ressources humaines",
        "Gestion des assemblées",
        "Gestion des marchés publics",
        "Aide à la rédaction et gestion documentaire",
        "Aide juridique",
    ],
    "coll_type": [
        "Commune",
        "Métropole",
        "Communauté urbaine",
        "Communauté d'agglomération",
        "Communauté de communes",
        "Établissement public territorial",
        "EPCI",
        "Département",
        "Région",
        "Syndicat mixte",
        "Opérateur",
    ],
    "projet_status": [
        "En réflexion",
        "En expérimentation",
        "En déploiement",
        "Terminée",
        "Abandonné",
    ],
    "audience_service": [
        "Grand public",
        "Bénéficiaire",
        "Agent",
        "Association",
        "Élu",
        "Entreprises",
        "Collectivités",
        "Établissement scolaire",
        "Établissement de santé",
    ],
    "budget": ["Moins de 50 k€", "De 50 k€ à 100 k€", "Plus de 100 k€"],
    "mise_en_oeuvre": [
        "Projet développé en interne",
        "Projet développé en externe",
        "Mobilisation de prestataire(s)",
        "Marché public",
    ],
    "herbergement": ["Cloud chez un tiers", "En interne de l'administration", "Ne sait pas"],
    "type_algorithme": [
        "Machine learning",
        "Traitement automatique du langage",
        "IA générative",
        "Vision par ordinateur",
        "Réseaux de neurones",
        "Ne sait pas",
    ],
    "donnees_source": [
        "Usager",
        "Jeu de données interne",
        "Open data",
        "Données d'un tiers",
        "Ne sait pas",
    ],
    "donnees_acces": ["Par API", "Automatisée", "Par récupération manuelle", "Ne sait pas"],
}

ALIASES = [  # (vocabulary, as typed, canonical label)
    ("theme", "Transformation écologique et énergétique", "Transition écologique et énergétique"),
    ("theme", "Transition écologique", "Transition écologique et énergétique"),
    ("theme", "Attractivité et développement", "Attractivité et aménagement"),
    ("theme", "Citoyenneté, santé et solidarités", "Citoyenneté, santé et solidarité"),
    ("theme", "Citoyenneté", "Citoyenneté, santé et solidarité"),
    ("theme", "Santé et solidarité", "Citoyenneté, santé et solidarité"),
    ("theme", "Citoyenneté et solidarité", "Citoyenneté, santé et solidarité"),
    ("theme", "Citoyens et solidarité", "Citoyenneté, santé et solidarité"),
    ("theme", "Mobilité", "Mobilités"),
    ("theme", "Socles technologiques", "Gouvernance et socles technologiques"),
    ("sous_theme", "Déchets", "Déchets et économie circulaire"),
    ("sous_theme", "Biodiversité", "Biodiversité et préservation des espaces naturels"),
    ("sous_theme", "Développement économique et commerce", "Commerce et développement économique"),
    ("sous_theme", "Education et enfance", "Éducation"),
    (
        "sous_theme",
        "Lien social et gestion de la relation usagers",
        "Lien social et relation aux usagers",
    ),
    ("sous_theme", "Participation et concertation", "Participation citoyenne"),
    ("sous_theme", "Multimodalités", "Multimodalité"),
    ("sous_theme", "Mobilité décarbonnée", "Mobilité décarbonée"),
    ("sous_theme", "Outillage système d'information", "Outillage des systèmes d'information"),
    ("sous_theme", "Outillage des systèmes d'informations", "Outillage des systèmes d'information"),
    (
        "sous_theme",
        "Gouvernance et stratégie numérique",
        "Gouvernance et stratégie numérique responsable",
    ),
    ("coll_type", "Ville", "Commune"),
    ("coll_type", "Communauté d'agglomérations", "Communauté d'agglomération"),
    ("coll_type", "CA", "Communauté d'agglomération"),
    ("coll_type", "CC", "Communauté de communes"),
    ("coll_type", "EPT", "Établissement public territorial"),
    ("coll_type", "Syndicat", "Syndicat mixte"),
    ("projet_status", "Expérimentation", "En expérimentation"),
    ("projet_status", "POC", "En expérimentation"),
    ("projet_status", "En construction", "En expérimentation"),
    ("projet_status", "Déployé", "En déploiement"),
    ("projet_status", "Terminé", "Terminée"),
    ("projet_status", "Abandonnée", "Abandonné"),
    ("audience_service", "Elu", "Élu"),
    ("audience_service", "Etablissement santé", "Établissement de santé"),
    ("budget", "moins de 50k€", "Moins de 50 k€"),
    ("budget", "de 50k€ à 100k€", "De 50 k€ à 100 k€"),
    ("budget", "entre 50k€ et 100k€", "De 50 k€ à 100 k€"),
    ("budget", "plus de 100k€", "Plus de 100 k€"),
    ("herbergement", "NSP", "Ne sait pas"),
    ("type_algorithme", "Computer vision", "Vision par ordinateur"),
    ("type_algorithme", "NSP", "Ne sait pas"),
    ("donnees_source", "NSP", "Ne sait pas"),
    ("donnees_acces", "NSP", "Ne sait pas"),
]

FOLDING = [  # (vocabulary, as typed, canonical label): one quirk of real entries each
    ("sous_theme", "Gestion de l’eau", "Gestion de l'eau"),  # typographic apostrophe
    (
        "sous_theme",
        "Qualité de l’air et nuisances sonores",
        "Qualité de l'air et nuisances sonores",
    ),
    ("coll_type", "métropole", "Métropole"),  # case
    ("coll_type", "METROPOLE", "Métropole"),  # case and accent
    ("sous_theme", "Eclairage public", "Éclairage public"),  # accent
    ("mise_en_oeuvre", "Projet  développé   en interne", "Projet développé en interne"),
    ("projet_status", "Terminé.", "Terminée"),  # trailing punctuation
    ("theme", "Mobilités ?", "Mobilités"),
    ("coll_type", "Communauté d’agglomérations", "Communauté d'agglomération"),
]


@pytest.mark.parametrize("vocabulary", list(CANONICAL))
def test_vocabulary_holds_exactly_the_data_models_labels(vocabulary):
    assert TAXONOMY[vocabulary].labels == CANONICAL[vocabulary]


@pytest.mark.parametrize(
    ("vocabulary", "label"), [(v, label) for v, labels in CANONICAL.items() for label in labels]
)
def test_every_canonical_label_maps_to_itself(vocabulary, label):
    assert enum(label, TAXONOMY[vocabulary]) == label


@pytest.mark.parametrize(("vocabulary", "typed", "label"), ALIASES + FOLDING)
def test_alias_or_quirk_maps_to_the_canonical_label(vocabulary, typed, label):
    assert enum(typed, TAXONOMY[vocabulary]) == label


def test_ligatures_fold():
    assert enum("Développement et mise en oeuvre", TAXONOMY["mise_en_oeuvre"]) == (
        "Développement et mise en oeuvre"  # not a label: unchanged, and folds like the œ form
    )
    from schemas.text import fold

    assert fold("Développement et mise en œuvre") == fold("Developpement et mise en oeuvre")


@pytest.mark.parametrize(
    ("sub_theme", "theme"),
    [
        ("Gestion de l'eau", "transition_ecologique"),
        ("Immobilier", "attractivite_amenagement"),
        ("Aide juridique", "administration_interne"),
        ("Stationnement", "mobilites"),
    ],
)
def test_sub_themes_know_their_home_theme(sub_theme, theme):
    assert TAXONOMY["sous_theme"].by_label(sub_theme).parent == theme


@pytest.mark.parametrize(
    ("coll_type", "group"),
    [
        ("Commune", "Commune"),
        ("Métropole", "EPCI"),
        ("Établissement public territorial", "EPCI"),
        ("Communauté d'agglomération", "EPCI"),
        ("Syndicat mixte", "Syndicat"),
        ("Région", "Région"),
        ("Département", "Département"),
        ("Opérateur", "Opérateur"),
    ],
)
def test_authority_types_know_their_group(coll_type, group):
    assert TAXONOMY["coll_type"].by_label(coll_type).group == group


def test_unknown_values_are_returned_cleaned_not_guessed():
    assert enum("  Environnement ", TAXONOMY["theme"]) == "Environnement"


def test_an_alias_claimed_by_two_values_is_refused():
    data = {
        "version": "t",
        "vocabularies": {
            "theme": {
                "values": [
                    {"code": "a", "label": "A", "aliases": ["MOBILITÉS"]},
                    {"code": "b", "label": "Mobilités", "aliases": []},
                ]
            }
        },
    }
    with pytest.raises(ConfigError, match="désigne à la fois"):
        Taxonomy.from_dict(data)
