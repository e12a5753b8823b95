"""Modules (ESP32 devices): list, status, history, configuration."""
