# The Cloud Run image of the gateway (functions/cloudrun): a static binary on
# distroless/static (CA roots, /etc/passwd with the non-root user 65532, no
# shell), with config.yaml beside it (config.example.yaml if the repository
# has no config.yaml). It writes nothing to disk: a read-only root is fine.
#
# `gcloud run deploy --source .` builds this file: gcloud only looks for a
# Dockerfile at the root of the source, so it lives here and infra/Dockerfile
# links to it. `make image` assembles the same filesystem without a Docker
# daemon (infra/image).
ARG GO_VERSION=1.26

FROM golang:${GO_VERSION} AS build
# BuildKit sets these for --platform builds; Cloud Run runs linux/amd64.
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# The Makefile's Cloud Run build for the bundled config (make print-tags),
# with the stores CLOUDRUN_STORE asks for: Firestore, the state store
# infra/service.yaml and scripts/deploy-cloudrun.sh give the service
# (--build-arg CLOUDRUN_STORE=firestore,redis adds Redis; "" the lean build).
ARG CLOUDRUN_STORE=firestore
RUN tags=$(make -s print-tags CLOUDRUN_STORE="$CLOUDRUN_STORE" | sed -n 's/^cloudrun //p') \
 && echo "gateway build tags: $tags" \
 && CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
    go build -tags "$tags" -trimpath -ldflags="-s -w" -o /out/app/gateway ./functions/cloudrun
RUN if [ -f config.yaml ]; then cp config.yaml /out/app/config.yaml; \
    else cp config.example.yaml /out/app/config.yaml; fi \
 && chmod 0444 /out/app/config.yaml

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/app /app
WORKDIR /app
# Cloud Run sets PORT itself; this is for `docker run -p 8080:8080`.
ENV PORT=8080
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["/app/gateway"]
