# One image for every Colmena process; the command picks the service:
#   docker run colmena services/gateway/src/main.ts
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY libs/protocol/package.json libs/protocol/
COPY libs/runtime/package.json libs/runtime/
COPY libs/client/package.json libs/client/
COPY libs/testing/package.json libs/testing/
COPY services/ services/
COPY cli/package.json cli/
RUN find services -type f ! -name package.json -delete && npm ci --omit=dev --no-audit --no-fund && npm install --no-save tsx

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production COLMENA_HOST=:: COLMENA_DATA_DIR=/data
COPY --from=deps /app/node_modules node_modules
COPY . .
RUN mkdir -p /data && chown node /data
USER node
ENTRYPOINT ["node", "--import", "tsx"]
CMD ["services/gateway/src/main.ts"]
