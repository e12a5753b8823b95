"""Zones: named places (a room, a greenhouse) that group modules; a module is in at most one."""
