"""Native intake from marketing-automation tools: one module per vendor, plus a generic mapping.

Each adapter is pure translation: a vendor's payload becomes ``VendorEvent``s holding the
canonical intake of SPEC section 3 (a dict for ``bot.intake.parse_data``), or says why an event
is skipped or rejected. ``bot.adapters.receive`` then takes every event down the same path as
``POST /webhooks/mql`` (validation, idempotency, MQL definition, outbox).

Keys: ``VendorEvent.key`` comes from the vendor's own ids (e.g. ``mautic:52:lead_points_change:
2017-06-19T09:33:59+00:00``) and becomes the ``external_id`` of a lead the event creates, so a
vendor's retry of the same event is a duplicate. ``VendorEvent.contact`` (e.g. ``mautic:52``)
names the person, so later events about the same person reach the lead already stored.

The shared types are in ``bot.adapters.events``; this package module imports nothing, since
``bot.policy`` imports ``bot.adapters.paths`` to check the mappings' paths.
"""
