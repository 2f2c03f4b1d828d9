"""Delivery to the places people read the register: git repositories (the site on GitHub
Pages, the current site's feed) and the open data portal (data.gouv.fr)."""
