"""Live events for dashboards over Socket.IO (contract: docs/live-events.md).

`events` names and builds the payloads, `access` reads the connect `auth` and checks tokens and
origins, `fanout` delivers to each client what it asked for, `engine` holds engine.io's side
(bounded per-client queues, live packets as prebuilt WebSocket frames), `coalesce` uvicorn's
(one socket write per client per loop iteration, prebuilt frames written as they are), `lag`
measures event-loop lag. The plugin that wires them to the server and the ingest path is
`sensorhub.plugins.socketio`.
"""
