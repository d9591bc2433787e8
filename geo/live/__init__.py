"""The live stream (issue 15): new and changed events and responders' moves, pushed to open maps.

PostgreSQL announces every committed write with NOTIFY (migration 0022: triggers, ids only); each
server process listens on one connection (``listener``), reads the changed rows once (``rows``) and
hands each subscriber what its territory and permissions allow (``hub``). No web framework here:
api/routes/live.py turns a subscription into server-sent events.
"""
