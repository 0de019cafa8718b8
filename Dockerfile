# Lumen worker image. glibc base (Temporal's core-bridge does not load on musl/Alpine), with Python for the
# set-up's PyPI downloads and a C++ toolchain for the native addons (tfjs-node, better-sqlite3).
FROM node:20-bookworm-slim

RUN apt-get update \
  && apt-get install -y --no-install-recommends ca-certificates python3 python3-pip python3-venv build-essential git \
  && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json .npmrc ./
COPY tools ./tools
# Installs npm deps and builds tfjs-node against libtensorflow from the tensorflow-cpu wheel.
# Workers need no Temporal CLI: they connect to the server service.
# (the wheel and the unpacked libraries are kept out of the image: what the addon needs is linked into node_modules)
RUN LUMEN_CACHE_DIR=/tmp/lumen-setup-cache node tools/setup.mjs --no-temporal && rm -rf /tmp/lumen-setup-cache

COPY . .
# compiles the workers and the CLI into dist/ (the dependencies above are already in place)
RUN node tools/setup.mjs --no-temporal --quiet
ARG LUMEN_CODE_VERSION=unknown
ENV LUMEN_CODE_VERSION=${LUMEN_CODE_VERSION} NODE_ENV=production

ENTRYPOINT ["node"]
CMD ["dist/worker/main.js"]
