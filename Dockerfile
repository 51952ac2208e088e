# tgdesk in a container: built in a Rust image, run from a slim Debian one
# as an unprivileged user. See docs/deploy.md.
#
#   docker build -t tgdesk .
#   docker run -p 127.0.0.1:8080:8080 -v tgdesk-data:/var/lib/tgdesk \
#     -e TGDESK_API_ID=… -e TGDESK_API_HASH=… \
#     -e TGDESK_VAULT_KEY_FILE=/run/secrets/vault.keys \
#     -v /etc/tgdesk/vault.keys:/run/secrets/vault.keys:ro tgdesk

FROM rust:1-slim-bookworm AS build
WORKDIR /src
# The whole workspace: Cargo.lock pins every crate, templates, static files
# and migrations are compiled into the binary.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tgdesk --bin tgdesk \
    && cp target/release/tgdesk /usr/local/bin/tgdesk

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tini \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 tgdesk \
    && useradd --system --uid 10001 --gid tgdesk --home-dir /var/lib/tgdesk --shell /usr/sbin/nologin tgdesk \
    && install -d -o tgdesk -g tgdesk -m 0700 /var/lib/tgdesk
COPY --from=build /usr/local/bin/tgdesk /usr/local/bin/tgdesk

USER tgdesk:tgdesk
WORKDIR /var/lib/tgdesk
VOLUME ["/var/lib/tgdesk"]
# Inside the container tgdesk must listen on every interface; publish the
# port on the host's loopback only and put the TLS proxy in front.
ENV TGDESK_LISTEN=0.0.0.0:8080 \
    TGDESK_DATABASE_URL=sqlite:///var/lib/tgdesk/tgdesk.db
EXPOSE 8080
# tini forwards SIGTERM, so `docker stop` is a clean shutdown (sessions flushed).
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/tgdesk"]
CMD ["serve"]
