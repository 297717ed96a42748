# berth as a container image: a build stage compiles it (better-sqlite3 from source) and drops the dev dependencies;
# the runtime stage holds Node.js 20 and berth only, runs as a non-root user and keeps its data in the /data volume.
#
#   docker build -t berth .
#   docker run -d -p 5000:5000 -v berth-data:/data berth
#
# See docs/deploy.md (a container image) for PostgreSQL, a shared store and the settings that matter.

FROM node:20-bookworm-slim AS build
# better-sqlite3 is compiled from source (.prebuild-installrc: buildFromSource=true): node-gyp needs python3, make and g++
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
# the Node.js headers the image ships, so that node-gyp does not download them
ENV npm_config_nodedir=/usr/local
WORKDIR /src
COPY package.json package-lock.json .prebuild-installrc ./
# dependencies first, in a layer of their own (rebuilt only when the lock file changes); --ignore-scripts holds
# back `prepare` (the build, which needs the sources), so better-sqlite3's install script is run by itself after
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
RUN groupadd --system --gid 10001 berth \
  && useradd --system --uid 10001 --gid berth --home-dir /data --no-create-home --shell /usr/sbin/nologin berth \
  && mkdir /data \
  && chown berth:berth /data
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/node_modules ./node_modules
USER berth
VOLUME /data
EXPOSE 5000
# the process answers (GET /healthz); /readyz also checks the database and the store
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/berth.js"]
CMD ["serve", "--listen", "0.0.0.0:5000", "--data", "/data"]
