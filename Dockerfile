# orgd in a container: built in one stage, run in a second that holds only
# the binary (distroless: no shell, no package manager) as a non-root user.
#   docker build -t orgd .
#   docker run -p 8080:8080 -v orgd-data:/var/lib/orgd orgd
# The root key is printed once, at the first start: docker logs <container>.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin orgd \
 && mkdir -p /out/var/lib/orgd \
 && cp target/release/orgd /out/orgd

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/orgd /usr/local/bin/orgd
# The database's directory, owned by the image's non-root user (65532) so
# that a new named volume mounted there is writable.
COPY --from=build --chown=65532:65532 /out/var/lib/orgd /var/lib/orgd
USER 65532:65532
ENV ORGD_LISTEN=:8080 \
    ORGD_DATABASE_URL=sqlite:///var/lib/orgd/orgd.db \
    ORGD_LOG_FORMAT=json
VOLUME ["/var/lib/orgd"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/orgd"]
CMD ["serve"]
