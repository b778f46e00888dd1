# syntax=docker/dockerfile:1
# The operator image: compiled JavaScript and production dependencies on
# Node.js 24, run as a non-root numeric user, fine with a read-only root
# filesystem (it writes nothing but stdout). Build with `make image`.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the base image has Node.js 24, so the `node` devDependency
# (which downloads a Node.js binary for local development) is not needed here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM gcr.io/distroless/nodejs24-debian12:nonroot AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="security-baseline-operator" \
      org.opencontainers.image.description="Gives every selected Kubernetes namespace a security baseline and keeps it there" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
ENV NODE_ENV=production OPERATOR_VERSION=${VERSION}
USER 65532:65532
EXPOSE 8443 8081
ENTRYPOINT ["/nodejs/bin/node", "dist/main.js"]
