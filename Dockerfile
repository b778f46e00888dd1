# syntax=docker/dockerfile:1
# The operator image: compiled JavaScript and production dependencies on
# Node.js 24, run as a non-root numeric user, fine with a read-only root
# filesystem (it writes nothing but stdout). Build with `make image`.
#
# The base images are build arguments: the defaults are the published images;
# `make image` passes local stand-ins made from Debian's archive and the npm
# registry (hack/image/bases.sh) where no container registry is reachable.
ARG BUILD_IMAGE=node:24-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the base image has Node.js 24, so the `node` devDependency
# (which downloads a Node.js binary for local development) is not needed here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Then only what runs: the production dependencies, without the tests, type
# declarations and source maps their packages ship (nothing loads them at run
# time; about a third of node_modules).
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && find node_modules -type d \( -name test -o -name tests -o -name __tests__ \) -prune -exec rm -rf {} + \
 && find node_modules -type f \( -name '*.test.*' -o -name '*.spec.*' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete

FROM ${RUNTIME_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG RUNTIME_IMAGE
LABEL org.opencontainers.image.title="security-baseline-operator" \
      org.opencontainers.image.description="Gives every selected Kubernetes namespace a security baseline and keeps it there" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
ENV NODE_ENV=production OPERATOR_VERSION=${VERSION}
USER 65532:65532
EXPOSE 8443 8081
ENTRYPOINT ["/nodejs/bin/node", "dist/main.js"]
