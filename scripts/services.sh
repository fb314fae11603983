# Sourced by scripts/test and .ci/run: makes sure what the tests need is there.
# Every step is idempotent and says what it does.

# PostgreSQL: the machine's local server (127.0.0.1:5432, trust auth, database `test`).
ensure_postgres() {
    if [ -z "${TENANT_ACCESS_PG_URL:-}" ]; then
        export TENANT_ACCESS_PG_URL="postgres://postgres@127.0.0.1:5432/test"
    fi
    if command -v pg_isready >/dev/null 2>&1 && ! pg_isready -q -h 127.0.0.1 -p 5432; then
        echo "services: PostgreSQL is not answering on 127.0.0.1:5432; trying to start it"
        if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
            pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
        fi
        for _ in $(seq 1 20); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    fi
    if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
        echo "services: PostgreSQL ready at $TENANT_ACCESS_PG_URL"
    else
        echo "services: WARNING: no PostgreSQL reachable; the PostgreSQL tests will say they did not run" >&2
        unset TENANT_ACCESS_PG_URL
    fi
}

# aiosmtpd: the real SMTP server the SMTP integration tests start on 127.0.0.1.
ensure_aiosmtpd() {
    local python="${TENANT_ACCESS_PYTHON:-python3}"
    if ! "$python" -c 'import aiosmtpd' >/dev/null 2>&1; then
        echo "services: installing aiosmtpd for the SMTP tests"
        "$python" -m pip install --quiet 'aiosmtpd==1.4.6'
    fi
    echo "services: aiosmtpd ready ($("$python" -c 'import aiosmtpd; print(aiosmtpd.__version__)'))"
}

# The OIDC integration tests' authorization server (npm `oidc-provider`, run with Node.js):
# installs its locked packages once. The tests fail, naming this command, when they are missing.
ensure_oidc_server() {
    local dir=tests/support/oidc-server
    if [ ! -f "$dir/node_modules/oidc-provider/package.json" ]; then
        echo "services: installing the OIDC test server: npm ci --prefix $dir"
        npm ci --prefix "$dir" --no-audit --no-fund
    fi
    echo "services: OIDC test server packages ready ($(node --version))"
}

# Debian's chromium and chromedriver, for the web wizard's browser tests (tests/web_e2e.rs).
# Installs them with apt-get only when /usr/bin/chromedriver is missing; the tests read
# TENANT_ACCESS_CHROMEDRIVER and say loudly that they did not run without it.
ensure_chromium() {
    if [ ! -x /usr/bin/chromedriver ]; then
        echo "services: installing chromium and chromium-driver for the browser tests (apt-get)"
        local sudo=""
        if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
        $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q chromium chromium-driver
    fi
    if [ -x /usr/bin/chromedriver ]; then
        export TENANT_ACCESS_CHROMEDRIVER=/usr/bin/chromedriver
        echo "services: chromedriver ready ($(/usr/bin/chromedriver --version | head -1))"
    else
        echo "services: WARNING: no chromedriver; the browser tests will say they did not run" >&2
    fi
}
