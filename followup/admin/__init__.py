"""The follow-up's admin: its site (`site.py`, the staff's worklist as landing page), the
clinic scoping every admin page stands on (`scoping.py`), and its pages (`pages.py`
lists them; followup.apps.FollowupAdminConfig imports it once the site exists).

Nothing is imported here on purpose: Django imports this package while it builds the
admin site (the site's class is in it), and a page registered during that build would go
to a site Django then replaces.
"""
