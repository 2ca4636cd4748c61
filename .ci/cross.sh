#!/usr/bin/env bash
# .ci/cross.sh: wsx's checks for the other platforms, on Debian 12 (bookworm) x86_64 with no
# internet beyond Debian's archive and crates.io (after shared/tools/cross.sh).
#   * Windows (x86_64-pc-windows-gnu): real build + `cargo test` run under Wine.
#   * macOS (x86_64-apple-darwin, aarch64-apple-darwin): `cargo check` only (no SDK, no linker).
# rustup cannot fetch other targets' std here, so std is built from source
# (-Zbuild-std) with Debian's rustc-web/cargo-web 1.96 + rust-web-src, called by full path;
# the rustup toolchain on PATH is left alone.
#
# usage: .ci/cross.sh setup                       # apt packages, wine prefix, shims (idempotent)
#        .ci/cross.sh win-build DIR [cargo args]  # cargo build --target x86_64-pc-windows-gnu
#        .ci/cross.sh win-test  DIR [cargo args]  # cargo test, test binaries run by wine64
#        .ci/cross.sh mac-check DIR [cargo args]  # cargo check, both apple-darwin targets
# env:   XPLAT (work dir for the shims and the Wine prefix, default ~/.cache/wsx-cross),
#        TMO (per-cargo-command timeout s, default 2400),
#        SKIP_APT=1 (packages already installed)
set -euo pipefail
XPLAT=${XPLAT:-$HOME/.cache/wsx-cross}
TMO=${TMO:-2400}
SHIM=$XPLAT/darwin-shim
STUB=$XPLAT/winstub
export WINEPREFIX=${WINEPREFIX:-$XPLAT/wineprefix}
export WINEDEBUG=${WINEDEBUG:--all}
WINE64=/usr/lib/wine/wine64          # Debian's `wine` wrapper wants wine32 (i386); call wine64

deb_env() {
  export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc RUSTC_BOOTSTRAP=1
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
  export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=$WINE64
}
CARGO=/usr/bin/cargo
BUILD_STD=(-Zbuild-std=std,panic_abort)

setup() {
  if [ -z "${SKIP_APT:-}" ]; then
    # One apt at a time: the interop suite may install its peers meanwhile (the same lock).
    exec 9>/tmp/wsx-apt.lock
    flock 9
    timeout 600 apt-get update
    DEBIAN_FRONTEND=noninteractive timeout 1800 apt-get install -y --no-install-recommends \
      rustc-web cargo-web rust-web-src gcc-mingw-w64-x86-64 wine wine64 clang llvm
    flock -u 9
  fi
  /usr/bin/rustc -V; /usr/bin/cargo -V
  test -d /usr/lib/rustlib/src/rust/library/std || { echo "rust-web-src missing" >&2; exit 1; }

  # Wine 8.0 (bookworm) has no bcryptprimitives.dll, which Rust std (>= 1.78) imports for
  # ProcessPrng. Provide one built on advapi32!SystemFunction036 (RtlGenRandom).
  mkdir -p "$STUB"
  cat > "$STUB/bcryptprimitives.c" <<'C'
#include <windows.h>
#include <ntsecapi.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len) {
        ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, n)) return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
C
  printf 'LIBRARY bcryptprimitives.dll\nEXPORTS\n    ProcessPrng\n' > "$STUB/bcryptprimitives.def"
  timeout 120 x86_64-w64-mingw32-gcc -O2 -Wall -shared -s -o "$STUB/bcryptprimitives.dll" \
    "$STUB/bcryptprimitives.c" "$STUB/bcryptprimitives.def" -ladvapi32
  if [ ! -d "$WINEPREFIX/drive_c/windows/system32" ]; then
    # prints a harmless "failed to open ...syswow64\rundll32.exe" (no 32-bit wine)
    timeout 300 "$WINE64" wineboot --init || true
    timeout 60 /usr/lib/wine/wineserver64 -w || true
  fi
  cp "$STUB/bcryptprimitives.dll" "$WINEPREFIX/drive_c/windows/system32/"

  # macOS: C build scripts (ring) need a C compiler for the target during `cargo check`.
  # clang can target darwin, but there is no SDK: compile freestanding (clang's own
  # stdint/stddef), tell ring not to use libc headers, and fake TargetConditionals.h.
  mkdir -p "$SHIM"
  cat > "$SHIM/TargetConditionals.h" <<'H'
#ifndef TARGETCONDITIONALS_SHIM_H
#define TARGETCONDITIONALS_SHIM_H
#define TARGET_OS_MAC 1
#define TARGET_OS_OSX 1
#define TARGET_OS_IPHONE 0
#define TARGET_OS_IOS 0
#define TARGET_OS_TV 0
#define TARGET_OS_WATCH 0
#define TARGET_OS_VISION 0
#define TARGET_OS_SIMULATOR 0
#define TARGET_OS_EMBEDDED 0
#if defined(__x86_64__)
#define TARGET_CPU_X86_64 1
#define TARGET_CPU_ARM64 0
#else
#define TARGET_CPU_X86_64 0
#define TARGET_CPU_ARM64 1
#endif
#endif
H
  echo "setup done"
}

win_build() { local d=$1; shift; deb_env
  (cd "$d" && timeout "$TMO" nice -n 10 "$CARGO" build "${BUILD_STD[@]}" "${WIN_OPT[@]}" --target x86_64-pc-windows-gnu "$@"); }
win_test() { local d=$1; shift; deb_env
  (cd "$d" && timeout "$TMO" nice -n 10 "$CARGO" test "${BUILD_STD[@]}" "${WIN_OPT[@]}" --target x86_64-pc-windows-gnu "$@"); }
# `cargo check` still compiles std in full when it builds it from source: unoptimized and
# without debug information, that is half the CPU time of wsx's dev profile (which optimizes
# every dependency, std included, at level 2): 79 s against 176 s a target, measured here.
NO_OPT=(--config 'profile.dev.package."*".opt-level=0' --config 'profile.dev.package."*".debug=0')
# The Windows build runs its tests, so its dependencies stay optimized, at level 1 and without
# debug information: cheaper to build than the dev profile's level 2 (at which the build of
# std, every dependency and the tests took 11m46s in CI at stop 31, most of it alone on both
# cores), and fast enough for the tests.
WIN_OPT=(--config 'profile.dev.package."*".opt-level=1' --config 'profile.dev.package."*".debug=0')
mac_check() { local d=$1; shift; deb_env; local rc=0 t tu
  for t in x86_64-apple-darwin aarch64-apple-darwin; do
    tu=${t//-/_}; echo "== cargo check --target $t"
    (cd "$d" && env "CC_$tu=clang" "AR_$tu=llvm-ar" \
       "CFLAGS_$tu=-ffreestanding -nostdlibinc -DRING_CORE_NOSTDLIBINC=1 -I$SHIM" \
       timeout "$TMO" nice -n 10 "$CARGO" check "${BUILD_STD[@]}" "${NO_OPT[@]}" --target "$t" "$@") || rc=$?
  done
  return $rc; }

cmd=${1:-}; shift || true
case "$cmd" in
  setup) setup ;;
  win-build) win_build "$@" ;;
  win-test) win_test "$@" ;;
  mac-check) mac_check "$@" ;;
  *) sed -n 2,16p "$0"; exit 2 ;;
esac
