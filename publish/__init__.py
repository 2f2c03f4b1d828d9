"""What is published and how: the exports, the site and the feed; later, delivery to remote places.

Between `warehouse/` (what is stored) and `bibia/` (the application): it takes values, never
the run's context or the settings.
"""
