"""Infrastructure with a start and a stop: database, broker, Socket.IO, embedded servers."""
