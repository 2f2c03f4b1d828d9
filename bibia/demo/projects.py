"""Projects of the demo form, as contributors typed them (quirks on purpose).

The eight first are the 2025 booklet's; the others are drawn from the authorities the booklet
thanks, with plausible projects. SIRENs are given as known; NICs are made up, so every SIRET here
is illustrative. Each entry is one submission; `same_as` marks a resubmission of a project.
"""

from __future__ import annotations

from typing import Any

# Restricted answers most projects share; entries override what differs.
DEFAULTS: dict[str, Any] = {
    "mise_en_oeuvre": "Mobilisation de prestataire(s)",
    "herbergement": "Cloud chez un tiers",
    "type_algorithme": ["Machine learning"],
    "donnees_source": ["Jeu de données interne"],
    "donnees_acces": ["Automatisée"],
    "budget": "De 50 k€ à 100 k€",
    "financement": "Budget interne",
}

PROJECTS: list[dict[str, Any]] = [
    # -- the booklet's eight -------------------------------------------------------------
    {
        "key": "sicoval-fuites",
        "coll_nom": "Communauté d'agglomération du SICOVAL",
        "siren": "243100633", "coll_type": "Communauté d'agglomérations",
        "nom_projet": "Détection des fuites d'eau par IA",
        "projet_date": "05/2024", "projet_status": "En expérimentation",
        "partenaires": "Leakmited - Réseau 31",
        "usage_description": (
            "Le Sicoval gère 1000 km de réseau d'eau potable avec un rendement de 78 %.\n"
            "L'IA identifie les 20 à 30 % du réseau qui concentrent 80 % du potentiel de fuites.\n"
            "En deux semaines, 12 fuites ont été trouvées : 113 705 m³ de pertes évitées par an."
        ),
        "theme": "Transition écologique et énergétique", "sous_theme": ["Gestion de l’eau"],
        "audience_service": ["Agent"], "url_infos": "www.sicoval.fr/eau-assainissement",
        "projet_contact": "eau.assainissement@sicoval.fr",
        "nom_algorithme": "Leakmited - priorisation des secteurs de recherche de fuites",
        "algorithme_description": "Modèle entraîné sur plus d'un million de fuites, le "
        "contexte géologique, la météo et la topographie.",
        "donnees_source": ["Jeu de données interne", "Données d'un tiers"],
        "budget": "moins de 50k€", "financement": "Budget eau",
        "submitted_at": "2025-03-12T09:14:03.000Z",
    },
    {
        "key": "sicoval-fuites-v2", "same_as": "sicoval-fuites",
        "projet_status": "Déployé",
        "usage_description": (
            "Le Sicoval gère 1000 km de réseau d'eau potable avec un rendement de 78 %.\n"
            "Après l'expérimentation de 2024 (12 fuites, 92 568 € économisés), l'outil est "
            "déployé et complété par un module de maintenance prédictive."
        ),
        "submitted_at": "2026-02-03T15:40:12.000Z",
    },
    {
        "key": "noisy-recital",
        "coll_nom": "Ville de Noisy-le-Grand", "siren": "219300514", "coll_type": "Ville",
        "nom_projet": "RECITAL", "projet_date": "03/2022", "projet_status": "En déploiement",
        "partenaires": "Lauréat DIAT (France 2030)",
        "usage_description": (
            "Réduction Énergétique à Court Terme, Immédiate et à Long Terme : réduire la "
            "consommation des 200 bâtiments publics de 20 % d'ici 2026 et de 50 % d'ici 2030.\n"
            "173 actions d'optimisation déjà identifiées."
        ),
        "theme": "Transformation écologique et énergétique",
        "sous_theme": ["Performance énergétique"], "audience_service": ["Agent", "Elu"],
        "financement": "France 2030 - DIAT", "budget": "Plus de 100 k€",
        "nom_algorithme": "Jumeau énergétique des bâtiments",
        "type_algorithme": ["Machine learning", "Réseaux de neurones"],
        "donnees_source": ["Jeu de données interne", "Capteurs IoT"],
        "submitted_at": "2025-03-20T10:02:44.000Z",
    },
    {
        "key": "rennes-step",
        "coll_nom": "Rennes Métropole", "siren": "243500139", "siret_typed": "spaced",
        "coll_type": "Métropole",
        "nom_projet": "Pilotage des stations d'épuration par IA",
        "projet_date": "01/09/2021", "projet_status": "En déploiement",
        "partenaires": "Purecontrol, Saur",
        "usage_description": (
            "L'IA croise les données des stations (débits, qualité de l'eau) avec les prévisions "
            "météo et les tarifs de l'énergie pour piloter l'aération en temps réel.\n"
            "- 5 % de consommation d'énergie en moins\n- 15 % de facture en moins"
        ),
        "theme": "Transition écologique", "sous_theme": ["Gestion de l'eau", "Performance énergétique"],
        "audience_service": ["Agent"], "projet_contact": " Assainissement.IA@Rennesmetropole.fr ",
        "nom_algorithme": "Purecontrol", "herbergement": "Cloud chez un tiers",
        "impact_environnement": "Économies d'énergie supérieures au coût de calcul (non mesuré)",
        "submitted_at": "2025-04-02T08:30:00.000Z",
    },
    {
        "key": "rennes-step-twice", "same_as": "rennes-step",
        "submitted_at": "2025-04-02T08:41:27.000Z",  # sent twice by mistake
    },
    {
        "key": "bordeaux-plantabilite",
        "coll_nom": "Bordeaux Métropole", "siren": "243300316", "coll_type": "Métropole",
        "nom_projet": "Calque de plantabilité",
        "projet_date": "2023-10-02", "projet_status": "En déploiement",
        "partenaires": "Métropole de Lyon (inspiration)",
        "usage_description": (
            "Un indice de plantabilité est attribué à chaque carreau de 5 m sur 5 en croisant "
            "données souterraines et de surface, pour planter 1 million d'arbres d'ici 2030."
        ),
        "theme": "Attractivité et aménagement",
        "sous_theme": "Biodiversité, Construction et aménagement",
        "audience_service": ["Agent", "Aménageurs"],
        "mise_en_oeuvre": "Projet développé en interne",
        "herbergement": "En interne de l'administration",
        "nom_algorithme": "Indice de plantabilité",
        "type_algorithme": ["NSP"], "donnees_source": ["Open data", "Jeu de données interne"],
        "financement": "Fonds propres", "url_ressources": "https://github.com/example/plantabilite",
        "submitted_at": "2025-04-15T13:05:51.000Z",
    },
    {
        "key": "amp-callbot",
        "coll_nom": "Métropole Aix-Marseille-Provence", "siren": "200054807",
        "coll_type": "Métropole", "nom_projet": "Callbot encombrants",
        "projet_date": "7/1/2023", "projet_status": "Expérimentation",
        "usage_description": (
            "Un agent conversationnel automatisé traite les appels liés à la levée des "
            "encombrants, en particulier en dehors des heures d'ouverture du centre d'appels "
            "(180 000 appels par an)."
        ),
        "theme": "Citoyenneté, santé et solidarités",
        "sous_theme": ["Lien social et gestion de la relation usagers", "Déchets"],
        "audience_service": ["Grand public"],
        "type_algorithme": ["Traitement automatique du langage", "IA générative"],
        "donnees_source": ["Usager"], "donnees_acces": ["Par API"],
        "nom_algorithme": "Callbot de prise de rendez-vous", "budget": "Plus de 100 k€",
        "submitted_at": "2025-05-06T07:55:09.000Z",
    },
    {
        "key": "sqy-mobilite",
        "coll_nom": "Saint-Quentin-en-Yvelines", "siren": "200058782", "coll_type": "CA",
        "nom_projet": "Data Hub Observatoire de la Mobilité",
        "projet_date": "2022-03-01", "projet_status": "En déploiement",
        "partenaires": "Hexadone - Renault - Entropy",
        "usage_description": (
            "Agrège des données publiques et privées pour savoir combien de véhicules entrent et "
            "sortent chaque jour du territoire et suivre la fréquentation des pistes cyclables."
        ),
        "theme": "Mobilité", "sous_theme": ["Flux et trafic", "Multimodalités"],
        "audience_service": ["Agent", "Élu"],
        "donnees_source": ["Open data", "Données d'un tiers"], "donnees_acces": ["Par API"],
        "nom_algorithme": "Hypervision mobilité", "url_infos": "https://www.sqy.fr",
        "submitted_at": "2025-05-21T16:20:00.000Z",
    },
    {
        "key": "montpellier-strategie",
        "coll_nom": "Montpellier Méditerranée Métropole", "siren": "243400017",
        "coll_type": "Métropole", "nom_projet": "Stratégie IA et Data",
        "projet_date": "03/2023", "projet_status": "Terminé",
        "partenaires": "Convention citoyenne (40 citoyens)",
        "usage_description": (
            "Une convention citoyenne de 40 habitants a débattu 30 heures des usages de la "
            "donnée et de l'IA ; la stratégie Data a été votée en décembre 2024."
        ),
        "theme": "Gouvernance et socles technologiques",
        "sous_theme": ["Gouvernance et stratégie numérique", "Participation citoyenne"],
        "audience_service": ["Grand public", "Élu"],
        "mise_en_oeuvre": "Projet développé en interne", "herbergement": "NSP",
        "nom_algorithme": "Sans objet (cadre de gouvernance)", "type_algorithme": ["Ne sait pas"],
        "donnees_source": ["Ne sait pas"], "donnees_acces": ["Ne sait pas"],
        "submitted_at": "2025-06-03T11:11:11.000Z",
    },
    {
        "key": "rouen-delibia",
        "coll_nom": "Métropole Rouen Normandie", "siren": "200023414", "coll_type": "Métropole",
        "nom_projet": "IA générative pour la recherche d'informations (Delibia)",
        "projet_date": "2022-01-10", "projet_status": "En expérimentation",
        "partenaires": "Delibia, Pôle TES",
        "usage_description": (
            "Recherche d'informations dans près de 2 millions de décisions publiques de plus de "
            "5500 collectivités, et aide à la rédaction (comptes rendus, synthèses, textes RH).\n"
            "178 utilisateurs pendant l'expérimentation."
        ),
        "theme": "Administration et organisation interne",
        "sous_theme": ["Aide à la rédaction et gestion documentaire"],
        "audience_service": ["Agent"], "type_algorithme": ["IA générative"],
        "donnees_source": ["Open data"], "nom_algorithme": "Delibia",
        "submitted_at": "2025-06-18T09:45:30.000Z",
    },
    # -- other authorities of the booklet's thanks ---------------------------------------
    {
        "key": "toulouse-eclairage", "coll_nom": "Toulouse Métropole", "siren": "243100518",
        "coll_type": "Métropole", "nom_projet": "Éclairage public adaptatif",
        "projet_date": "09/2024", "projet_status": "En expérimentation",
        "usage_description": "Ajuste l'intensité de l'éclairage public selon la fréquentation.",
        "theme": "Transition écologique et énergétique", "sous_theme": ["Eclairage public"],
        "audience_service": ["Grand public"], "type_algorithme": ["Vision par ordinateur"],
        "nom_algorithme": "Détection de présence",
        "submitted_at": "2025-07-01T10:00:00.000Z",
    },
    {
        "key": "paris-dechets", "coll_nom": "Ville de Paris", "siren": "217500016",
        "coll_type": "Commune", "nom_projet": "Détection des dépôts sauvages",
        "projet_date": "2/2024", "projet_status": "POC",
        "usage_description": "Les photos des signalements DansMaRue sont classées automatiquement.",
        "theme": "Transition écologique et énergétique",
        "sous_theme": "Déchets et économie circulaire", "audience_service": "Grand public",
        "type_algorithme": ["Computer vision"], "donnees_source": ["Usager"],
        "nom_algorithme": "Classifieur d'images de dépôts",
        "submitted_at": "2025-07-08T14:22:10.000Z",
    },
    {
        "key": "lyon-vegetalisation", "coll_nom": "Ville de Lyon", "siren": "216901231",
        "coll_type": "Commune", "nom_projet": "Îlots de chaleur et végétalisation",
        "projet_date": "10/2021", "projet_status": "Terminée",
        "usage_description": "Carte des îlots de chaleur pour prioriser la végétalisation.",
        "theme": "Transition écologique et énergétique",
        "sous_theme": ["Biodiversité et préservation des espaces naturels"],
        "audience_service": ["Agent", "Grand public"], "nom_algorithme": "Calque de plantabilité",
        "url_ressources": "data.grandlyon.com",
        "submitted_at": "2025-07-15T08:00:00.000Z",
    },
    {
        "key": "nantes-chatbot", "coll_nom": "Nantes Métropole", "siren": "244400404",
        "coll_type": "Métropole", "nom_projet": "Assistant conversationnel des usagers",
        "projet_date": "11/2024", "projet_status": "En réflexion",
        "usage_description": "Répondre 24 h/24 aux questions courantes des usagers.",
        "theme": "Citoyenneté, santé et solidarité",
        "sous_theme": ["Lien social et relation aux usagers"],
        "audience_service": ["Grand public"], "type_algorithme": ["IA générative"],
        "nom_algorithme": "Assistant usagers",
        "submitted_at": "2025-08-26T09:30:00.000Z",
    },
    {
        "key": "grenoble-air", "coll_nom": "Grenoble-Alpes Métropole", "siren": "200040715",
        "coll_type": "Métropole", "nom_projet": "Prévision de la qualité de l'air",
        "projet_date": "2023-04-01", "projet_status": "En déploiement",
        "usage_description": "Prévoit les pics de pollution à 48 h pour déclencher les alertes.",
        "theme": "Transition écologique et énergétique",
        "sous_theme": ["Qualité de l’air et nuisances sonores"],
        "audience_service": ["Grand public", "Établissement scolaire"],
        "donnees_source": ["Open data", "Capteurs IoT"], "nom_algorithme": "Prévision PM10",
        "submitted_at": "2025-09-02T12:12:12.000Z",
    },
    {
        "key": "mel-marches", "coll_nom": "Métropole Européenne de Lille", "siren": "200093201",
        "coll_type": "Métropole", "nom_projet": "Analyse des offres des marchés publics",
        "projet_date": "01/2025", "projet_status": "En expérimentation",
        "usage_description": "Aide à l'analyse des mémoires techniques des candidats.",
        "theme": "Administration et organisation interne",
        "sous_theme": ["Gestion des marchés publics"], "audience_service": ["Agent"],
        "type_algorithme": ["Traitement automatique du langage"],
        "nom_algorithme": "Analyse de mémoires techniques",
        "herbergement": "En interne de l'administration",
        "submitted_at": "2025-09-10T07:07:07.000Z",
    },
    {
        "key": "occitanie-lycees", "coll_nom": "Région Occitanie", "siren": "200053791",
        "coll_type": "Région", "nom_projet": "Prévision des effectifs des lycées",
        "projet_date": "09/2023", "projet_status": "En déploiement",
        "usage_description": "Prévoit les effectifs pour dimensionner les lycées.",
        "theme": "Citoyenneté, santé et solidarité", "sous_theme": ["Éducation"],
        "audience_service": ["Agent", "Établissement scolaire"],
        "nom_algorithme": "Modèle démographique", "submitted_at": "2025-09-15T15:15:15.000Z",
    },
    {
        "key": "caux-courrier", "coll_nom": "Caux Seine Agglo", "siren": "200010700",
        "siret_typed": "drag1", "coll_type": "Communauté d'agglomération",
        "nom_projet": "Tri automatique du courrier entrant",
        "projet_date": "06/2024", "projet_status": "En expérimentation",
        "usage_description": "Le courrier numérisé est orienté vers le bon service.",
        "theme": "Administration et organisation interne",
        "sous_theme": ["Aide à la rédaction et gestion documentaire"],
        "audience_service": ["Agent"], "nom_algorithme": "Classement du courrier",
        "type_algorithme": ["Traitement automatique du langage"],
        "submitted_at": "2025-09-22T09:00:00.000Z",
    },
    {
        "key": "caux-rh", "coll_nom": "Caux Seine Agglo", "siren": "200010700",
        "siret_typed": "drag2", "coll_type": "Communauté d'agglomération",
        "nom_projet": "Aide à la rédaction des fiches de poste",
        "projet_date": "06/2024", "projet_status": "En expérimentation",
        "usage_description": "Propose une première version des fiches de poste.",
        "theme": "Administration et organisation interne",
        "sous_theme": ["Gestion des ressources humaines"], "audience_service": ["Agent"],
        "nom_algorithme": "Assistant RH", "type_algorithme": ["IA générative"],
        "submitted_at": "2025-09-22T09:01:00.000Z",
    },
    {
        "key": "caux-assemblees", "coll_nom": "Caux Seine Agglo", "siren": "200010700",
        "siret_typed": "drag3", "coll_type": "Communauté d'agglomération",
        "nom_projet": "Comptes rendus des conseils communautaires",
        "projet_date": "06/2024", "projet_status": "En expérimentation",
        "usage_description": "Transcription et synthèse des séances.",
        "theme": "Administration et organisation interne",
        "sous_theme": ["Gestion des assemblées"], "audience_service": ["Agent", "Élu"],
        "nom_algorithme": "Transcription", "type_algorithme": ["IA générative"],
        "submitted_at": "2025-09-22T09:02:00.000Z",
    },
    {
        "key": "lacq-orthez-risques", "coll_nom": "Communauté de Communes de Lacq-Orthez",
        "siren": "246400337", "coll_type": "CC", "nom_projet": "Surveillance des crues",
        "projet_date": "2024-02-15", "projet_status": "En expérimentation",
        "usage_description": "Anticiper les crues du gave de Pau à partir des capteurs.",
        "theme": "Transition écologique et énergétique",
        "sous_theme": ["Prévention et gestion des risques"],
        "audience_service": ["Agent", "Grand public"], "nom_algorithme": "Prévision des crues",
        "donnees_source": ["Open data", "Jeu de données interne"],
        "submitted_at": "2025-10-01T06:45:00.000Z",
    },
    {
        "key": "valois-agriculture", "coll_nom": "Communauté de Communes du Pays de Valois",
        "siren": "246000749", "coll_type": "Communauté de communes",
        "nom_projet": "Suivi des cultures par satellite",
        "projet_date": "04/2025", "projet_status": "En réflexion",
        "usage_description": "Suivi de l'état des parcelles agricoles.",
        "theme": "Attractivité et développement", "sous_theme": ["Agriculture"],
        "audience_service": ["Entreprises"], "type_algorithme": ["Vision par ordinateur"],
        "nom_algorithme": "Segmentation de parcelles",
        "submitted_at": "2025-10-08T10:10:00.000Z",
    },
    {
        "key": "gps-stationnement", "coll_nom": "Grand Paris Sud Agglomération",
        "siren": "200059228", "coll_type": "Communauté d'agglomération",
        "nom_projet": "Occupation du stationnement en gare",
        "projet_date": "2024-09-01", "projet_status": "En déploiement",
        "usage_description": "Compte les places libres des parkings relais.",
        "theme": "Mobilités", "sous_theme": ["Stationnement", "Mobilité décarbonnée"],
        "audience_service": ["Grand public"], "type_algorithme": ["Vision par ordinateur"],
        "nom_algorithme": "Comptage de places", "submitted_at": "2025-10-20T17:30:00.000Z",
    },
    {
        "key": "vire-noireau-tourisme", "coll_nom": "Intercommunalité de la Vire au Noireau",
        "siren": "200068914", "coll_type": "EPCI", "nom_projet": "Fréquentation touristique",
        "projet_date": "05/2025", "projet_status": "En réflexion",
        "usage_description": "Estimer la fréquentation des sites touristiques.",
        "theme": "Attractivité et aménagement", "sous_theme": ["Tourisme et patrimoine"],
        "audience_service": ["Entreprises", "Élu"], "nom_algorithme": "Estimation de flux",
        "submitted_at": "2025-11-05T09:20:00.000Z",
    },
    {
        "key": "clermont-jumeau", "coll_nom": "Clermont Auvergne Métropole",
        "siren": "246300701", "coll_type": "Métropole", "nom_projet": "Jumeau numérique urbain",
        "projet_date": "03/2024", "projet_status": "En expérimentation",
        "usage_description": "Simuler les projets d'aménagement sur une maquette 3D.",
        "theme": "Gouvernance et socles technologiques",
        "sous_theme": ["Modélisation et jumeau numérique"], "audience_service": ["Agent", "Élu"],
        "nom_algorithme": "Jumeau numérique", "submitted_at": "2025-11-18T13:00:00.000Z",
    },
    {
        "key": "mgp-donnees", "coll_nom": "Métropole du Grand Paris", "siren": "200054781",
        "coll_type": "Métropole", "nom_projet": "Plateforme de données métropolitaine",
        "projet_date": "01/2023", "projet_status": "En déploiement",
        "usage_description": "Mutualiser les données des 130 communes.",
        "theme": "Socles technologiques", "sous_theme": ["Plateforme de données"],
        "audience_service": ["Collectivités"], "nom_algorithme": "Entrepôt et API",
        "type_algorithme": ["Ne sait pas"], "submitted_at": "2025-12-01T08:00:00.000Z",
    },
    {
        "key": "parthenay-inclusion", "coll_nom": "Ville de Parthenay", "siren": "217902024",
        "coll_type": "Commune", "nom_projet": "Aide aux démarches en ligne",
        "projet_date": "10/2025", "projet_status": "Abandonnée",
        "usage_description": "Un assistant devait guider les habitants dans leurs démarches.",
        "theme": "Citoyenneté, santé et solidarité", "sous_theme": ["Inclusion numérique"],
        "audience_service": ["Grand public", "Bénéficiaire"], "nom_algorithme": "Assistant",
        "type_algorithme": ["IA générative"], "submitted_at": "2026-01-12T10:00:00.000Z",
    },
    {
        "key": "est-ensemble-social", "coll_nom": "Est Ensemble", "siren": "200057875",
        "coll_type": "EPT", "nom_projet": "Orientation des demandes d'aide sociale",
        "projet_date": "2025-01-20", "projet_status": "En réflexion",
        "status_abandon": None,
        "usage_description": "Orienter les demandes vers le bon guichet.",
        "theme": "Citoyenneté et solidarité", "sous_theme": ["Santé et accès aux soins"],
        "audience_service": ["Bénéficiaire", "Association", "Etablissement santé"],
        "nom_algorithme": "Orientation", "submitted_at": "2026-01-20T10:00:00.000Z",
    },
    {
        "key": "gironde-juridique", "coll_nom": "Département de la Gironde",
        "siren": "223300012", "coll_type": "Département",
        "nom_projet": "Assistant de recherche juridique",
        "projet_date": "2025-06-01", "projet_status": "En expérimentation",
        "usage_description": "Recherche dans la jurisprudence et les délibérations.",
        "theme": "Administration et organisation interne", "sous_theme": ["Aide juridique"],
        "audience_service": ["Agent"], "type_algorithme": ["IA générative"],
        "nom_algorithme": "=Assistant juridique", "submitted_at": "2026-02-10T09:00:00.000Z",
    },
    {
        "key": "syndicat-energie", "coll_nom": "Syndicat départemental d'énergie de la Manche",
        "siren": "255001208", "coll_type": "Syndicat", "nom_projet": "Maintenance prédictive des bornes",
        "projet_date": "2024-11-04", "projet_status": "En déploiement",
        "usage_description": "Anticiper les pannes des bornes de recharge.",
        "theme": "Mobilités", "sous_theme": ["Mobilité décarbonée"],
        "audience_service": ["Grand public"], "nom_algorithme": "Prédiction de pannes",
        "submitted_at": "2026-03-03T09:00:00.000Z",
    },
    {
        "key": "nord-cyber", "coll_nom": "Département du Nord", "siren": "225900018",
        "coll_type": "Département", "nom_projet": "Détection d'intrusions",
        "projet_date": "2024-05-01", "projet_status": "En déploiement",
        "usage_description": "Repérer les comportements anormaux sur le réseau.",
        "theme": "Gouvernance et socles technologiques", "sous_theme": ["Cybersécurité"],
        "audience_service": ["Agent"], "nom_algorithme": "Détection d'anomalies",
        "submitted_at": "2026-03-19T09:00:00.000Z",
    },
    {
        "key": "amp-callbot-v2", "same_as": "amp-callbot", "projet_status": "En déploiement",
        "usage_description": (
            "Un agent conversationnel automatisé traite les appels liés à la levée des "
            "encombrants.\nObjectif de 30 % de baisse du temps d'attente moyen : en passe "
            "d'être atteint."
        ),
        "submitted_at": "2026-04-07T10:30:00.000Z",
    },
    {
        "key": "toulouse-urbanisme", "coll_nom": "Toulouse Métropole", "siren": "243100518",
        "coll_type": "Métropole", "nom_projet": "Instruction des permis de construire",
        "projet_date": "2025-02-01", "projet_status": "En expérimentation",
        "usage_description": "Pré-contrôle de la complétude des dossiers d'urbanisme.",
        "theme": "Attractivité et aménagement", "sous_theme": ["Construction et aménagement"],
        "audience_service": ["Agent", "Entreprises"], "nom_algorithme": "Pré-instruction",
        "type_algorithme": ["Traitement automatique du langage"],
        "submitted_at": "2026-05-05T09:00:00.000Z",
    },
    {
        "key": "lyon-culture", "coll_nom": "Ville de Lyon", "siren": "216901231",
        "coll_type": "Commune", "nom_projet": "Recommandation d'événements culturels",
        "projet_date": "09/2025", "projet_status": "En réflexion",
        "usage_description": "Suggérer des sorties selon les centres d'intérêt.",
        "theme": "Attractivité et aménagement", "sous_theme": ["Culture et loisirs"],
        "audience_service": ["Grand public"], "nom_algorithme": "Recommandation",
        "submitted_at": "2026-06-01T09:00:00.000Z",
    },
    {
        "key": "nantes-logistique", "coll_nom": "Nantes Métropole", "siren": "244400404",
        "coll_type": "Métropole", "nom_projet": "Optimisation des livraisons en centre-ville",
        "projet_date": "2025-03-01", "projet_status": "En expérimentation",
        "usage_description": "Planifier les créneaux de livraison.",
        "theme": "Mobilités", "sous_theme": ["Logistique urbaine"],
        "audience_service": ["Entreprises"], "nom_algorithme": "Optimisation de tournées",
        "submitted_at": "2026-06-15T09:00:00.000Z",
    },
    {
        "key": "rennes-immobilier", "coll_nom": "Rennes Métropole", "siren": "243500139",
        "siret_typed": "dotted", "coll_type": "Métropole",
        "nom_projet": "Observatoire des loyers",
        "projet_date": "2024-10-01", "projet_status": "En déploiement",
        "usage_description": "Estimer les loyers à partir des annonces.",
        "theme": "Attractivité et aménagement", "sous_theme": ["Immobilier"],
        "audience_service": ["Grand public", "Élu"], "nom_algorithme": "Estimation des loyers",
        "submitted_at": "2026-07-01T09:00:00.000Z",
    },
    {
        "key": "paris-accessibilite", "coll_nom": "Ville de Paris", "siren": "217500016",
        "coll_type": "Commune", "nom_projet": "Cartographie de l'accessibilité des trottoirs",
        "projet_date": "2025-05-01", "projet_status": "En expérimentation",
        "usage_description": "Repérer les obstacles pour les personnes en fauteuil.",
        "theme": "Citoyenneté, santé et solidarité", "sous_theme": ["Accessibilité et handicap"],
        "audience_service": ["Grand public"], "nom_algorithme": "Détection d'obstacles",
        "type_algorithme": ["Vision par ordinateur"], "submitted_at": "2026-07-20T09:00:00.000Z",
    },
    {
        "key": "grenoble-commerce", "coll_nom": "Grenoble-Alpes Métropole", "siren": "200040715",
        "coll_type": "Métropole", "nom_projet": "Vacance commerciale",
        "projet_date": "2025-09-01", "projet_status": "En réflexion",
        "usage_description": "Anticiper la vacance des locaux commerciaux.",
        "theme": "Attractivité et aménagement",
        "sous_theme": ["Développement économique et commerce"],
        "audience_service": ["Entreprises", "Élu"], "nom_algorithme": "Score de vacance",
        "submitted_at": "2026-08-03T09:00:00.000Z",
    },
    # -- submissions that cannot be published as sent -----------------------------------
    {
        "key": "clermont-environnement", "coll_nom": "Clermont Auvergne Métropole",
        "siren": "246300701", "coll_type": "Métropole",
        "nom_projet": "Suivi de la canopée urbaine",
        "projet_date": "2025-04-01", "projet_status": "En déploiement",
        "usage_description": "Mesurer la couverture arborée sur les images aériennes.",
        "theme": "Environnement",  # not in the taxonomy: held until a curator adds an alias
        "sous_theme": ["Biodiversité"], "audience_service": ["Agent"],
        "nom_algorithme": "Segmentation de la canopée",
        "submitted_at": "2026-08-20T09:00:00.000Z",
    },
    {
        "key": "lacq-sans-theme", "coll_nom": "Communauté de Communes de Lacq-Orthez",
        "siren": "246400337", "coll_type": "Communauté de communes",
        "nom_projet": "Chatbot des déchetteries", "projet_date": "13/2025",
        "projet_status": "En réflexion",
        "usage_description": "Horaires et consignes de tri.",
        "theme": None, "audience_service": ["Grand public"], "nom_algorithme": "Chatbot",
        "url_infos": "voir le site de la CC", "image": None,
        "submitted_at": "2026-09-01T09:00:00.000Z",
    },
    {
        "key": "mel-marches-v2", "same_as": "mel-marches", "projet_status": "En déploiement",
        "projet_contact": "Achats-IA@Lillemetropole.fr",
        "submitted_at": "2026-09-15T09:00:00.000Z",
    },
    {
        "key": "gps-eclairage", "coll_nom": "Grand Paris Sud Agglomération",
        "siren": "200059228", "coll_type": "Communauté d'agglomération",
        "nom_projet": "Gradation de l'éclairage public",
        "projet_date": "2025-10-01", "projet_status": "En expérimentation",
        "usage_description": "Réduire l'éclairage aux heures creuses.",
        "theme": "Transition écologique et énergétique", "sous_theme": ["Éclairage public"],
        "audience_service": ["Grand public"], "nom_algorithme": "Gradation",
        "submitted_at": "2026-10-01T09:00:00.000Z",
    },
    {
        "key": "occitanie-lycees-v2", "same_as": "occitanie-lycees",
        "projet_status": "Terminée",
        "submitted_at": "2026-10-20T09:00:00.000Z",
    },
    {
        "key": "nantes-energie", "coll_nom": "Nantes Métropole", "siren": "244400404",
        "coll_type": "Métropole", "nom_projet": "Prévision de la consommation des piscines",
        "projet_date": "2026-01-01", "projet_status": "En expérimentation",
        "usage_description": "Piloter le chauffage des bassins.",
        "theme": "Transition écologique et énergétique", "sous_theme": ["Performance énergétique"],
        "audience_service": ["Agent"], "nom_algorithme": "Prévision thermique",
        "submitted_at": "2026-11-02T09:00:00.000Z",
    },
]

# Started and never finished: Tally keeps them as partial submissions; never loaded.
PARTIAL: list[dict[str, Any]] = [
    {"key": "partial-1", "coll_nom": "Ville de Noisy-le-Grand", "siren": "219300514",
     "nom_projet": "Vidéoprotection", "submitted_at": "2026-05-10T09:00:00.000Z"},
    {"key": "partial-2", "coll_nom": "Bordeaux Métropole", "siren": "243300316",
     "submitted_at": "2026-09-30T09:00:00.000Z"},
]
