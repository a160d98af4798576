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
# SIGTERM (docker stop) makes the bot finish handlers, save its state and exit within 10 s.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
