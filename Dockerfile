# One image for every process: the command picks the role.
#   docker run IMAGE python index.py api
#   docker run IMAGE python index.py worker --pool model,chatbot
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY requirements.lock pyproject.toml ./
RUN pip install uv && uv pip install --system -r requirements.lock
COPY . .
RUN useradd --uid 10001 --no-create-home aim && mkdir -p /app/.data && chown aim /app/.data
USER aim
# Processes bind loopback unless told otherwise; in a container they must listen on every interface.
ENV APP_HOST=0.0.0.0 APP_METRICS_HOST=0.0.0.0
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\",\"8080\")}/healthcheck', timeout=2)"
CMD ["gunicorn", "index:app", "-c", "gunicorn.conf.py"]
