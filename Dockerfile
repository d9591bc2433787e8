FROM python:3.11-slim
RUN apt-get update -q && apt-get install -y -q --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY . .
RUN pip install --no-cache-dir -e . && npm ci --prefix api/web --ignore-scripts --no-audit --no-fund
EXPOSE 8000
