# The Drover image: the `drover` binary on Debian 12, run as uid 65532. The Helm chart
# (helm/drover) runs it as `drover controller ...`; every other command is in it too.
#
#   docker build -t REGISTRY/drover:0.1.0 .
#   docker run --rm REGISTRY/drover:0.1.0 version
#
# Stage "build": the Debian packages of `scripts/setup.sh --build-only` and a Release build.
# Stage 2: debian:12-slim with only the shared libraries the binary links, by package name
# (tests/deploy checks that `ldd drover` is covered by this list), and the binary.

FROM debian:12 AS build
WORKDIR /src
# The package step first, so that it stays cached while only the sources change.
COPY scripts/setup.sh scripts/setup.sh
RUN bash scripts/setup.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DDROVER_WERROR=ON \
      -DDROVER_BUILD_TESTS=OFF -DDROVER_BUILD_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" --target drover \
 && strip /build/drover \
 && /build/drover version

FROM debian:12-slim
ARG DEBIAN_FRONTEND=noninteractive
# One package per shared library of `ldd drover`, and CA certificates for HTTPS clients
# (`drover agent`, `drover apply` against a TLS controller).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates \
      libbrotli1 \
      libc6 \
      libcpprest2.10 \
      libgcc-s1 \
      libprometheus-cpp-core1.0 \
      libsqlite3-0 \
      libssl3 \
      libstdc++6 \
      libyaml-cpp0.7 \
      zlib1g \
 && rm -rf /var/lib/apt/lists/*
# A named user for uid 65532 (the chart's runAsUser), owning the default data dir.
RUN groupadd --system --gid 65532 drover \
 && useradd --system --uid 65532 --gid 65532 --home-dir /var/lib/drover --no-create-home \
      --shell /usr/sbin/nologin drover \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/drover
COPY --from=build /build/drover /usr/local/bin/drover
# Fails the build if a library is missing from the list above.
RUN ["/usr/local/bin/drover", "version"]
USER 65532:65532
WORKDIR /var/lib/drover
EXPOSE 9010
ENTRYPOINT ["/usr/local/bin/drover"]
CMD ["--help"]
