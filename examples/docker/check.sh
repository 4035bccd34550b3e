#!/usr/bin/env bash
# Exercises the container build steps without Docker (issue 17):
#   1. every Dockerfile here: the files it COPYs and the scripts it RUNs exist;
#   2. a clean copy of the repository (what `COPY . /src` sends, less
#      .dockerignore) is built with the same scripts the Dockerfiles run:
#      build-core.sh, then c/, ruby/, python/, node/ build.sh, each into a
#      fresh prefix; each sample app then runs briefly and must write a
#      profile (file://) that holds its hot functions;
#   3. musl: the core compiled with musl-gcc against musl's libc headers and
#      linked as a shared library; every libc symbol it needs must exist in
#      musl's libc.so (the dependencies' own symbols are left to Alpine's
#      packages, which Debian does not ship for musl).
# CHECK="core c ruby python node musl" selects steps (core is implied).
# Exit 0 when every selected step passed.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CHECK=${CHECK:-"c ruby python node musl"}
WORK=$(mktemp -d /tmp/pyroscope-docker-check.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
export DEBIAN_FRONTEND=noninteractive
failed=()
step() { echo "::: docker check: $*"; }
fail() { echo "::: docker check: FAIL $*"; failed+=("$1"); }
want() { [[ " $CHECK " == *" $1 "* ]]; }

apt_need() { # install Debian packages that are missing
    local m=()
    for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || m+=("$p"); done
    [ ${#m[@]} -eq 0 ] && return 0
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${m[@]}" >/dev/null
}

# ---- 1. Dockerfiles refer to files that exist ----
step "Dockerfiles"
for df in "$HERE"/*/Dockerfile; do
    while read -r src; do
        [ -e "$REPO/$src" ] || fail "dockerfile ${df#$REPO/}: COPY $src: no such file"
    done < <(awk '$1=="COPY" && $2 !~ /^--from/ && $2 != "." {print $2}' "$df")
    while read -r s; do
        [ -f "$REPO/$s" ] || fail "dockerfile ${df#$REPO/}: RUN uses $s: no such file"
    done < <(grep -o '/src/examples/docker/[a-z/-]*\.sh' "$df" | sed 's#^/src/##')
    grep -q '^FROM ' "$df" || fail "dockerfile ${df#$REPO/}: no FROM"
done

# ---- 2. the same build commands in a clean copy ----
step "clean copy of the repository"
mkdir -p "$WORK/src"
(cd "$REPO" && git ls-files -co --exclude-standard -z | grep -zv -E '^(build[^/]*|.*node_modules)/' |
    xargs -0 cp --parents -t "$WORK/src" 2>/dev/null)
if [ -f "$REPO/.dockerignore" ]; then
    (cd "$WORK/src" && grep -v '^\s*#' "$REPO/.dockerignore" | while read -r pat; do
        [ -n "$pat" ] && rm -rf ./$pat
    done)
fi
SRC=$WORK/src
PREFIX=$WORK/prefix

step "build-core.sh"
if SRC=$SRC PREFIX=$PREFIX BUILD=$WORK/core-build sh "$HERE/build-core.sh" >"$WORK/core.log" 2>&1 &&
   [ -f "$PREFIX/lib/libpyroscope.so" ] && [ -f "$PREFIX/include/pyroscope.h" ] &&
   [ -f "$PREFIX/lib/pkgconfig/pyroscope.pc" ]; then
    echo "  core installed: $(cd "$PREFIX" && ls lib/libpyroscope.* include | tr '\n' ' ')"
else
    tail -30 "$WORK/core.log"; fail core
fi

# profile_has DIR FN...: some profile under DIR names every FN.
profile_has() {
    local dir=$1; shift
    python3 - "$dir" "$@" <<'PY'
import glob, gzip, sys
d, fns = sys.argv[1], sys.argv[2:]
blob = b""
for f in glob.glob(d + "/**/*.pb*", recursive=True):
    data = open(f, "rb").read()
    blob += gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
missing = [f for f in fns if f.encode() not in blob]
print("  profile: %d bytes, missing %s" % (len(blob), missing or "none"))
sys.exit(1 if missing or not blob else 0)
PY
}

run_app() { # name out-dir cmd...
    local name=$1 out=$2; shift 2
    mkdir -p "$out"
    if ! APP_SECONDS=2 PYROSCOPE_SERVER_ADDRESS="file://$out" \
         PYROSCOPE_APPLICATION_NAME="docker.$name" timeout 120 "$@" >"$WORK/$name-run.log" 2>&1; then
        tail -20 "$WORK/$name-run.log"; return 1
    fi
}

if want c && [[ ! " ${failed[*]} " == *" core "* ]]; then
    step "c/build.sh + run"
    if SRC=$SRC PREFIX=$PREFIX APP=$WORK/app-c sh "$HERE/c/build.sh" >"$WORK/c.log" 2>&1 &&
       run_app c "$WORK/out-c" "$WORK/app-c/cpu_hotspots" 2 &&
       profile_has "$WORK/out-c" hot_compress hot_checksum; then :; else
        tail -20 "$WORK/c.log"; fail c
    fi
fi

if want ruby; then
    step "ruby/build.sh + run"
    apt_need ruby-dev
    export GEM_HOME=$WORK/gems
    if SRC=$SRC APP=$WORK/app-ruby sh "$HERE/ruby/build.sh" >"$WORK/ruby.log" 2>&1 &&
       run_app ruby "$WORK/out-ruby" env GEM_PATH="$GEM_HOME" ruby "$WORK/app-ruby/app.rb" &&
       profile_has "$WORK/out-ruby" "Object#checkout" "Object#search"; then :; else
        tail -20 "$WORK/ruby.log"; fail ruby
    fi
    unset GEM_HOME
fi

if want python; then
    step "python/build.sh + run (venv)"
    apt_need python3-venv python3-dev python3-pip
    python3 -m venv "$WORK/venv"
    if SRC=$SRC APP=$WORK/app-py PYTHON="$WORK/venv/bin/python" sh "$HERE/python/build.sh" >"$WORK/py.log" 2>&1 &&
       "$WORK/venv/bin/pip" install -q --disable-pip-version-check "$WORK"/app-py/wheels/*.whl >>"$WORK/py.log" 2>&1 &&
       run_app python "$WORK/out-py" "$WORK/venv/bin/python" "$WORK/app-py/app.py" &&
       profile_has "$WORK/out-py" checkout search; then :; else
        tail -20 "$WORK/py.log"; fail python
    fi
fi

if want node; then
    step "node/build.sh + run"
    command -v node >/dev/null || apt_need nodejs npm libnode-dev
    if SRC=$SRC APP=$WORK/app-node sh "$HERE/node/build.sh" >"$WORK/node.log" 2>&1 &&
       run_app node "$WORK/out-node" node "$WORK/app-node/app.js" &&
       profile_has "$WORK/out-node" checkout search; then :; else
        tail -20 "$WORK/node.log"; fail node
    fi
fi

# ---- 3. musl ----
if want musl; then
    step "musl-gcc: compile and link the core against musl libc"
    apt_need musl-tools musl-dev protobuf-c-compiler \
        libunwind-dev libprotobuf-c-dev zlib1g-dev libzstd-dev
    M=$WORK/musl
    mkdir -p "$M/inc" "$M/obj" "$M/proto"
    # Only the dependencies' own headers: musl-gcc must not see glibc's.
    cp -r /usr/include/protobuf-c "$M/inc/"
    cp /usr/include/zlib.h /usr/include/zconf.h /usr/include/zstd.h \
       /usr/include/zstd_errors.h /usr/include/x86_64-linux-gnu/libunwind*.h "$M/inc/"
    # The kernel's uapi headers (perf_event.h), as Alpine's linux-headers has them.
    cp -r /usr/include/linux /usr/include/asm-generic "$M/inc/"
    cp -r /usr/include/x86_64-linux-gnu/asm "$M/inc/"
    for p in "$SRC"/proto/*.proto; do
        protoc-c --c_out="$M/proto" -I"$SRC/proto" "$p"
    done
    ok=1
    for f in "$SRC"/src/*/*.c "$M"/proto/*.c; do
        # The object is named by directory too: src/common/tls.c and
        # src/upload/tls.c must not overwrite each other.
        o="$M/obj/$(basename "$(dirname "$f")")_$(basename "$f" .c).o"
        musl-gcc -std=gnu11 -D_GNU_SOURCE -O1 -fPIC -Wall -Wextra -Wno-unused-parameter \
            -I"$SRC/include" -I"$SRC/src" -I"$M/proto" -I"$M/inc" \
            -c -o "$o" "$f" 2>>"$M/cc.log" || { ok=0; echo "  cannot compile ${f#$SRC/}"; }
    done
    if [ $ok = 1 ] && musl-gcc -shared -o "$M/libpyroscope.so" "$M"/obj/*.o 2>>"$M/cc.log"; then
        nm -D --undefined-only "$M/libpyroscope.so" | awk '{print $2}' | sed 's/@.*//' | sort -u >"$M/undef"
        libc=""
        for c in /lib/x86_64-linux-musl/libc.so /usr/lib/x86_64-linux-musl/libc.so \
                 /usr/lib/musl/lib/libc.so; do
            [ -f "$c" ] && { libc=$c; break; }
        done
        nm -D --defined-only "$libc" | awk '{print $3}' | sort -u >"$M/libc"
        # What neither musl nor the dependencies provide (weak refs allowed).
        nm -D --undefined-only "$M/libpyroscope.so" | awk '$1=="w"{print $2}' | sort -u >"$M/weak"
        missing=$(comm -23 "$M/undef" "$M/libc" | comm -23 - "$M/weak" |
            grep -v -E '^(_U|unw_|protobuf_c_|deflate|inflate|uncompress|compress|crc32|adler32|zlibVersion|ZSTD_|_ITM_|__gmon_start__|__cxa_finalize)' || true)
        if [ -n "$missing" ]; then
            echo "  symbols musl does not provide:" $missing; fail musl
        else
            echo "  musl: $(ls "$M"/obj | wc -l) objects, libpyroscope.so links; libc symbols all in musl"
        fi
    else
        head -30 "$M/cc.log"; fail musl
    fi
    grep -c warning "$M/cc.log" 2>/dev/null | xargs -I{} echo "  musl compiler warnings: {}"
fi

if [ ${#failed[@]} -gt 0 ]; then
    echo "::: docker check: failed: ${failed[*]}"
    exit 1
fi
echo "::: docker check: all passed ($CHECK)"
