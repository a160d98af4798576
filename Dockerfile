# The bot in a slim image: non-root, database on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/data/bot.sqlite3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install . \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin bot \
    && mkdir -p /data && chown bot /data

USER bot
VOLUME ["/data"]
# WEBHOOK_PORT (webhook mode) and METRICS_PORT, when they are set (the defaults used in
# compose.yaml).
EXPOSE 8080 9090
# With METRICS_PORT set, healthy = /healthz answers 200 (the database answers and updates are
# coming in); without it there is nothing to ask, and the check always passes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; p = os.environ.get('METRICS_PORT', '').strip(); p and r.urlopen(f'http://127.0.0.1:{p}/healthz', timeout=4)"]
# SIGTERM (docker stop) makes the bot finish handlers, save its state and exit within 10 s.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
