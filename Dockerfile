# sensorhub: one instance per container. See docs/deployment.md (deploy/compose.yaml runs two).
#
#   docker build -t sensorhub .
#   docker run -e DATABASE_URL=... -e MQTT_URL=... -e SENSORHUB_API_TOKEN=... -p 8000:8000 sensorhub
#
# The server binds 0.0.0.0 here, so it refuses to start without SENSORHUB_API_TOKEN (or
# ALLOW_ANONYMOUS_WRITES=true): writes through the API must not be open to the network.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/sensorhub --create-home sensorhub \
    && mkdir -p /var/lib/sensorhub/data \
    && chown sensorhub:sensorhub /var/lib/sensorhub/data \
    && rm -rf /src

USER sensorhub
WORKDIR /var/lib/sensorhub
# The durable spool lives here: give every instance its own volume so a restart replays it.
ENV DATA_DIR=/var/lib/sensorhub/data
VOLUME ["/var/lib/sensorhub/data"]

EXPOSE 8000
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4).status != 200)"]
CMD ["sensorhub", "serve", "--host", "0.0.0.0"]
