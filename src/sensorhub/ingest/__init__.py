"""Pure ingest logic: MQTT topic and payload in, a typed accept/reject decision out."""
