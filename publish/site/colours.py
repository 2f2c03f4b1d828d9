"""The colours of the themes: the points on the site's map and on the Datami feed's."""

# Colours of the points on the map, by theme code (`taxonomy.yaml`): the current site's.
THEME_COLOURS = {
    "transition_ecologique": "#01a755",
    "attractivite_amenagement": "#9a42c9",
    "citoyennete_sante_solidarite": "#f75ad6",
    "mobilites": "#ff834e",
    "gouvernance_socles": "#6992ff",
    "administration_interne": "#5b7f28",
}
OTHER_COLOUR = "#4a4a55"
