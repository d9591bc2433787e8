"""Household visits 入户走访 and patrols 巡查 with check-ins 打卡: a grid worker's daily job besides reports.

Modules: ``rules`` (the far threshold and the visit targets: the one place they are set), ``log``
(logging and listing visits), ``patrols`` (tracks and check-ins), ``status`` (days since the last
visit per household, who is behind), ``retention`` (the purge of workers' positions). The worker's
positions in these logs are their personal data (行踪轨迹), treated like position history
(geo/emergency/positions.py): exact only to themselves or with ``pii:read`` and a purpose, purged
after the retention period.
"""
