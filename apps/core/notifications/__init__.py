"""Notifications out: channels, routing rules, the events apps emit, their delivery (see
docs/notifications.md). Models live in models.py (apps/core/models.py imports them); apps call
`notification_emit` through apps.core.services, inside the transaction of the change. This
package's own __init__ imports nothing: core's models load it before the services exist."""
