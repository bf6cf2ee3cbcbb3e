"""SIEM forwarding: ticket and alert events from the outbox to Splunk, Elastic and IBM QRadar.

A routing rule whose destination is ``splunk:<name>``, ``elastic:<name>`` or ``qradar:<name>`` gets one outbox row
per matching event; the settings (``PSA_SIEM_SPLUNK``, ``PSA_SIEM_ELASTIC``, ``PSA_SIEM_QRADAR``) name the endpoint
of each ``<name>``. The pieces, each in its own module:

- ``record``: an outbox payload -> ``SiemRecord``, the one neutral reading every format renders from;
- ``hec_format``, ``ecs_format``, ``leef_format``, ``syslog_format``: pure renderers of the wire formats;
- ``batching``: deliveries that arrive together leave in one request (or one socket write);
- ``splunk``, ``elastic``, ``qradar``: the notifiers; ``build.siem_notifiers`` wires them from settings.

Retries, backoff, ``Retry-After`` and the circuit breaker stay where they are for every notifier: in the outbox
dispatcher. A notifier only says, per delivery, delivered or which ``DeliveryError``.
"""

from __future__ import annotations

SPLUNK_KIND = "splunk"
ELASTIC_KIND = "elastic"
QRADAR_KIND = "qradar"
SIEM_KINDS = frozenset({SPLUNK_KIND, ELASTIC_KIND, QRADAR_KIND})
