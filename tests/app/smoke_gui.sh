#!/usr/bin/env bash
# GUI smoke test: runs the real windows (Qt's xcb platform) on a private Xvfb display.
#
#   bash tests/app/smoke_gui.sh path/to/sotto
#
#   1. the broker console: `sotto broker --listen … --name smoke` shows "Sotto broker — smoke";
#      an invite is made while it runs; SIGTERM ends it with status 0
#   2. a headless phone enrols alice with that invite against a headless broker; SIGTERM → 0
#   3. the phone window for alice ("Sotto — alice") logs in to the broker; SIGTERM → 0
#   4. the phone window on a fresh profile ("Sotto — join a broker"); SIGTERM → 0
#   5. the windowed demo: "Sotto — alice/bob/carol" and "Sotto broker — demo"; SIGTERM → 0
#   6. the same across two brokers (demo --federated): "Sotto broker — a" and "— b" too
#
# Exit 0 when all pass, 1 on the first failure (with the process's last output), 77 (skipped) when
# Xvfb is not installed. Everything runs under a temporary HOME/XDG_* so the user's settings are
# never touched; all processes and temporary files are removed on exit.
# SOTTO_SMOKE_SHOTS=DIR: also save a screenshot of the demo there (needs ImageMagick's `import`).
# SOTTO_SMOKE_LOGS=DIR: keep every process's stdout/stderr there (CI artifacts).
# shellcheck disable=SC2317  # cleanup and the helpers behind wait_for run indirectly
set -uo pipefail

START=$SECONDS
log() { printf '[smoke %3ds] %s\n' $((SECONDS - START)) "$*"; }

if [ $# -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 path/to/sotto" >&2
    exit 2
fi
SOTTO=$1
case $SOTTO in /*) ;; *) SOTTO=$PWD/$SOTTO ;; esac
if [ ! -x "$SOTTO" ]; then
    echo "FAIL: $SOTTO is not an executable" >&2
    exit 1
fi
if ! command -v Xvfb >/dev/null 2>&1; then
    echo "SKIPPED: Xvfb is not installed (scripts/deps installs it)"
    exit 77
fi
if ! command -v xwininfo >/dev/null 2>&1; then
    echo "FAIL: xwininfo is not installed (package x11-utils; scripts/deps installs it)" >&2
    exit 1
fi

# --- private environment -------------------------------------------------------------------------
T=$(mktemp -d "${TMPDIR:-/tmp}/sotto-smoke.XXXXXX") || { echo "FAIL: mktemp" >&2; exit 1; }
chmod 700 "$T"
declare -A PID=()   # name -> pid of every process started here
XVFB_PID=""

cleanup() {
    local name pid
    for name in "${!PID[@]}"; do
        pid=${PID[$name]}
        kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null
    done
    for name in "${!PID[@]}"; do
        pid=${PID[$name]}
        for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    if [ -n "$XVFB_PID" ]; then
        kill -TERM "$XVFB_PID" 2>/dev/null
        wait "$XVFB_PID" 2>/dev/null
    fi
    if [ -n "${SOTTO_SMOKE_LOGS:-}" ] && mkdir -p "$SOTTO_SMOKE_LOGS"; then
        cp "$T"/log/* "$SOTTO_SMOKE_LOGS"/ 2>/dev/null
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -m 700 "$T/home" "$T/config" "$T/data" "$T/cache" "$T/run" "$T/tmp" "$T/log"
export HOME=$T/home XDG_CONFIG_HOME=$T/config XDG_DATA_HOME=$T/data XDG_CACHE_HOME=$T/cache
export XDG_RUNTIME_DIR=$T/run TMPDIR=$T/tmp XAUTHORITY=$T/Xauthority
unset QT_QPA_PLATFORM WAYLAND_DISPLAY DBUS_SESSION_BUS_ADDRESS SESSION_MANAGER
# In a non-UTF-8 locale xwininfo prints "(failure in conversion from UTF8_STRING …)" instead of a
# title with an em dash: run everything in a UTF-8 locale.
UTF8_LOCALE=$(locale -a 2>/dev/null | grep -iE '^c\.utf-?8$' | head -n 1)
[ -n "$UTF8_LOCALE" ] || UTF8_LOCALE=$(locale -a 2>/dev/null | grep -iE '\.utf-?8$' | head -n 1)
if [ -z "$UTF8_LOCALE" ]; then
    echo "FAIL: no UTF-8 locale installed (locale -a); xwininfo could not print the window titles" >&2
    exit 1
fi
export LC_ALL=$UTF8_LOCALE
unset LANGUAGE

# --- helpers -------------------------------------------------------------------------------------
show_output() { # name
    local f
    for f in "$T/log/$1.out" "$T/log/$1.err"; do
        [ -s "$f" ] || continue
        echo "---- last lines of $1's ${f##*.} ----" >&2
        tail -n 30 "$f" >&2
    done
}

ALSO_SHOW=""   # a process whose output every failure shows too (the broker a phone talks to)

fail() { # message [name whose output to show]...
    echo "FAIL: $1" >&2
    shift
    local n
    for n in "$@"; do show_output "$n"; done
    for n in $ALSO_SHOW; do [[ " $* " == *" $n "* ]] || show_output "$n"; done
    exit 1
}

alive() { # pid — false for a zombie too
    kill -0 "$1" 2>/dev/null || return 1
    [ -r "/proc/$1/stat" ] || return 0
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [ "${stat%% *}" != Z ]
}

start() { # name command...
    local name=$1
    shift
    "$@" >"$T/log/$name.out" 2>"$T/log/$name.err" &
    PID[$name]=$!
    log "started $name (pid ${PID[$name]}): ${*/#$SOTTO/sotto}"
}

exit_status() { # name — reaps it, prints its status
    local rc=0
    wait "${PID[$1]}" 2>/dev/null || rc=$?
    unset "PID[$1]"
    echo "$rc"
}

check_alive() { # name what-we-were-waiting-for
    if ! alive "${PID[$1]}"; then
        local rc
        rc=$(exit_status "$1")
        fail "$1 exited early (status $rc) while waiting for $2" "$1"
    fi
}

window_id() { # exact title — prints the id of a viewable top-level window with that title
    # xwininfo prints the UTF-8 title either raw or escaped (\342\200\224): let the em dash be
    # either, but anchor the rest of the title between its quotes.
    local pat=${1//—/[^\"]\{1,12\}} id
    for id in $(xwininfo -root -children 2>/dev/null |
                    grep -E "^[[:space:]]*0x[0-9a-fA-F]+ \"$pat\":" | awk '{print $1}'); do
        if xwininfo -id "$id" 2>/dev/null | grep -q 'Map State: IsViewable'; then
            echo "$id"
            return 0
        fi
    done
    return 1
}

wait_windows() { # name timeout-seconds title...
    local name=$1 timeout=$2
    shift 2
    local deadline=$((SECONDS + timeout)) title missing
    while :; do
        missing=()
        for title in "$@"; do window_id "$title" >/dev/null || missing+=("$title"); done
        [ ${#missing[@]} -eq 0 ] && break
        check_alive "$name" "its window(s) ${missing[*]}"
        if [ $SECONDS -ge $deadline ]; then
            echo "top-level windows on $DISPLAY:" >&2
            xwininfo -root -children 2>&1 | sed -n '/children:/,$p' >&2
            local list
            list=$(printf '"%s" ' "${missing[@]}")
            fail "$name: no viewable top-level window titled ${list% } within ${timeout}s" "$name"
        fi
        sleep 0.25
    done
    log "$name shows: $*"
}

wait_for() { # name timeout-seconds description test-command...
    local name=$1 timeout=$2 what=$3
    shift 3
    local deadline=$((SECONDS + timeout))
    until "$@"; do
        check_alive "$name" "$what"
        [ $SECONDS -ge $deadline ] && fail "$name: $what did not happen within ${timeout}s" "$name"
        sleep 0.2
    done
}

count_lines() { # file pattern — lines matching (fixed string); 0 while the file is not there yet
    local n
    n=$(grep -cF -- "$2" "$1" 2>/dev/null)
    echo "${n:-0}"
}

at_least() { # file pattern n
    [ "$(count_lines "$1" "$2")" -ge "$3" ]
}

stop() { # name [timeout-seconds] — SIGTERM, then it must exit with 0 in time
    local name=$1 timeout=${2:-10} pid=${PID[$1]}
    check_alive "$name" "SIGTERM"
    kill -TERM "$pid"
    local deadline=$((SECONDS + timeout))
    while alive "$pid"; do
        if [ $SECONDS -ge $deadline ]; then
            echo "FAIL: $name (pid $pid) did not exit within ${timeout}s of SIGTERM" >&2
            if command -v gdb >/dev/null 2>&1; then
                echo "---- its threads ----" >&2
                timeout 30 gdb -p "$pid" -batch -ex 'thread apply all bt' 2>&1 | grep -E '^(Thread|#)' >&2
            fi
            show_output "$name"
            exit 1
        fi
        sleep 0.1
    done
    local rc
    rc=$(exit_status "$name")
    if [ "$rc" -ne 0 ]; then
        local why=""
        [ "$rc" -gt 128 ] && why=" (killed by signal $((rc - 128)))"
        fail "$name exited with status $rc$why after SIGTERM, wanted 0" "$name"
    fi
    log "$name exited 0 after SIGTERM"
}

pick_port() { # a port free for TCP and UDP on 127.0.0.1 (the broker's relay shares it)
    if command -v python3 >/dev/null 2>&1; then
        python3 - <<'EOF' && return 0
import socket
for _ in range(100):
    t = socket.socket()
    t.bind(("127.0.0.1", 0))
    p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        t.close()
        u.close()
    print(p)
    raise SystemExit(0)
raise SystemExit(1)
EOF
    fi
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 30000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
    done
    return 1
}

# --- the display ---------------------------------------------------------------------------------
start_xvfb() {
    local n first=$((100 + RANDOM % 400)) cookie
    for n in $(seq "$first" $((first + 40))); do
        [ -e "/tmp/.X$n-lock" ] || [ -e "/tmp/.X11-unix/X$n" ] && continue
        local auth=()
        if command -v xauth >/dev/null 2>&1; then
            cookie=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
            : >"$XAUTHORITY"
            xauth -q -f "$XAUTHORITY" add ":$n" . "$cookie" || fail "xauth could not write $XAUTHORITY"
            auth=(-auth "$XAUTHORITY")
        fi
        Xvfb ":$n" -screen 0 1600x1000x24 -nolisten tcp "${auth[@]}" >"$T/log/xvfb.err" 2>&1 &
        XVFB_PID=$!
        export DISPLAY=":$n"
        local deadline=$((SECONDS + 15))
        while alive "$XVFB_PID"; do
            if xwininfo -root >/dev/null 2>&1; then
                log "Xvfb (pid $XVFB_PID) on $DISPLAY"
                return 0
            fi
            if [ $SECONDS -ge $deadline ]; then
                kill -TERM "$XVFB_PID" 2>/dev/null
                break
            fi
            sleep 0.1
        done
        wait "$XVFB_PID" 2>/dev/null
        XVFB_PID=""
    done
    echo "---- Xvfb's output ----" >&2
    cat "$T/log/xvfb.err" >&2
    fail "could not start Xvfb on a free display"
}
start_xvfb

PORT=$(pick_port) || fail "no free port on 127.0.0.1"
BROKER_DIR=$T/broker
PROFILE=$T/alice
EMPTY=$T/fresh
mkdir -m 700 "$EMPTY"

# --- 1. the broker console -----------------------------------------------------------------------
log "step 1: broker console"
start console "$SOTTO" broker --listen "127.0.0.1:$PORT" --data "$BROKER_DIR" --name smoke
wait_windows console 20 "Sotto broker — smoke"
wait_for console 10 "its \"listening\" log line" at_least "$T/log/console.err" "listening on 127.0.0.1:$PORT" 1
FINGERPRINT=$(sed -n 's/.*listening on 127\.0\.0\.1:[0-9]*, key \([0-9a-f-]*\).*/\1/p' "$T/log/console.err" | head -n 1)

# The invite opens the store the running broker holds (SQLite, WAL): that must work.
rc=0
timeout 30 "$SOTTO" broker invite alice --data "$BROKER_DIR" >"$T/log/invite.out" 2>"$T/log/invite.err" || rc=$?
[ "$rc" -eq 0 ] || fail "sotto broker invite alice exited with status $rc while the broker ran" invite
LINK=$(head -n 1 "$T/log/invite.out")
[ "$(wc -l <"$T/log/invite.out")" -eq 1 ] || fail "sotto broker invite printed more than one line" invite
case $LINK in
    "sotto://127.0.0.1:$PORT/join?account=alice&"*) ;;
    *) fail "the invite link does not name 127.0.0.1:$PORT and alice: $LINK" invite ;;
esac
log "invite for alice created while the console ran"
check_alive console "the invite"
stop console 10

# --- 2. enrol alice with a headless phone --------------------------------------------------------
log "step 2: headless enrolment"
start broker "$SOTTO" broker --headless --listen "127.0.0.1:$PORT" --data "$BROKER_DIR"
wait_for broker 20 "its \"listening\" log line" at_least "$T/log/broker.err" "listening on 127.0.0.1:$PORT" 1
ALSO_SHOW=broker
start enrol "$SOTTO" phone --headless --profile "$PROFILE" --join "$LINK"
wait_for enrol 20 "$PROFILE/keys.cbor" test -s "$PROFILE/keys.cbor"
wait_for enrol 10 "its \"joining broker\" line" at_least "$T/log/enrol.out" "joining broker 127.0.0.1:$PORT as alice" 1
if [ -n "$FINGERPRINT" ] && ! grep -qF "fingerprint $FINGERPRINT" "$T/log/enrol.out"; then
    fail "the phone was told a broker fingerprint other than the broker's own ($FINGERPRINT)" enrol
fi
wait_for enrol 15 "the broker logging \"alice online\"" at_least "$T/log/broker.err" "alice online" 1
sleep 1
stop enrol 10
[ "$(stat -c %a "$PROFILE/keys.cbor")" = 600 ] || fail "$PROFILE/keys.cbor is mode $(stat -c %a "$PROFILE/keys.cbor"), not 0600"

# --- 3. the phone window for alice ---------------------------------------------------------------
log "step 3: phone window (alice)"
start phone "$SOTTO" --profile "$PROFILE"
wait_windows phone 20 "Sotto — alice"
wait_for phone 20 "the broker logging alice online again" at_least "$T/log/broker.err" "alice online" 2
stop phone 10
check_alive broker "the phone window"

# --- 4. the phone window on a fresh profile ------------------------------------------------------
log "step 4: phone window (fresh profile)"
start fresh "$SOTTO" --profile "$EMPTY"
wait_windows fresh 20 "Sotto — join a broker"
sleep 0.5
stop fresh 10
ALSO_SHOW=""
stop broker 10

# --- 5. the windowed demo ------------------------------------------------------------------------
log "step 5: windowed demo"
start demo "$SOTTO" demo
wait_windows demo 40 "Sotto — alice" "Sotto — bob" "Sotto — carol" "Sotto broker — demo"
sleep 1
if [ -n "${SOTTO_SMOKE_SHOTS:-}" ] && command -v import >/dev/null 2>&1; then
    mkdir -p "$SOTTO_SMOKE_SHOTS"
    if import -window root "$SOTTO_SMOKE_SHOTS/demo.png" 2>"$T/log/import.err"; then
        log "screenshot: $SOTTO_SMOKE_SHOTS/demo.png"
    else
        log "screenshot failed (not a test failure): $(head -n 1 "$T/log/import.err")"
    fi
fi
check_alive demo "the screenshot"
stop demo 10

# --- 6. the windowed demo across two brokers --------------------------------------------------------
log "step 6: windowed demo, federated"
start fdemo "$SOTTO" demo --federated
wait_windows fdemo 40 "Sotto — alice" "Sotto — bob" "Sotto — carol" "Sotto broker — a" "Sotto broker — b"
sleep 1
check_alive fdemo "its windows"
stop fdemo 10

log "PASS: all GUI smoke steps (${SECONDS}s)"
exit 0
