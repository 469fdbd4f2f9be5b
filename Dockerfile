# Multi-stage build: compile in the Rust image, run on a slim Debian with only the binary and demo data.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
COPY benches ./benches
RUN cargo build --release --locked --bin genfab

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/genfab --create-home genfab
COPY --from=build /src/target/release/genfab /usr/local/bin/genfab
COPY data /usr/share/genfab/data
USER genfab
WORKDIR /var/lib/genfab
ENV GENFAB_BIND=0.0.0.0:8080 GENFAB_STATE_DIR=/var/lib/genfab GENFAB_DATA_DIR=/usr/share/genfab/data GENFAB_LOG_FORMAT=json
EXPOSE 8080
ENTRYPOINT ["genfab"]
CMD ["serve"]
